//! Mapping x86-64 ELF images into an address space: the program (static,
//! static-pie or dynamically linked) and, for a dynamically linked one, its
//! ELF interpreter, placed as Linux's load_elf_binary() places them.
//!
//! Segments are copied from the file into fresh anonymous memory of the
//! memory file (there are no file-backed mappings), page by page as Linux
//! would map them: the whole page holding a segment's first byte comes
//! from the file, and the rest of the page holding the end of its file data
//! is zeroed when the segment has a bss.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{self, Header};
use goblin::elf::program_header::{self, ProgramHeader};

use super::{Executable, LoadError};
use crate::abi::UserAddr;
use crate::abi::arch::{PAGE_SIZE, TASK_SIZE, page_down, page_up};
use crate::memory::Prot;
use crate::mm::{MMAP_MIN_ADDR, MapRequest, MemoryManager, USER_END, VmaKind};

use crate::platform::AddressSpace;

/// Where Linux puts a position-independent program, before randomisation
/// and alignment: ELF_ET_DYN_BASE, two thirds of the x86-64 user address
/// space (arch/x86/include/asm/elf.h). With 4 KiB alignment this is
/// `0x5555_5555_4000`. cordon uses it for static-pie programs too, which
/// Linux loads in the mmap area instead.
const ELF_ET_DYN_BASE: u64 = TASK_SIZE / 3 * 2;
/// Program headers past this many bytes are refused, as Linux refuses more
/// than 64 KiB of them.
const MAX_PHDR_BYTES: usize = 65536;
/// Linux refuses a PT_INTERP path longer than PATH_MAX.
const MAX_INTERP_LEN: u64 = libc::PATH_MAX as u64;

/// Where the program (and its interpreter) landed: what the auxiliary
/// vector and the first instruction need.
#[derive(Debug, Clone, Copy)]
pub struct LoadedImage {
    /// The program's entry point (AT_ENTRY).
    pub entry: u64,
    /// Where execution starts: the interpreter's entry point for a
    /// dynamically linked program, else the program's.
    pub start: u64,
    /// The interpreter's load address (AT_BASE); 0 without one.
    pub interp_base: u64,
    /// Address of the program headers in memory (AT_PHDR).
    pub phdr: u64,
    pub phnum: u64,
    pub phent: u64,
    /// The program break starts here: the page after the program's highest
    /// segment.
    pub brk_start: u64,
    /// The program's PT_GNU_STACK asked for an executable stack.
    pub exec_stack: bool,
}

/// The ELF header and program headers of a file, checked to describe an
/// x86-64 executable or shared object.
pub(super) struct ElfHeaders {
    header: Header,
    phdrs: Vec<ProgramHeader>,
}

/// Where an image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// The program: ET_EXEC at its own addresses, ET_DYN at
    /// ELF_ET_DYN_BASE.
    Program,
    /// An ELF interpreter: ET_EXEC at its own addresses, ET_DYN wherever
    /// mmap(2) would put its whole span.
    Interpreter,
}

/// An image mapped into memory.
#[derive(Debug, Clone, Copy)]
struct MappedImage {
    /// Added to the file's virtual addresses (0 for ET_EXEC).
    bias: u64,
    /// The page after the highest segment.
    end: u64,
}

fn format_error(exe: &Executable, why: impl Into<String>) -> LoadError {
    LoadError::ExecFormat {
        path: exe.path.clone(),
        why: why.into(),
    }
}

/// Reads exactly `len` bytes at `offset`; a short file is a format error.
fn read_at(exe: &Executable, offset: u64, len: usize) -> Result<Vec<u8>, LoadError> {
    let mut buf = vec![0u8; len];
    exe.file
        .read_exact_at(&mut buf, offset)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::UnexpectedEof => format_error(exe, "truncated file"),
            _ => LoadError::Io {
                path: exe.path.clone(),
                source,
            },
        })?;
    Ok(buf)
}

fn file_len(exe: &Executable) -> Result<u64, LoadError> {
    exe.file.size().map_err(|source| LoadError::Io {
        path: exe.path.clone(),
        source,
    })
}

