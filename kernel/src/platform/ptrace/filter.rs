//! The seccomp filter every stub process runs under.
//!
//! Application system calls never reach it: PTRACE_SYSEMU stops them before
//! seccomp runs. It governs the calls the kernel injects, and everything
//! else if the tracer is ever gone: only the listed calls, only from the
//! stub's own `syscall` instruction; anything else kills the stub.
//!
//! seccompiler cannot test the instruction pointer, so the dozen BPF
//! instructions are written out here.

use super::STUB_SYSCALL_RETURN;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets into `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_IP_LOW: u32 = 8;
const DATA_IP_HIGH: u32 = 12;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The host calls the kernel injects into a stub.
pub(super) const INJECTED_CALLS: [libc::c_long; 3] = [libc::SYS_mmap, libc::SYS_munmap, libc::SYS_mprotect];

fn statement(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

/// Builds the stub's filter program.
pub(super) fn stub_filter() -> Vec<libc::sock_filter> {
    let calls = INJECTED_CALLS.len() as u8;
    // Layout: three checks that jump to KILL on mismatch, the call list that
    // jumps to ALLOW on a match, then KILL and ALLOW. A jump offset counts
    // the instructions skipped after the jump itself.
    let mut program = Vec::new();
    // Distance from the instruction after a header check to KILL.
    let to_kill = |remaining_header: u8| remaining_header + 1 + calls;
    program.push(statement(BPF_LD_W_ABS, DATA_ARCH));
    program.push(jump_if_equal(AUDIT_ARCH_X86_64, 0, to_kill(4)));
    program.push(statement(BPF_LD_W_ABS, DATA_IP_LOW));
    program.push(jump_if_equal(STUB_SYSCALL_RETURN as u32, 0, to_kill(2)));
    program.push(statement(BPF_LD_W_ABS, DATA_IP_HIGH));
    program.push(jump_if_equal((STUB_SYSCALL_RETURN >> 32) as u32, 0, to_kill(0)));
    program.push(statement(BPF_LD_W_ABS, DATA_NR));
    for (i, nr) in INJECTED_CALLS.iter().enumerate() {
        let after = calls - 1 - i as u8;
        program.push(jump_if_equal(*nr as u32, after + 1, 0));
    }
    program.push(statement(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS));
    program.push(statement(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions the filter uses, so the jump
    /// arithmetic is checked without installing anything.
    fn run(program: &[libc::sock_filter], nr: u32, arch: u32, ip: u64) -> u32 {
        let data = |offset: u32| match offset {
            DATA_NR => nr,
            DATA_ARCH => arch,
            DATA_IP_LOW => ip as u32,
            DATA_IP_HIGH => (ip >> 32) as u32,
            _ => panic!("unexpected load offset {offset}"),
        };
        let mut acc = 0;
        let mut pc = 0;
        loop {
            let insn = program[pc];
            match insn.code {
                BPF_LD_W_ABS => acc = data(insn.k),
                BPF_JEQ_K => {
                    pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf });
                }
                BPF_RET_K => return insn.k,
                code => panic!("unexpected opcode {code:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn allows_injected_calls_from_the_stub_instruction() {
        let program = stub_filter();
        for nr in INJECTED_CALLS {
            let verdict = run(&program, nr as u32, AUDIT_ARCH_X86_64, STUB_SYSCALL_RETURN);
            assert_eq!(verdict, libc::SECCOMP_RET_ALLOW, "call {nr}");
        }
    }

    #[test]
    fn kills_everything_else() {
        let program = stub_filter();
        let kill = libc::SECCOMP_RET_KILL_PROCESS;
        let ip = STUB_SYSCALL_RETURN;
        assert_eq!(run(&program, libc::SYS_getpid as u32, AUDIT_ARCH_X86_64, ip), kill);
        assert_eq!(run(&program, libc::SYS_mmap as u32, AUDIT_ARCH_X86_64, ip + 16), kill);
        assert_eq!(
            run(&program, libc::SYS_mmap as u32, AUDIT_ARCH_X86_64, ip ^ 1 << 40),
            kill
        );
        assert_eq!(run(&program, libc::SYS_mmap as u32, 0x4000_0003, ip), kill);
    }
}
