//! Mapping an x86-64 ELF image (static or static-pie) into an address space.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{self, Header};
use goblin::elf::program_header::{self, ProgramHeader};

use super::{Executable, LoadError};
use crate::arch::{page_down, page_up};
use crate::memory::{MMAP_MIN_ADDR, MapRequest, MemoryManager, Prot, USER_END, VmaKind};
use crate::platform::AddressSpace;

/// Where Linux puts a position-independent executable (ELF_ET_DYN_BASE,
/// without randomisation).
const ET_DYN_BASE: u64 = 0x5555_5555_4000;
/// Program headers past this many bytes are refused, as Linux refuses more
/// than 64 KiB of them.
const MAX_PHDR_BYTES: usize = 65536;

/// Where the image landed.
#[derive(Debug, Clone, Copy)]
pub struct LoadedImage {
    pub entry: u64,
    /// Address of the program headers in memory (AT_PHDR).
    pub phdr: u64,
    pub phnum: u64,
    pub phent: u64,
    /// The program break starts here: the page after the highest segment.
    pub brk_start: u64,
    /// PT_GNU_STACK asked for an executable stack.
    pub exec_stack: bool,
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

/// Maps the PT_LOAD segments of `exe` into `mm`.
pub(super) fn load_image(
    mm: &mut MemoryManager,
    space: &dyn AddressSpace,
    exe: &Executable,
) -> Result<LoadedImage, LoadError> {
    let header = parse_header(exe)?;
    let phnum = usize::from(header.e_phnum);
    let table = read_at(exe, header.e_phoff, phnum * goblin::elf64::program_header::SIZEOF_PHDR)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(&table, 0, phnum, ctx).map_err(|err| format_error(exe, err.to_string()))?;
    if phdrs.iter().any(|ph| ph.p_type == program_header::PT_INTERP) {
        return Err(format_error(
            exe,
            "dynamically linked programs (PT_INTERP) are not supported yet",
        ));
    }
    let file_len = exe.file.size().map_err(|source| LoadError::Io {
        path: exe.path.clone(),
        source,
    })?;
    let loads: Vec<&ProgramHeader> = phdrs.iter().filter(|ph| ph.p_type == program_header::PT_LOAD).collect();
    if loads.is_empty() {
        return Err(format_error(exe, "no loadable segment"));
    }
    for ph in &loads {
        let valid = ph.p_filesz <= ph.p_memsz
            && ph.p_offset.checked_add(ph.p_filesz).is_some_and(|end| end <= file_len)
            && ph.p_vaddr.checked_add(ph.p_memsz).is_some_and(|end| end <= USER_END)
            // The file offset and address must agree modulo the page size,
            // or the segment could not be mapped from the file.
            && ph.p_vaddr % crate::arch::PAGE_SIZE == ph.p_offset % crate::arch::PAGE_SIZE;
        if !valid {
            return Err(format_error(exe, "bad PT_LOAD segment"));
        }
    }
    let lowest = loads
        .iter()
        .map(|ph| page_down(ph.p_vaddr))
        .min()
        .expect("at least one PT_LOAD");
    let bias = if header.e_type == header::ET_DYN {
        ET_DYN_BASE - lowest
    } else {
        0
    };
    if lowest + bias < MMAP_MIN_ADDR {
        return Err(format_error(exe, "segment below the lowest mappable address"));
    }

    let memory_error = |errno| LoadError::Memory {
        path: exe.path.clone(),
        errno,
    };
    // Pages shared by two segments get both segments' protections.
    let mut regions: Vec<(u64, u64, Prot)> = Vec::new();
    for ph in &loads {
        let start = page_down(ph.p_vaddr + bias);
        let end = page_up(ph.p_vaddr + bias + ph.p_memsz).ok_or_else(|| format_error(exe, "segment overflows"))?;
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
            nix::errno::Errno::EEXIST => format_error(exe, "overlapping PT_LOAD segments"),
            errno => memory_error(errno),
        })?;
    }
    for ph in &loads {
        if ph.p_filesz > 0 {
            let data = read_at(exe, ph.p_offset, ph.p_filesz as usize)?;
            mm.copy_out(ph.p_vaddr + bias, &data).map_err(memory_error)?;
        }
    }
    for &(start, end, prot) in &regions {
        mm.protect(start, end - start, prot, space).map_err(memory_error)?;
    }

    let phdr = match phdrs.iter().find(|ph| ph.p_type == program_header::PT_PHDR) {
        Some(ph) => ph.p_vaddr + bias,
        None => loads
            .iter()
            .find(|ph| ph.p_offset <= header.e_phoff && header.e_phoff < ph.p_offset + ph.p_filesz)
            .map_or(0, |ph| ph.p_vaddr + (header.e_phoff - ph.p_offset) + bias),
    };
    let exec_stack = phdrs
        .iter()
        .find(|ph| ph.p_type == program_header::PT_GNU_STACK)
        .is_some_and(|ph| ph.p_flags & program_header::PF_X != 0);
    let brk_start = regions
        .iter()
        .map(|&(_, end, _)| end)
        .max()
        .expect("at least one region");
    Ok(LoadedImage {
        entry: header.e_entry.wrapping_add(bias),
        phdr,
        phnum: phnum as u64,
        phent: goblin::elf64::program_header::SIZEOF_PHDR as u64,
        brk_start,
        exec_stack,
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