fn parse_header(exe: &Executable) -> Result<Header, LoadError> {
    let bytes =
        read_at(exe, 0, goblin::elf64::header::SIZEOF_EHDR).map_err(|_| format_error(exe, "not an ELF file"))?;
    if &bytes[..4] != header::ELFMAG {
        return Err(format_error(exe, "not an ELF file"));
    }
    let header = goblin::elf::Elf::parse_header(&bytes).map_err(|err| format_error(exe, err.to_string()))?;
    if header.e_ident[header::EI_CLASS] != header::ELFCLASS64 || header.e_ident[header::EI_DATA] != header::ELFDATA2LSB
    {
        return Err(format_error(exe, "not a 64-bit little-endian ELF file"));
    }
    if header.e_machine != header::EM_X86_64 {
        return Err(format_error(
            exe,
            format!("built for machine {}, not x86-64", header.e_machine),
        ));
    }
    if header.e_type != header::ET_EXEC && header.e_type != header::ET_DYN {
        return Err(format_error(exe, "not an executable"));
    }
    if usize::from(header.e_phentsize) != goblin::elf64::program_header::SIZEOF_PHDR
        || header.e_phnum == 0
        || usize::from(header.e_phnum) * goblin::elf64::program_header::SIZEOF_PHDR > MAX_PHDR_BYTES
    {
        return Err(format_error(exe, "bad program header table"));
    }
    Ok(header)
}

/// Reads and checks the ELF header and program headers of `exe`; anything
/// but an x86-64 ET_EXEC or ET_DYN file is a format error.
pub(super) fn read_headers(exe: &Executable) -> Result<ElfHeaders, LoadError> {
    let header = parse_header(exe)?;
    let phnum = usize::from(header.e_phnum);
    let table = read_at(exe, header.e_phoff, phnum * goblin::elf64::program_header::SIZEOF_PHDR)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(&table, 0, phnum, ctx).map_err(|err| format_error(exe, err.to_string()))?;
    Ok(ElfHeaders { header, phdrs })
}

impl ElfHeaders {
    fn find(&self, p_type: u32) -> Option<&ProgramHeader> {
        self.phdrs.iter().find(|ph| ph.p_type == p_type)
    }

    /// Whether the file asks for an ELF interpreter (PT_INTERP).
    pub(super) fn has_interpreter(&self) -> bool {
        self.find(program_header::PT_INTERP).is_some()
    }

    /// The path in the first PT_INTERP, which Linux wants NUL-terminated
    /// and at most PATH_MAX bytes; `None` for a static program.
    pub(super) fn interpreter_path(&self, exe: &Executable) -> Result<Option<String>, LoadError> {
        let Some(ph) = self.find(program_header::PT_INTERP) else {
            return Ok(None);
        };
        if !(2..=MAX_INTERP_LEN).contains(&ph.p_filesz) {
            return Err(format_error(exe, "bad PT_INTERP size"));
        }
        let bytes = read_at(exe, ph.p_offset, ph.p_filesz as usize)?;
        if bytes.last() != Some(&0) {
            return Err(format_error(exe, "PT_INTERP is not NUL-terminated"));
        }
        let path = bytes.split(|&b| b == 0).next().unwrap_or_default();
        // The interpreter is opened by name like any path; one that is not
        // UTF-8 cannot name a file cordon can open.
        String::from_utf8(path.to_vec())
            .map(Some)
            .map_err(|_| LoadError::NotFound {
                path: String::from_utf8_lossy(path).into_owned(),
            })
    }
}

/// Checks that `interpreter`, named by `exe`'s PT_INTERP, can load it: the
/// consistency checks load_elf_binary() makes before the point of no
/// return.
pub(super) fn check_interpreter(exe: &Executable, interpreter: &Executable) -> Result<(), LoadError> {
    // Linux reads the interpreter's header with elf_read(), for which a
    // short file is EIO, not a format error.
    if file_len(interpreter)? < goblin::elf64::header::SIZEOF_EHDR as u64 {
        return Err(LoadError::Interpreter {
            path: exe.path.clone(),
            source: Box::new(LoadError::Io {
                path: interpreter.path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "shorter than an ELF header"),
            }),
        });
    }
    let headers = read_headers(interpreter).map_err(|err| interpreter_error(exe, interpreter, err))?;
    // Linux ignores an interpreter's own PT_INTERP; gVisor refuses it, and
    // so does cordon, as the interpreter could not be loaded correctly.
    if headers.has_interpreter() {
        return Err(format_error(
            exe,
            format!(
                "its ELF interpreter {:?} asks for an interpreter itself",
                interpreter.path
            ),
        ));
    }
    Ok(())
}

