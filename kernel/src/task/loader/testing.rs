//! Synthetic x86-64 ELF files for the loader's tests: a header, program
//! headers, and a body whose every byte is a known function of its offset,
//! so a test can tell which file byte landed where.

use std::path::Path;

use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR};

pub const EHDR: u64 = 64;
pub const PHENT: u64 = 56;

/// One program header.
#[derive(Debug, Clone, Copy)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl Phdr {
    pub fn load(offset: u64, vaddr: u64, filesz: u64, memsz: u64, flags: u32) -> Phdr {
        Phdr {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr,
            filesz,
            memsz,
            align: 0x1000,
        }
    }
}

/// The byte a synthetic file holds at `offset` outside its headers (never
/// zero, so zeroed memory stands out).
pub fn body_byte(offset: u64) -> u8 {
    (offset % 251) as u8 + 1
}

/// An ELF file description, written with [`SyntheticElf::write`].
#[derive(Debug, Clone)]
pub struct SyntheticElf {
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phdrs: Vec<Phdr>,
    /// The PT_INTERP string (without its NUL), placed right after the
    /// program headers.
    pub interp: Option<String>,
    pub len: u64,
}

impl SyntheticElf {
    /// A position-independent program (or shared object) laid out as
    /// linkers do: a read-only segment holding the headers, text, and data
    /// with a bss, on separate pages.
    pub fn pie(interp: Option<&str>) -> SyntheticElf {
        let mut phdrs = vec![Phdr {
            p_type: PT_PHDR,
            flags: PF_R,
            offset: EHDR,
            vaddr: EHDR,
            filesz: 0,
            memsz: 0,
            align: 8,
        }];
        if interp.is_some() {
            phdrs.push(Phdr {
                p_type: PT_INTERP,
                flags: PF_R,
                offset: 0,
                vaddr: 0,
                filesz: 0,
                memsz: 0,
                align: 1,
            });
        }
        phdrs.extend([
            Phdr::load(0, 0, 0x500, 0x500, PF_R),
            Phdr::load(0x1000, 0x1000, 0x200, 0x200, PF_R | PF_X),
            // Data at an offset that is not page-aligned, with a bss that
            // ends inside the page holding the end of the file data.
            Phdr::load(0x2e00, 0x3e00, 0x100, 0x180, PF_R | PF_W),
            Phdr {
                p_type: PT_GNU_STACK,
                flags: PF_R | PF_W,
                offset: 0,
                vaddr: 0,
                filesz: 0,
                memsz: 0,
                align: 16,
            },
        ]);
        SyntheticElf {
            e_type: ET_DYN,
            machine: goblin::elf::header::EM_X86_64,
            entry: 0x1040,
            phdrs,
            interp: interp.map(str::to_string),
            len: 0x3000,
        }
    }

    /// A program linked at a fixed address (ET_EXEC at 0x400000).
    pub fn fixed(interp: Option<&str>) -> SyntheticElf {
        let mut elf = SyntheticElf::pie(interp);
        elf.e_type = ET_EXEC;
        elf.entry += 0x40_0000;
        for ph in &mut elf.phdrs {
            if ph.p_type == PT_LOAD || ph.p_type == PT_PHDR {
                ph.vaddr += 0x40_0000;
            }
        }
        elf
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = (0..self.len).map(body_byte).collect();
        let phnum = self.phdrs.len() as u64;
        let interp_at = EHDR + phnum * PHENT;
        let mut header = Vec::with_capacity(EHDR as usize);
        header.extend_from_slice(b"\x7fELF\x02\x01\x01");
        header.resize(16, 0);
        header.extend_from_slice(&self.e_type.to_le_bytes());
        header.extend_from_slice(&self.machine.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&self.entry.to_le_bytes());
        header.extend_from_slice(&EHDR.to_le_bytes());
        header.extend_from_slice(&0u64.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        for half in [EHDR as u16, PHENT as u16, phnum as u16, 64, 0, 0] {
            header.extend_from_slice(&half.to_le_bytes());
        }
        out[..EHDR as usize].copy_from_slice(&header);
        for (i, ph) in self.phdrs.iter().enumerate() {
            let mut ph = *ph;
            if ph.p_type == PT_PHDR {
                ph.filesz = phnum * PHENT;
                ph.memsz = ph.filesz;
            }
            if ph.p_type == PT_INTERP {
                let len = self.interp.as_ref().map_or(0, |s| s.len() as u64 + 1);
                (ph.offset, ph.vaddr, ph.filesz, ph.memsz) = (interp_at, interp_at, len, len);
            }
            let mut entry = Vec::with_capacity(PHENT as usize);
            entry.extend_from_slice(&ph.p_type.to_le_bytes());
            entry.extend_from_slice(&ph.flags.to_le_bytes());
            for word in [ph.offset, ph.vaddr, ph.vaddr, ph.filesz, ph.memsz, ph.align] {
                entry.extend_from_slice(&word.to_le_bytes());
            }
            let at = (EHDR + i as u64 * PHENT) as usize;
            out[at..at + PHENT as usize].copy_from_slice(&entry);
        }
        if let Some(interp) = &self.interp {
            let at = interp_at as usize;
            out[at..at + interp.len()].copy_from_slice(interp.as_bytes());
            out[at + interp.len()] = 0;
        }
        out
    }

    /// Writes the file at `path`, mode 0755.
    pub fn write(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, self.bytes()).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A fresh directory for one test's files.
pub fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cordon-loader-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    dir
}

/// Opens `/<name>` of `dir` as an executable, through a memory overlay of
/// `dir` as the container's root.
pub fn open_executable_in(dir: &std::path::Path, name: &str) -> super::Executable {
    use std::sync::Arc;

    use crate::abi::Credentials;
    use crate::memory::MemoryFile;
    use crate::vfs::caller::Internal;

    let fd: std::os::fd::OwnedFd = std::fs::File::open(dir).expect("scratch dir").into();
    let memory = Arc::new(MemoryFile::new().expect("memfd"));
    let mounts = overlay_namespace(&memory, &fd).expect("namespace");
    let caller = Internal::new(Credentials::default(), mounts.root());
    let resolver = caller.resolver(mounts.root());
    super::open_for_exec(&resolver, &format!("/{name}")).expect("the file was just written")
}

/// A memory overlay over the host directory `dir`, as a container's root.
pub fn overlay_namespace(
    memory: &std::sync::Arc<crate::memory::MemoryFile>,
    dir: &std::os::fd::OwnedFd,
) -> Result<crate::vfs::MountNamespace, nix::errno::Errno> {
    use crate::fsimpl::HostNode;
    use crate::fsimpl::memfs::MemFs;
    use crate::vfs::{DeviceNumbers, MountFlags, MountNamespace};
    let devices = DeviceNumbers::default();
    let root = MemFs::overlay(std::sync::Arc::clone(memory), devices.next(), HostNode::from_fd(dir)?)?;
    Ok(MountNamespace::new(root, "overlay", MountFlags::default(), devices))
}
