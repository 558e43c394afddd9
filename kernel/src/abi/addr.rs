//! Addresses in an application's address space.

use std::fmt;
use std::ops::Add;

/// An address in an application's memory, as a system call's argument or a
/// structure it points to gives it. The kernel never dereferences one: the
/// memory manager finds what it names, or answers EFAULT.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UserAddr(u64);

impl UserAddr {
    /// NULL, which optional pointer arguments pass for "none".
    pub const NULL: UserAddr = UserAddr(0);

    pub const fn new(addr: u64) -> UserAddr {
        UserAddr(addr)
    }

    /// The address as a number.
    pub const fn get(self) -> u64 {
        self.0
    }

    pub const fn is_null(self) -> bool {
        self.0 == 0
    }

    /// `self + offset`, or None past the end of the address space's
    /// numbers.
    pub const fn checked_add(self, offset: u64) -> Option<UserAddr> {
        match self.0.checked_add(offset) {
            Some(addr) => Some(UserAddr(addr)),
            None => None,
        }
    }
}

/// `addr + n` wraps: an address past the end names no mapping, so a copy
/// there fails with EFAULT as on Linux.
impl Add<u64> for UserAddr {
    type Output = UserAddr;

    fn add(self, offset: u64) -> UserAddr {
        UserAddr(self.0.wrapping_add(offset))
    }
}

impl fmt::Debug for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::LowerHex for UserAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_wraps_or_checks() {
        let addr = UserAddr::new(0x1000);
        assert_eq!((addr + 8).get(), 0x1008);
        assert_eq!(UserAddr::new(u64::MAX) + 2, UserAddr::new(1));
        assert_eq!(UserAddr::new(u64::MAX).checked_add(1), None);
        assert!(UserAddr::NULL.is_null());
        assert_eq!(format!("{addr:?}"), "0x1000");
    }
}