/// A failure to read or map `exe`'s interpreter, as execve(2) reports it:
/// a malformed interpreter is ELIBBAD, anything else keeps its errno.
fn interpreter_error(exe: &Executable, interpreter: &Executable, err: LoadError) -> LoadError {
    match err {
        LoadError::ExecFormat { why, .. } => LoadError::BadInterpreter {
            path: exe.path.clone(),
            interpreter: interpreter.path.clone(),
            why,
        },
        source => LoadError::Interpreter {
            path: exe.path.clone(),
            source: Box::new(source),
        },
    }
}

/// Maps the program `exe` into `mm` and, when it is dynamically linked,
/// its interpreter (`exe.interpreter`, opened by `resolve_interpreter`).
/// `mm` must be empty, with its mmap base set.
pub(super) fn load_image(
    mm: &mut MemoryManager,
    space: &dyn AddressSpace,
    exe: &Executable,
) -> Result<LoadedImage, LoadError> {
    let headers = read_headers(exe)?;
    if headers.has_interpreter() != exe.interpreter.is_some() {
        return Err(format_error(
            exe,
            "PT_INTERP does not match the interpreter opened for it",
        ));
    }
    let program = map_segments(mm, space, exe, &headers, Placement::Program)?;
    let entry = headers.header.e_entry.wrapping_add(program.bias);
    let (start, interp_base) = match &exe.interpreter {
        None => (entry, 0),
        Some(interpreter) => {
            let interp_headers = read_headers(interpreter).map_err(|err| interpreter_error(exe, interpreter, err))?;
            let mapped = map_segments(mm, space, interpreter, &interp_headers, Placement::Interpreter)
                .map_err(|err| interpreter_error(exe, interpreter, err))?;
            (interp_headers.header.e_entry.wrapping_add(mapped.bias), mapped.bias)
        }
    };

    let phdr = match headers.find(program_header::PT_PHDR) {
        Some(ph) => ph.p_vaddr.wrapping_add(program.bias),
        None => headers
            .phdrs
            .iter()
            .filter(|ph| ph.p_type == program_header::PT_LOAD)
            .find(|ph| ph.p_offset <= headers.header.e_phoff && headers.header.e_phoff < ph.p_offset + ph.p_filesz)
            .map_or(0, |ph| {
                (ph.p_vaddr + (headers.header.e_phoff - ph.p_offset)).wrapping_add(program.bias)
            }),
    };
    let exec_stack = headers
        .find(program_header::PT_GNU_STACK)
        .is_some_and(|ph| ph.p_flags & program_header::PF_X != 0);
    Ok(LoadedImage {
        entry,
        start,
        interp_base,
        phdr,
        phnum: headers.phdrs.len() as u64,
        phent: goblin::elf64::program_header::SIZEOF_PHDR as u64,
        brk_start: program.end,
        exec_stack,
    })
}

/// The largest power-of-two p_align of the PT_LOAD segments, at least a
/// page (Linux's maximum_alignment()).
fn max_alignment(loads: &[&ProgramHeader]) -> u64 {
    loads
        .iter()
        .map(|ph| ph.p_align)
        .filter(|align| align.is_power_of_two())
        .fold(PAGE_SIZE, u64::max)
}

