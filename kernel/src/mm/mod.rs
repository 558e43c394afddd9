//! Memory management (DESIGN.md §3.3): the memory manager of each address
//! space, which keeps its VMAs, brk and the platform's mappings of the
//! memory file in step, and the signal frames built on application stacks.

pub mod frame;
mod manager;

pub use manager::{
    ForkedMemory, MMAP_MIN_ADDR, MapRequest, MemoryManager, SharedBacking, SharedPiece, USER_END, Vma, VmaKind,
};
