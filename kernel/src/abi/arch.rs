//! x86-64 register state and the system-call calling convention.

use super::UserAddr;

/// The general-purpose registers of an application thread, as ptrace and
/// Linux's `struct user_regs_struct` lay them out.
pub type Registers = libc::user_regs_struct;

/// The largest user address on x86-64 with 4-level paging, exclusive.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
pub const PAGE_SIZE: u64 = 4096;

/// AT_MINSIGSTKSZ, the auxiliary vector's minimal signal stack size,
/// which libc does not name.
pub const AT_MINSIGSTKSZ: u64 = 51;

/// Rounds `value` down to a page boundary.
pub const fn page_down(value: u64) -> u64 {
    value & !(PAGE_SIZE - 1)
}

/// Rounds `value` up to a page boundary, or `None` on overflow.
pub const fn page_up(value: u64) -> Option<u64> {
    match value.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(page_down(v)),
        None => None,
    }
}

/// The six arguments of a system call, read from the registers that carry
/// them (rdi, rsi, rdx, r10, r8, r9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallArgs {
    pub number: u64,
    pub args: [u64; 6],
}

impl SyscallArgs {
    pub fn from_registers(regs: &Registers) -> Self {
        SyscallArgs {
            number: regs.orig_rax,
            args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
        }
    }

    /// Argument `i` as the C `int` the ABI passes in the low 32 bits.
    pub fn int(&self, i: usize) -> i32 {
        self.args[i] as u32 as i32
    }

    /// Argument `i` as an unsigned 32-bit value.
    pub fn u32(&self, i: usize) -> u32 {
        self.args[i] as u32
    }

    /// Argument `i` as a 64-bit value.
    pub fn u64(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// Argument `i` as an address in the caller's memory.
    pub fn addr(&self, i: usize) -> UserAddr {
        UserAddr::new(self.args[i])
    }
}

/// Sets the return value of a system call: rax holds the value, or the
/// negated errno.
pub fn set_return(regs: &mut Registers, value: i64) {
    regs.rax = value as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_rounding() {
        assert_eq!(page_down(4097), 4096);
        assert_eq!(page_up(4097), Some(8192));
        assert_eq!(page_up(4096), Some(4096));
        assert_eq!(page_up(u64::MAX), None);
    }

    #[test]
    fn int_arguments_use_the_low_32_bits() {
        let args = SyscallArgs {
            number: 0,
            args: [0xffff_ffff_ffff_ff9c, 0, 0, 0, 0, 0],
        };
        assert_eq!(args.int(0), -100);
    }
}
