//! Flag words. Linux keeps a file's status flags and clone's flags as
//! unsigned words; libc spells their constants as C `int`s, CLONE_IO with
//! the sign bit set. These read one as the other, bit for bit.

/// The bits of a flag constant libc spells as a C `int`, as the unsigned
/// word the kernel keeps: `bits(libc::CLONE_IO)` is 0x8000_0000, where
/// `libc::CLONE_IO as u64` would sign-extend.
pub const fn bits(flag: libc::c_int) -> u32 {
    flag as u32
}

/// The access mode of a file's status flags (F_GETFL's word): O_RDONLY,
/// O_WRONLY or O_RDWR.
pub const fn access_mode(status_flags: u32) -> libc::c_int {
    (status_flags & bits(libc::O_ACCMODE)) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_keep_their_bits() {
        assert_eq!(bits(libc::CLONE_IO), 0x8000_0000);
        assert_eq!(u64::from(bits(libc::CLONE_IO)), 0x8000_0000);
        assert_eq!(access_mode(bits(libc::O_WRONLY | libc::O_APPEND)), libc::O_WRONLY);
        assert_eq!(access_mode(bits(libc::O_RDWR | libc::O_NONBLOCK)), libc::O_RDWR);
    }
}
