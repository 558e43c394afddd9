//! /proc/PID/maps and smaps, and the memory figures stat, statm and status
//! share.

use nix::errno::Errno;

use super::process::Target;
use crate::kernel::Kernel;
use crate::memory::Prot;
use crate::mm::{MemoryManager, VmaKind};

/// Where the host's vsyscall page sits; stubs keep it (see the ptrace
/// platform), so every address space has it, as on Linux.
const VSYSCALL: (u64, u64) = (0xffff_ffff_ff60_0000, 0xffff_ffff_ff60_1000);

/// A run of VMAs that Linux would show as one mapping.
struct Mapping {
    start: u64,
    end: u64,
    prot: Prot,
    shared: bool,
    growsdown: bool,
    kind: VmaKind,
    /// Bytes of it that hold data.
    resident: u64,
}

impl Mapping {
    fn len(&self) -> u64 {
        self.end - self.start
    }

    fn continues(&self, start: u64, prot: Prot, shared: bool, growsdown: bool, kind: VmaKind) -> bool {
        self.end == start
            && self.prot == prot
            && self.shared == shared
            && self.growsdown == growsdown
            && self.kind == kind
    }
}

fn mappings(kernel: &Kernel, mm: &MemoryManager) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for vma in mm.vmas() {
        let resident = kernel.core.memory_file.resident(vma.offset, vma.end - vma.start);
        if let Some(last) = out.last_mut() {
            if last.continues(vma.start, vma.prot, vma.shared, vma.growsdown, vma.kind) {
                last.end = vma.end;
                last.resident += resident;
                continue;
            }
        }
        out.push(Mapping {
            start: vma.start,
            end: vma.end,
            prot: vma.prot,
            shared: vma.shared,
            growsdown: vma.growsdown,
            kind: vma.kind,
            resident,
        });
    }
    out
}

/// The memory figures of one address space, in bytes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct MemoryUsage {
    pub size: u64,
    pub resident: u64,
    /// Resident pages of the executable's segments (Linux counts them as
    /// file pages).
    pub resident_image: u64,
    pub resident_shared: u64,
    /// Private writable memory but the stack (VmData).
    pub data: u64,
    pub stack: u64,
    /// The executable's code (VmExe).
    pub text: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
}

impl MemoryUsage {
    pub fn of(kernel: &Kernel, mm: &MemoryManager) -> MemoryUsage {
        let mut usage = MemoryUsage::default();
        let mut code: Option<(u64, u64)> = None;
        let mut data: Option<(u64, u64)> = None;
        for mapping in mappings(kernel, mm) {
            usage.size += mapping.len();
            usage.resident += mapping.resident;
            let stack = mapping.kind == VmaKind::Stack || mapping.growsdown;
            if mapping.shared {
                usage.resident_shared += mapping.resident;
            } else if mapping.prot.writable() && !stack {
                usage.data += mapping.len();
            }
            if stack {
                usage.stack += mapping.len();
            }
            match mapping.kind {
                VmaKind::Image => {
                    usage.resident_image += mapping.resident;
                    let range = (mapping.start, mapping.end);
                    let widen = |old: Option<(u64, u64)>| match old {
                        Some((start, end)) => Some((start.min(range.0), end.max(range.1))),
                        None => Some(range),
                    };
                    if mapping.prot.contains(Prot::EXEC) {
                        usage.text += mapping.len();
                        code = widen(code);
                    } else if mapping.prot.writable() {
                        data = widen(data);
                    }
                }
                VmaKind::Heap if usage.start_brk == 0 => usage.start_brk = mapping.start,
                _ => {}
            }
        }
        (usage.start_code, usage.end_code) = code.unwrap_or_default();
        (usage.start_data, usage.end_data) = data.unwrap_or_default();
        if usage.start_brk == 0 {
            usage.start_brk = usage.end_data.max(usage.end_code);
        }
        usage
    }
}

/// The file a mapping shows, with its device and inode numbers.
struct Named {
    name: Vec<u8>,
    dev: u64,
    ino: u64,
}

/// The "start-end perms offset dev inode" prefix of a maps line, padded
/// (as Linux's seq_pad does) so that a name starts at column 73.
fn line(start: u64, end: u64, perms: &str, named: Option<&Named>) -> Vec<u8> {
    const NAME_COLUMN: usize = 72;
    let (dev, ino) = named.map_or((0, 0), |named| (named.dev, named.ino));
    let mut text = format!(
        "{start:08x}-{end:08x} {perms} {:08x} {:02x}:{:02x} {ino} ",
        0,
        libc::major(dev),
        libc::minor(dev)
    )
    .into_bytes();
    if let Some(named) = named {
        if text.len() < NAME_COLUMN {
            text.resize(NAME_COLUMN, b' ');
        }
        text.push(b' ');
        text.extend_from_slice(&named.name);
    }
    text.push(b'\n');
    text
}

fn perms(mapping: &Mapping) -> String {
    let flag = |on: bool, c: char| if on { c } else { '-' };
    format!(
        "{}{}{}{}",
        flag(mapping.prot.readable(), 'r'),
        flag(mapping.prot.writable(), 'w'),
        flag(mapping.prot.contains(Prot::EXEC), 'x'),
        if mapping.shared { 's' } else { 'p' }
    )
}

