//! The initial stack of a new program: strings, argv, envp and the
//! auxiliary vector, laid out as Linux's create_elf_tables() does.

use super::{ExecArgs, Executable, LoadError, LoadedImage};
use crate::abi::UserAddr;
use crate::abi::arch::{AT_MINSIGSTKSZ, PAGE_SIZE, page_down, page_up};
use crate::memory::Prot;
use crate::mm::{MapRequest, MemoryManager, VmaKind};

/// The top of the main thread's stack (no randomisation yet).
pub const STACK_TOP: u64 = 0x7fff_ff00_0000;
/// Size of the stack mapping a program starts with; it grows down on
/// faults up to RLIMIT_STACK.
const INITIAL_STACK: u64 = 128 << 10;
/// Linux keeps at least this much room between the stack and mmap_base.
const MIN_STACK_GAP: u64 = 128 << 20;

/// auxv keys (include/uapi/linux/auxvec.h).
const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;

/// Where mappings without an address go, top-down: below the stack and
/// the room RLIMIT_STACK lets it grow into, as Linux's mmap_base() leaves.
pub fn mmap_base(stack_limit: u64) -> u64 {
    let gap = stack_limit.clamp(MIN_STACK_GAP, STACK_TOP / 6 * 5) + (1 << 20);
    page_down(STACK_TOP - gap)
}

/// A stack image assembled downward from a fixed top address.
struct StackImage {
    top: u64,
    /// What was pushed, latest (lowest) last.
    chunks: Vec<Vec<u8>>,
    len: u64,
}

impl StackImage {
    fn new(top: u64) -> Self {
        StackImage {
            top,
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn bottom(&self) -> u64 {
        self.top - self.len
    }

    /// Pushes bytes and returns their address.
    fn push(&mut self, data: &[u8]) -> u64 {
        self.chunks.push(data.to_vec());
        self.len += data.len() as u64;
        self.bottom()
    }

    /// The bytes from the bottom up to the top.
    fn bytes(&self) -> Vec<u8> {
        self.chunks.iter().rev().flatten().copied().collect()
    }

    fn push_cstring(&mut self, s: &str) -> u64 {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.push(&data)
    }

    /// Pads so the bottom is aligned to `align` after `extra` more bytes.
    fn align_for(&mut self, extra: u64, align: u64) {
        let target = (self.bottom() - extra) & !(align - 1);
        let pad = (self.bottom() - extra - target) as usize;
        self.push(&vec![0; pad]);
    }
}

/// Builds the stack of a program whose image is loaded in `mm`, and places
/// its program break. Returns the initial stack pointer, which points at
/// argc.
pub fn build_initial_stack(
    mm: &mut MemoryManager,
    space: &dyn crate::platform::AddressSpace,
    image: &LoadedImage,
    exe: &Executable,
    args: &ExecArgs,
) -> Result<u64, LoadError> {
    // Linux bounds the argument strings to a quarter of the stack limit
    // (and at least 32 pages): that is ARG_MAX.
    let strings: u64 = args
        .argv
        .iter()
        .chain(args.env)
        .map(|s| s.len() as u64 + 1)
        .sum::<u64>()
        + exe.path.len() as u64
        + 1;
    let arg_max = (args.stack_limit / 4).max(32 * PAGE_SIZE);
    if strings > arg_max {
        return Err(LoadError::TooBig { path: exe.path.clone() });
    }

    let mut stack = StackImage::new(STACK_TOP);
    stack.push(&[0; 8]);
    let execfn = stack.push_cstring(&exe.path);
    let env_ptrs: Vec<u64> = args
        .env
        .iter()
        .rev()
        .map(|s| stack.push_cstring(s))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let arg_ptrs: Vec<u64> = args
        .argv
        .iter()
        .rev()
        .map(|s| stack.push_cstring(s))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let platform = stack.push_cstring("x86_64");
    let mut random = [0u8; 16];
    // The host's random source does not fail for 16 bytes without flags.
    let _ = crate::sys::random::fill(&mut random, 0);
    stack.align_for(0, 16);
    let random_addr = stack.push(&random);

    let creds = args.credentials;
    let (hwcap, hwcap2, minsigstksz) = crate::sys::cpu::host_hwcaps();
    // The host kernel's figure describes the signal frame of this very CPU,
    // which is the frame cordon builds too.
    let minsigstksz = if minsigstksz == 0 {
        libc::MINSIGSTKSZ as u64
    } else {
        minsigstksz
    };
    let auxv: [(u64, u64); 19] = [
        (AT_PHDR, image.phdr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, image.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, u64::from(creds.ruid)),
        (AT_EUID, u64::from(creds.euid)),
        (AT_GID, u64::from(creds.rgid)),
        (AT_EGID, u64::from(creds.egid)),
        // Without file capabilities, an image runs "securely" exactly when
        // a set-user- or set-group-id bit changed its ids.
        (
            AT_SECURE,
            u64::from(creds.euid != creds.ruid || creds.egid != creds.rgid),
        ),
        (AT_RANDOM, random_addr),
        (AT_HWCAP, hwcap),
        (AT_HWCAP2, hwcap2),
        (AT_CLKTCK, 100),
        (AT_PLATFORM, platform),
        (AT_EXECFN, execfn),
        (AT_MINSIGSTKSZ, minsigstksz),
    ];
    let mut words: Vec<u64> = vec![args.argv.len() as u64];
    words.extend(&arg_ptrs);
    words.push(0);
    words.extend(&env_ptrs);
    words.push(0);
    for (key, value) in auxv {
        words.extend([key, value]);
    }
    words.extend([AT_NULL, 0]);
    // argc must sit on a 16-byte boundary at entry (x86-64 psABI §3.4.1).
    stack.align_for(words.len() as u64 * 8, 16);
    let table: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let rsp = stack.push(&table);

    let size = page_up(STACK_TOP - page_down(rsp))
        .expect("stack below STACK_TOP")
        .max(INITIAL_STACK);
    if size > args.stack_limit.max(INITIAL_STACK) {
        return Err(LoadError::TooBig { path: exe.path.clone() });
    }
    let prot = if image.exec_stack {
        Prot::READ_WRITE.union(Prot::EXEC)
    } else {
        Prot::READ_WRITE
    };
    let req = MapRequest {
        growsdown: true,
        ..MapRequest::fixed(STACK_TOP - size, size, prot, VmaKind::Stack)
    };
    let memory_error = |errno| LoadError::Memory {
        path: exe.path.clone(),
        errno,
    };
    mm.map(req, u64::MAX, space).map_err(memory_error)?;
    mm.copy_out(UserAddr::new(stack.bottom()), &stack.bytes())
        .map_err(memory_error)?;
    mm.set_brk_start(image.brk_start);
    Ok(rsp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_leaves_room_for_the_table() {
        let mut stack = StackImage::new(0x1000);
        stack.push(&[1; 3]);
        stack.align_for(24, 16);
        assert_eq!((stack.bottom() - 24) % 16, 0);
        let bytes = stack.bytes();
        assert_eq!(bytes[bytes.len() - 3..], [1, 1, 1]);
        assert_eq!(bytes.len() as u64, 0x1000 - stack.bottom());
    }
}
