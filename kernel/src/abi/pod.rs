//! Plain-old-data structures that cross the user boundary as bytes.

/// A type whose every byte is initialised and any byte pattern is a valid
/// value, so it can be copied to and from application memory as bytes.
///
/// # Safety
/// Implement only for `repr(C)` types without implicit padding whose fields
/// are all integers (or arrays of them).
pub unsafe trait Pod: Copy + Sized + 'static {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: Pod types have no padding, so all size_of bytes are
        // initialised.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast(), std::mem::size_of::<Self>()) }
    }

    /// The all-zero value.
    fn zeroed() -> Self {
        Self::from_bytes(&vec![0u8; std::mem::size_of::<Self>()])
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        assert_eq!(bytes.len(), std::mem::size_of::<Self>(), "Pod::from_bytes length");
        // SAFETY: the length matches and any byte pattern is a valid Pod.
        unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) }
    }
}

// SAFETY: a primitive integer.
unsafe impl Pod for u8 {}
// SAFETY: a primitive integer.
unsafe impl Pod for u32 {}
// SAFETY: a primitive integer.
unsafe impl Pod for u64 {}
// SAFETY: a primitive integer.
unsafe impl Pod for i32 {}
// SAFETY: a primitive integer.
unsafe impl Pod for i64 {}
// SAFETY: two i64s.
unsafe impl Pod for libc::timespec {}
// SAFETY: two i64s.
unsafe impl Pod for libc::timeval {}
// SAFETY: integers with an explicit __pad0 and trailing reserved words.
unsafe impl Pod for libc::stat {}
// SAFETY: six arrays of 65 bytes.
unsafe impl Pod for libc::utsname {}
// SAFETY: two u64s.
unsafe impl Pod for libc::rlimit {}
// SAFETY: four u16s.
unsafe impl Pod for libc::winsize {}
// SAFETY: i64/u64 fields and an fsid of two i32s; 120 bytes, no padding.
unsafe impl Pod for libc::statfs {}