/// Every mapping of the target with its name, and the vsyscall page.
fn named_mappings(target: &Target) -> Result<Vec<(Mapping, Option<Named>)>, Errno> {
    let Some(view) = target.view() else {
        return Ok(Vec::new());
    };
    let exe = target.process.image.as_ref().map(|image| {
        let root = target.reader.root();
        let st = image.exe.stat().ok();
        Named {
            name: image.exe.path_from(&root),
            dev: st.map_or(0, |st| st.st_dev),
            ino: st.map_or(0, |st| st.st_ino),
        }
    });
    let mappings = {
        let mm = view.mm.lock().expect("memory manager poisoned");
        mappings(&target.kernel, &mm)
    };
    let special = |name: &[u8]| {
        Some(Named {
            name: name.to_vec(),
            dev: 0,
            ino: 0,
        })
    };
    let mut out: Vec<(Mapping, Option<Named>)> = mappings
        .into_iter()
        .map(|mapping| {
            let named = match mapping.kind {
                VmaKind::Image => exe.as_ref().map(|exe| Named {
                    name: exe.name.clone(),
                    ..*exe
                }),
                VmaKind::Heap => special(b"[heap]"),
                VmaKind::Stack => special(b"[stack]"),
                VmaKind::Anonymous if mapping.shared => special(b"/dev/zero (deleted)"),
                // File mappings do not record their file yet: unnamed.
                VmaKind::Anonymous | VmaKind::File => None,
            };
            (mapping, named)
        })
        .collect();
    out.push((
        Mapping {
            start: VSYSCALL.0,
            end: VSYSCALL.1,
            prot: Prot::EXEC,
            shared: false,
            growsdown: false,
            kind: VmaKind::Anonymous,
            resident: 0,
        },
        special(b"[vsyscall]"),
    ));
    Ok(out)
}

/// /proc/PID/maps.
pub(super) fn maps(target: &Target) -> Result<Vec<u8>, Errno> {
    let mut text = Vec::new();
    for (mapping, named) in named_mappings(target)? {
        text.extend(line(mapping.start, mapping.end, &perms(&mapping), named.as_ref()));
    }
    Ok(text)
}

/// /proc/PID/smaps: maps with each mapping's sizes. Pages are never
/// swapped, locked or huge, and a shared page counts as shared dirty.
pub(super) fn smaps(target: &Target) -> Result<Vec<u8>, Errno> {
    let mut text = Vec::new();
    for (mapping, named) in named_mappings(target)? {
        text.extend(line(mapping.start, mapping.end, &perms(&mapping), named.as_ref()));
        let rss = mapping.resident;
        let (shared, private) = if mapping.shared { (rss, 0) } else { (0, rss) };
        let anonymous = if mapping.shared || mapping.kind == VmaKind::Image {
            0
        } else {
            rss
        };
        let fields: [(&str, u64); 21] = [
            ("Size:", mapping.len()),
            ("KernelPageSize:", 4096),
            ("MMUPageSize:", 4096),
            ("Rss:", rss),
            ("Pss:", rss),
            ("Pss_Dirty:", rss),
            ("Shared_Clean:", 0),
            ("Shared_Dirty:", shared),
            ("Private_Clean:", 0),
            ("Private_Dirty:", private),
            ("Referenced:", rss),
            ("Anonymous:", anonymous),
            ("LazyFree:", 0),
            ("AnonHugePages:", 0),
            ("ShmemPmdMapped:", 0),
            ("FilePmdMapped:", 0),
            ("Shared_Hugetlb:", 0),
            ("Private_Hugetlb:", 0),
            ("Swap:", 0),
            ("SwapPss:", 0),
            ("Locked:", 0),
        ];
        for (name, bytes) in fields {
            text.extend(format!("{name:<16}{:>8} kB\n", bytes >> 10).into_bytes());
        }
        text.extend(b"THPeligible:    0\n");
        text.extend(format!("VmFlags: {}\n", vm_flags(&mapping)).into_bytes());
    }
    Ok(text)
}

/// The VmFlags line's two-letter flags.
fn vm_flags(mapping: &Mapping) -> String {
    let mut flags = Vec::new();
    if mapping.prot.readable() {
        flags.push("rd");
    }
    if mapping.prot.writable() {
        flags.push("wr");
    }
    if mapping.prot.contains(Prot::EXEC) {
        flags.push("ex");
    }
    if mapping.shared {
        flags.push("sh");
    }
    flags.extend(["mr", "mw", "me"]);
    if mapping.shared {
        flags.push("ms");
    }
    if mapping.growsdown {
        flags.push("gd");
    }
    if !mapping.shared {
        flags.push("ac");
    }
    flags.iter().map(|flag| format!("{flag} ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_start_at_column_73() {
        let named = Named {
            name: b"[stack]".to_vec(),
            dev: 0,
            ino: 0,
        };
        let text = String::from_utf8(line(0x7fff_fefd_e000, 0x7fff_ff00_0000, "rw-p", Some(&named))).unwrap();
        assert_eq!(text.find("[stack]"), Some(73));
        assert!(text.starts_with("7ffffefde000-7fffff000000 rw-p 00000000 00:00 0 "));
        let anonymous = String::from_utf8(line(0x10000, 0x11000, "rw-p", None)).unwrap();
        assert_eq!(anonymous, "00010000-00011000 rw-p 00000000 00:00 0 \n");
    }
}