/// Maps the PT_LOAD segments of `exe` into `mm` as `placement` says.
fn map_segments(
    mm: &mut MemoryManager,
    space: &dyn AddressSpace,
    exe: &Executable,
    headers: &ElfHeaders,
    placement: Placement,
) -> Result<MappedImage, LoadError> {
    let file_len = file_len(exe)?;
    let loads: Vec<&ProgramHeader> = headers
        .phdrs
        .iter()
        .filter(|ph| ph.p_type == program_header::PT_LOAD)
        .collect();
    let (Some(first), Some(last)) = (loads.first(), loads.last()) else {
        return Err(format_error(exe, "no loadable segment"));
    };
    for ph in &loads {
        let valid = ph.p_filesz <= ph.p_memsz
            && ph.p_offset.checked_add(ph.p_filesz).is_some_and(|end| end <= file_len)
            && ph.p_vaddr.checked_add(ph.p_memsz).is_some_and(|end| end <= USER_END)
            // The file offset and address must agree modulo the page size,
            // or the segment could not be mapped from the file.
            && ph.p_vaddr % PAGE_SIZE == ph.p_offset % PAGE_SIZE;
        if !valid {
            return Err(format_error(exe, "bad PT_LOAD segment"));
        }
    }
    // The ELF specification sorts PT_LOAD entries by address; the page
    // copies below rely on it, and on segments not overlapping.
    if loads
        .windows(2)
        .any(|pair| pair[1].p_vaddr < pair[0].p_vaddr + pair[0].p_memsz)
    {
        return Err(format_error(exe, "PT_LOAD segments out of order or overlapping"));
    }
    let lowest = page_down(first.p_vaddr);
    let highest = last.p_vaddr + last.p_memsz;
    let memory_error = |errno| LoadError::Memory {
        path: exe.path.clone(),
        errno,
    };

    let bias = if headers.header.e_type == header::ET_EXEC {
        0
    } else {
        match placement {
            // load_elf_binary(): ELF_ET_DYN_BASE aligned to the segments'
            // alignment, less the first segment's address.
            Placement::Program => {
                let base = ELF_ET_DYN_BASE & !(max_alignment(&loads) - 1);
                if first.p_vaddr >= base {
                    return Err(format_error(exe, "position-independent image too high"));
                }
                page_down(base - first.p_vaddr)
            }
            // load_elf_interp(): the first segment is mapped with the span
            // of them all wherever mmap(2) puts it, top-down below the
            // mmap base; the others follow at their offsets.
            Placement::Interpreter => {
                let span = page_up(highest).ok_or_else(|| format_error(exe, "segment overflows"))? - lowest;
                mm.unmapped_area(span).map_err(memory_error)?.wrapping_sub(lowest)
            }
        }
    };
    // Where a file address lands. An interpreter's bias may be "negative"
    // (its segments start above where they go), so it wraps, as in Linux.
    let at = |vaddr: u64| vaddr.wrapping_add(bias);
    let in_range = |ph: &&ProgramHeader| {
        let start = at(ph.p_vaddr);
        page_down(start) >= MMAP_MIN_ADDR && start.checked_add(ph.p_memsz).is_some_and(|end| end <= USER_END)
    };
    if !loads.iter().all(in_range) {
        return Err(format_error(exe, "segment outside the user address range"));
    }

    // Pages shared by two segments get both segments' protections.
    let mut regions: Vec<(u64, u64, Prot)> = Vec::new();
    for ph in &loads {
        let start = page_down(at(ph.p_vaddr));
        let end = page_up(at(ph.p_vaddr) + ph.p_memsz).expect("checked against USER_END");
        if end == start {
            continue;
        }
        let prot = segment_prot(ph.p_flags);
        match regions.last_mut() {
            Some(last) if start < last.1 => {
                last.1 = last.1.max(end);
                last.2 = last.2.union(prot);
            }
            _ => regions.push((start, end, prot)),
        }
    }
    for &(start, end, _) in &regions {
        let req = MapRequest {
            noreplace: true,
            fixed: false,
            ..MapRequest::fixed(start, end - start, Prot::READ_WRITE, VmaKind::Image)
        };
        mm.map(req, u64::MAX, space).map_err(|errno| match errno {
            nix::errno::Errno::EEXIST => format_error(exe, "segments overlap memory already mapped"),
            errno => memory_error(errno),
        })?;
    }
    for ph in &loads {
        let start = at(ph.p_vaddr);
        if ph.p_filesz > 0 {
            // Linux maps whole pages of the file: what precedes the
            // segment in its first page is file data too.
            let head = start % PAGE_SIZE;
            let data = read_at(exe, ph.p_offset - head, (head + ph.p_filesz) as usize)?;
            mm.copy_out(UserAddr::new(start - head), &data).map_err(memory_error)?;
        }
        if ph.p_memsz > ph.p_filesz {
            // The bss: Linux zeroes the rest of the page holding the end of
            // the file data (padzero()), or for a segment without file data
            // its whole first page, and maps fresh pages after it. The
            // later pages are fresh here already, segments being sorted and
            // disjoint.
            let from = if ph.p_filesz > 0 {
                start + ph.p_filesz
            } else {
                page_down(start)
            };
            let to = page_down(from) + PAGE_SIZE;
            mm.zero_out(UserAddr::new(from), to - from).map_err(memory_error)?;
        }
    }
    for &(start, end, prot) in &regions {
        mm.protect(start, end - start, prot, space).map_err(memory_error)?;
    }
    Ok(MappedImage {
        bias,
        end: page_up(at(highest)).expect("checked against USER_END"),
    })
}

