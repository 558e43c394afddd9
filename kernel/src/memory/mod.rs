//! The memory file: one memfd holding every page of application memory
//! (DESIGN.md §3.3), and the page protections mapped from it. The memory
//! manager above it (`crate::mm`) decides which pages each address space
//! maps.

mod file;

pub use file::MemoryFile;

/// Page protection, with Linux's PROT_* bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prot(u32);

impl Prot {
    pub const NONE: Prot = Prot(0);
    pub const READ: Prot = Prot(libc::PROT_READ as u32);
    pub const WRITE: Prot = Prot(libc::PROT_WRITE as u32);
    pub const EXEC: Prot = Prot(libc::PROT_EXEC as u32);
    pub const READ_WRITE: Prot = Prot(Self::READ.0 | Self::WRITE.0);

    /// Accepts the PROT_READ/WRITE/EXEC bits of an mmap/mprotect argument;
    /// any other bit is EINVAL.
    pub fn from_user(bits: u64) -> Option<Prot> {
        let all = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
        (bits & !all == 0).then_some(Prot(bits as u32))
    }

    pub fn bits(self) -> u64 {
        u64::from(self.0)
    }

    pub fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Prot) -> Prot {
        Prot(self.0 | other.0)
    }

    /// Whether the kernel may read through this protection. On x86-64 any
    /// of write or exec implies read.
    pub fn readable(self) -> bool {
        self.0 != 0
    }

    pub fn writable(self) -> bool {
        self.contains(Prot::WRITE)
    }
}
