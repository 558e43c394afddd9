//! The seccomp filter every stub process runs under.
//!
//! Application system calls never reach it: PTRACE_SYSEMU stops them before
//! seccomp runs. It governs the calls the kernel injects, and everything
//! else if the tracer is ever gone. Two sites may make calls: the stub's
//! injection `syscall` (mmap, munmap, mprotect, exit) and its thread
//! `syscall` (clone with exactly the thread flags). Anything else kills
//! the stub.
//!
//! seccompiler cannot test the instruction pointer, so the BPF is written
//! out here, with a small label resolver.

use super::{INJECT_RETURN, THREAD_CLONE_FLAGS, THREAD_RETURN};

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets into `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_IP_LOW: u32 = 8;
const DATA_IP_HIGH: u32 = 12;
const DATA_ARG0_LOW: u32 = 16;
const DATA_ARG0_HIGH: u32 = 20;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The host calls the kernel injects at the injection site.
pub(super) const INJECTED_CALLS: [libc::c_long; 4] =
    [libc::SYS_mmap, libc::SYS_munmap, libc::SYS_mprotect, libc::SYS_exit];

/// Jump targets in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Next,
    Injection,
    Thread,
    Kill,
    Allow,
}

enum Insn {
    Load(u32),
    JumpIfEqual { k: u32, then: Label, otherwise: Label },
    Return(u32),
    Mark(Label),
}

fn assemble(insns: &[Insn]) -> Vec<libc::sock_filter> {
    let mut positions = Vec::new();
    let mut at = 0usize;
    for insn in insns {
        match insn {
            Insn::Mark(label) => positions.push((*label, at)),
            _ => at += 1,
        }
    }
    let position = |label: Label| positions.iter().find(|(l, _)| *l == label).expect("label marked").1;
    let mut program = Vec::new();
    for insn in insns {
        let here = program.len();
        let offset = |label: Label| -> u8 {
            if label == Label::Next {
                0
            } else {
                u8::try_from(position(label) - here - 1).expect("jump fits in 8 bits")
            }
        };
        match *insn {
            Insn::Load(k) => program.push(libc::sock_filter {
                code: BPF_LD_W_ABS,
                jt: 0,
                jf: 0,
                k,
            }),
            Insn::JumpIfEqual { k, then, otherwise } => program.push(libc::sock_filter {
                code: BPF_JEQ_K,
                jt: offset(then),
                jf: offset(otherwise),
                k,
            }),
            Insn::Return(k) => program.push(libc::sock_filter {
                code: BPF_RET_K,
                jt: 0,
                jf: 0,
                k,
            }),
            Insn::Mark(_) => {}
        }
    }
    program
}

/// Builds the stub's filter program.
pub(super) fn stub_filter() -> Vec<libc::sock_filter> {
    use Insn::*;
    use Label::*;
    let mut insns = vec![
        Load(DATA_ARCH),
        JumpIfEqual {
            k: AUDIT_ARCH_X86_64,
            then: Next,
            otherwise: Kill,
        },
        // Both sites lie in the stub page, so they share the high half.
        Load(DATA_IP_HIGH),
        JumpIfEqual {
            k: (INJECT_RETURN >> 32) as u32,
            then: Next,
            otherwise: Kill,
        },
        Load(DATA_IP_LOW),
        JumpIfEqual {
            k: INJECT_RETURN as u32,
            then: Injection,
            otherwise: Next,
        },
        JumpIfEqual {
            k: THREAD_RETURN as u32,
            then: Thread,
            otherwise: Kill,
        },
        Mark(Injection),
        Load(DATA_NR),
    ];
    for nr in INJECTED_CALLS {
        insns.push(JumpIfEqual {
            k: nr as u32,
            then: Allow,
            otherwise: Next,
        });
    }
    insns.extend([
        Return(libc::SECCOMP_RET_KILL_PROCESS),
        Mark(Thread),
        Load(DATA_NR),
        JumpIfEqual {
            k: libc::SYS_clone as u32,
            then: Next,
            otherwise: Kill,
        },
        Load(DATA_ARG0_LOW),
        JumpIfEqual {
            k: THREAD_CLONE_FLAGS as u32,
            then: Next,
            otherwise: Kill,
        },
        Load(DATA_ARG0_HIGH),
        JumpIfEqual {
            k: 0,
            then: Allow,
            otherwise: Kill,
        },
        Mark(Kill),
        Return(libc::SECCOMP_RET_KILL_PROCESS),
        Mark(Allow),
        Return(libc::SECCOMP_RET_ALLOW),
    ]);
    assemble(&insns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions the filter uses, so the jump
    /// arithmetic is checked without installing anything.
    fn run(program: &[libc::sock_filter], nr: u32, arch: u32, ip: u64, arg0: u64) -> u32 {
        let data = |offset: u32| match offset {
            DATA_NR => nr,
            DATA_ARCH => arch,
            DATA_IP_LOW => ip as u32,
            DATA_IP_HIGH => (ip >> 32) as u32,
            DATA_ARG0_LOW => arg0 as u32,
            DATA_ARG0_HIGH => (arg0 >> 32) as u32,
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

    const ARCH: u32 = AUDIT_ARCH_X86_64;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

    #[test]
    fn allows_injected_calls_from_the_injection_site() {
        let program = stub_filter();
        for nr in INJECTED_CALLS {
            assert_eq!(run(&program, nr as u32, ARCH, INJECT_RETURN, 0), ALLOW, "call {nr}");
        }
    }

    #[test]
    fn allows_only_thread_clones_from_the_thread_site() {
        let program = stub_filter();
        let clone = libc::SYS_clone as u32;
        assert_eq!(run(&program, clone, ARCH, THREAD_RETURN, THREAD_CLONE_FLAGS), ALLOW);
        assert_eq!(
            run(&program, clone, ARCH, THREAD_RETURN, libc::SIGCHLD as u64),
            KILL,
            "fork"
        );
        assert_eq!(run(&program, clone, ARCH, INJECT_RETURN, THREAD_CLONE_FLAGS), KILL);
        assert_eq!(run(&program, libc::SYS_mmap as u32, ARCH, THREAD_RETURN, 0), KILL);
    }

    #[test]
    fn kills_everything_else() {
        let program = stub_filter();
        let ip = INJECT_RETURN;
        assert_eq!(run(&program, libc::SYS_getpid as u32, ARCH, ip, 0), KILL);
        assert_eq!(run(&program, libc::SYS_mmap as u32, ARCH, ip + 16 + 0x100, 0), KILL);
        assert_eq!(run(&program, libc::SYS_mmap as u32, ARCH, ip ^ 1 << 40, 0), KILL);
        assert_eq!(run(&program, libc::SYS_mmap as u32, 0x4000_0003, ip, 0), KILL);
    }
}