fn segment_prot(flags: u32) -> Prot {
    let mut prot = Prot::NONE;
    if flags & program_header::PF_R != 0 {
        prot = prot.union(Prot::READ);
    }
    if flags & program_header::PF_W != 0 {
        prot = prot.union(Prot::WRITE);
    }
    if flags & program_header::PF_X != 0 {
        prot = prot.union(Prot::EXEC);
    }
    prot
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::MemoryFile;
    use crate::platform::NoSpace;
    use crate::task::loader::testing::{Phdr, SyntheticElf, body_byte, open_executable_in, scratch_dir};

    const MMAP_BASE: u64 = 0x7fff_f000_0000;

    fn manager() -> MemoryManager {
        let mut mm = MemoryManager::new(Arc::new(MemoryFile::new().expect("memfd")));
        mm.set_mmap_base(MMAP_BASE);
        mm
    }

    /// Writes `elf` as `<dir>/<name>` and opens it as an executable.
    fn executable(dir: &std::path::Path, name: &str, elf: &SyntheticElf) -> Executable {
        elf.write(&dir.join(name));
        open_executable_in(dir, name)
    }

    fn read(mm: &MemoryManager, addr: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        mm.copy_in(UserAddr::new(addr), &mut buf).unwrap();
        buf
    }

    fn file_bytes(from: u64, to: u64) -> Vec<u8> {
        (from..to).map(body_byte).collect()
    }

    /// The protection of the VMA holding `addr`, if one does.
    fn prot_at(mm: &MemoryManager, addr: u64) -> Option<Prot> {
        mm.vmas()
            .find(|vma| vma.start <= addr && addr < vma.end)
            .map(|vma| vma.prot)
    }

    #[test]
    fn a_pie_program_goes_at_et_dyn_base_and_its_interpreter_below_the_mmap_base() {
        let dir = scratch_dir("pie-interp");
        let mut exe = executable(&dir, "prog", &SyntheticElf::pie(Some("/lib/ld.so")));
        exe.interpreter = Some(Box::new(executable(&dir, "ld.so", &SyntheticElf::pie(None))));
        let mut mm = manager();
        let image = load_image(&mut mm, &NoSpace, &exe).unwrap();

        let base = 0x5555_5555_4000;
        assert_eq!(image.entry, base + 0x1040);
        assert_eq!(image.phdr, base + 64);
        assert_eq!(image.phnum, 6);
        assert_eq!(image.brk_start, base + 0x4000);
        // The interpreter's span (4 pages) ends at the mmap base.
        assert_eq!(image.interp_base, MMAP_BASE - 0x4000);
        assert_eq!(image.start, image.interp_base + 0x1040);
        assert!(!image.exec_stack);

        for at in [base, image.interp_base] {
            assert_eq!(read(&mm, at, 4), b"\x7fELF");
            assert_eq!(prot_at(&mm, at), Some(Prot::READ));
            assert_eq!(prot_at(&mm, at + 0x1000), Some(Prot::READ.union(Prot::EXEC)));
            assert_eq!(
                prot_at(&mm, at + 0x2000),
                None,
                "the hole between segments stays unmapped"
            );
            assert_eq!(prot_at(&mm, at + 0x3000), Some(Prot::READ_WRITE));
            // The data segment's first page starts with the file page
            // holding its offset, then its own data, then a zeroed bss to
            // the end of the page.
            assert_eq!(read(&mm, at + 0x3000, 0xf00), file_bytes(0x2000, 0x2f00));
            assert_eq!(read(&mm, at + 0x3f00, 0x100), vec![0; 0x100]);
            assert_eq!(read(&mm, at + 0x1000, 0x200), file_bytes(0x1000, 0x1200));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_fixed_address_program_stays_where_it_was_linked() {
        let dir = scratch_dir("exec-interp");
        let mut exe = executable(&dir, "prog", &SyntheticElf::fixed(Some("/lib/ld.so")));
        exe.interpreter = Some(Box::new(executable(&dir, "ld.so", &SyntheticElf::pie(None))));
        let mut mm = manager();
        let image = load_image(&mut mm, &NoSpace, &exe).unwrap();
        assert_eq!(image.entry, 0x40_1040);
        assert_eq!(image.phdr, 0x40_0040);
        assert_eq!(image.brk_start, 0x40_4000);
        assert_eq!(image.interp_base, MMAP_BASE - 0x4000);
        assert_eq!(image.start, image.interp_base + 0x1040);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_static_program_starts_at_its_own_entry_without_a_base() {
        let dir = scratch_dir("static-pie");
        let exe = executable(&dir, "prog", &SyntheticElf::pie(None));
        let mut mm = manager();
        let image = load_image(&mut mm, &NoSpace, &exe).unwrap();
        assert_eq!(image.start, image.entry);
        assert_eq!(image.entry, 0x5555_5555_4000 + 0x1040);
        assert_eq!(image.interp_base, 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_pie_program_is_aligned_to_its_largest_segment_alignment() {
        let dir = scratch_dir("pie-align");
        let mut elf = SyntheticElf::pie(None);
        for ph in &mut elf.phdrs {
            if ph.p_type == program_header::PT_LOAD {
                ph.align = 0x20_0000;
            }
        }
        let exe = executable(&dir, "prog", &elf);
        let image = load_image(&mut manager(), &NoSpace, &exe).unwrap();
        assert_eq!(image.entry, 0x5555_5540_0000 + 0x1040);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bss_only_segment_is_zero_and_brk_follows_it() {
        let dir = scratch_dir("bss-only");
        let mut elf = SyntheticElf::fixed(None);
        elf.phdrs.push(Phdr::load(
            0,
            0x40_5000,
            0,
            0x2800,
            program_header::PF_R | program_header::PF_W,
        ));
        let exe = executable(&dir, "prog", &elf);
        let mut mm = manager();
        let image = load_image(&mut mm, &NoSpace, &exe).unwrap();
        assert_eq!(read(&mm, 0x40_5000, 0x2800), vec![0; 0x2800]);
        assert_eq!(image.brk_start, 0x40_8000);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn segments_out_of_order_are_refused() {
        let dir = scratch_dir("out-of-order");
        let mut elf = SyntheticElf::fixed(None);
        let loads: Vec<usize> = (0..elf.phdrs.len())
            .filter(|&i| elf.phdrs[i].p_type == program_header::PT_LOAD)
            .collect();
        elf.phdrs.swap(loads[0], loads[2]);
        let exe = executable(&dir, "prog", &elf);
        let err = load_image(&mut manager(), &NoSpace, &exe).unwrap_err();
        assert_eq!(err.errno(), nix::errno::Errno::ENOEXEC, "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pt_interp_without_an_opened_interpreter_is_refused() {
        let dir = scratch_dir("unresolved");
        let exe = executable(&dir, "prog", &SyntheticElf::pie(Some("/lib/ld.so")));
        let err = load_image(&mut manager(), &NoSpace, &exe).unwrap_err();
        assert_eq!(err.errno(), nix::errno::Errno::ENOEXEC, "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn interpreter_segments_that_cannot_load_are_elibbad() {
        let dir = scratch_dir("bad-interp-segment");
        let mut exe = executable(&dir, "prog", &SyntheticElf::pie(Some("/lib/ld.so")));
        let mut interp = SyntheticElf::pie(None);
        interp.len = 0x2000; // the data segment is past the end of the file
        exe.interpreter = Some(Box::new(executable(&dir, "ld.so", &interp)));
        let err = load_image(&mut manager(), &NoSpace, &exe).unwrap_err();
        assert_eq!(err.errno(), nix::errno::Errno::ELIBBAD, "{err}");
        assert!(err.to_string().contains("/ld.so"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
