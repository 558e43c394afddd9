//! The termios flags and control characters (termios(3), tty_ioctl(4)),
//! and the settings a new pseudo-terminal starts with; the structures
//! themselves are the ABI's (`crate::abi::structs`).

pub use crate::abi::structs::{KernelTermios, KernelTermios2, NCCS};

/// A control character set to this value is disabled (_POSIX_VDISABLE).
pub const DISABLED: u8 = 0;

/// Indices into `c_cc` (asm-generic/termbits.h).
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;

/// c_iflag bits.
pub const IGNBRK: u32 = 0o1;
pub const ISTRIP: u32 = 0o40;
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IUCLC: u32 = 0o1000;
pub const IXON: u32 = 0o2000;
pub const IXANY: u32 = 0o4000;

/// c_oflag bits.
pub const OPOST: u32 = 0o1;
pub const OLCUC: u32 = 0o2;
pub const ONLCR: u32 = 0o4;
pub const OCRNL: u32 = 0o10;
pub const ONOCR: u32 = 0o20;
pub const ONLRET: u32 = 0o40;
pub const TABDLY: u32 = 0o14000;
/// TAB3: tabs become spaces.
pub const XTABS: u32 = 0o14000;

/// c_cflag bits.
pub const B38400: u32 = 0o17;
pub const CS8: u32 = 0o60;
pub const CREAD: u32 = 0o200;

/// c_lflag bits.
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const TOSTOP: u32 = 0o400;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;

/// The speed termios2 reports for B38400.
pub const SPEED_38400: u32 = 38400;

impl KernelTermios {
    /// A new pseudo-terminal replica's settings: Linux's tty_std_termios
    /// with devpts's c_cflag (B38400 | CS8 | CREAD).
    pub fn replica_default() -> KernelTermios {
        // INIT_C_CC: ^C ^\ DEL ^U ^D, VTIME 0, VMIN 1, VSWTC 0, ^Q ^S ^Z,
        // VEOL 0, ^R ^O ^W ^V, VEOL2 0, and two unused slots.
        let c_cc = [
            0o3, 0o34, 0o177, 0o25, 0o4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26, 0, 0, 0,
        ];
        KernelTermios {
            c_iflag: ICRNL | IXON,
            c_oflag: OPOST | ONLCR,
            c_cflag: B38400 | CS8 | CREAD,
            c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            c_line: 0,
            c_cc,
        }
    }

    pub fn iflag(&self, bits: u32) -> bool {
        self.c_iflag & bits != 0
    }

    pub fn oflag(&self, bits: u32) -> bool {
        self.c_oflag & bits != 0
    }

    pub fn lflag(&self, bits: u32) -> bool {
        self.c_lflag & bits != 0
    }

    /// Whether `c` is the control character at `index`, which is enabled.
    pub fn is_char(&self, index: usize, c: u8) -> bool {
        self.c_cc[index] != DISABLED && self.c_cc[index] == c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<KernelTermios>(), 36);
        assert_eq!(std::mem::size_of::<KernelTermios2>(), 44);
        let defaults = KernelTermios::replica_default();
        assert_eq!(defaults.c_cc[VMIN], 1);
        assert_eq!(defaults.c_lflag as libc::tcflag_t & libc::ICANON, libc::ICANON);
        assert_eq!(ECHOCTL, libc::ECHOCTL);
        assert_eq!(ECHOKE, libc::ECHOKE);
        assert_eq!(IEXTEN, libc::IEXTEN);
        assert_eq!(TOSTOP, libc::TOSTOP);
        assert_eq!(IXANY, libc::IXANY);
    }
}
