//! x86-64 register state and the system-call calling convention.

use super::UserAddr;
use super::errno::SyscallResult;

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

// x86-64 is LP64: `size_t`, `unsigned long` and Rust's usize are all 64
// bits wide, so a size_t argument is a register's whole value and every
// usize fits a u64.
const _: () = assert!(usize::BITS == 64);

/// A length or count the kernel holds as a usize, as the 64-bit number the
/// ABI and the memory manager speak: lossless on x86-64.
pub const fn usize_to_u64(n: usize) -> u64 {
    n as u64
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

    /// Argument `i` as a C `long` (or `off_t`, `loff_t`, `ssize_t`): the
    /// register's bits read as a signed number, so a "negative" offset is
    /// one with the top bit set.
    pub fn long(&self, i: usize) -> i64 {
        self.args[i] as i64
    }

    /// Argument `i` as a `size_t`: the register's whole value (usize is 64
    /// bits, asserted above).
    pub fn size(&self, i: usize) -> usize {
        self.args[i] as usize
    }

    /// Argument `i` as an address in the caller's memory.
    pub fn addr(&self, i: usize) -> UserAddr {
        UserAddr::new(self.args[i])
    }
}

/// Sets the result of a system call: rax holds the value, or the negated
/// errno (-4095..-1 read as a signed long).
/// The registers as the words of `struct user_regs_struct`, in its order
/// (r15 first, gs last): what PTRACE_GETREGS copies out.
pub fn register_words(regs: &Registers) -> [u64; 27] {
    [
        regs.r15,
        regs.r14,
        regs.r13,
        regs.r12,
        regs.rbp,
        regs.rbx,
        regs.r11,
        regs.r10,
        regs.r9,
        regs.r8,
        regs.rax,
        regs.rcx,
        regs.rdx,
        regs.rsi,
        regs.rdi,
        regs.orig_rax,
        regs.rip,
        regs.cs,
        regs.eflags,
        regs.rsp,
        regs.ss,
        regs.fs_base,
        regs.gs_base,
        regs.ds,
        regs.es,
        regs.fs,
        regs.gs,
    ]
}

/// The registers `words` (in `struct user_regs_struct`'s order) hold.
pub fn registers_from_words(w: [u64; 27]) -> Registers {
    Registers {
        r15: w[0],
        r14: w[1],
        r13: w[2],
        r12: w[3],
        rbp: w[4],
        rbx: w[5],
        r11: w[6],
        r10: w[7],
        r9: w[8],
        r8: w[9],
        rax: w[10],
        rcx: w[11],
        rdx: w[12],
        rsi: w[13],
        rdi: w[14],
        orig_rax: w[15],
        rip: w[16],
        cs: w[17],
        eflags: w[18],
        rsp: w[19],
        ss: w[20],
        fs_base: w[21],
        gs_base: w[22],
        ds: w[23],
        es: w[24],
        fs: w[25],
        gs: w[26],
    }
}

pub fn set_result(regs: &mut Registers, result: SyscallResult) {
    regs.rax = result_register(result);
}

fn result_register(result: SyscallResult) -> u64 {
    match result {
        Ok(value) => value,
        Err(errno) => (-i64::from(errno as i32)) as u64,
    }
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

    #[test]
    fn long_and_size_arguments_are_the_whole_register() {
        let args = SyscallArgs {
            number: 0,
            args: [u64::MAX, 0x1_0000_0002, 0, 0, 0, 0],
        };
        assert_eq!(args.long(0), -1);
        assert_eq!(args.long(1), 0x1_0000_0002);
        assert_eq!(args.size(1), 0x1_0000_0002);
    }

    #[test]
    fn errors_return_as_negated_errno() {
        assert_eq!(result_register(Err(nix::errno::Errno::EBADF)), (-9i64) as u64);
        assert_eq!(result_register(Ok(u64::MAX - 1)), u64::MAX - 1);
    }
}
