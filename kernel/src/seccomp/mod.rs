//! Seccomp for applications (seccomp(2)): a thread's mode and its stack of
//! BPF filters, and the verdict they give on one system call before the
//! kernel serves it. Strict mode allows read, write, _exit and
//! rt_sigreturn. In filter mode every filter of the stack runs and the
//! most restrictive result wins (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO,
//! USER_NOTIF, TRACE, LOG, ALLOW), as on Linux.
//!
//! A stack is shared: a child starts with its parent's, execve keeps it,
//! and installing a filter makes a new stack on top of the old one. Each
//! filter remembers, per call number, the result it gives whatever the
//! arguments (when its program reads only the number and architecture for
//! that call), so that most calls cost a table lookup per filter: Linux's
//! seccomp action cache.

mod bpf;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

pub use bpf::{MAX_INSTRUCTIONS, Program};

/// AUDIT_ARCH_X86_64: the only architecture the sandbox serves calls of.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Filter results: the action in the high 16 bits, data in the low.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION_FULL: u32 = 0xffff_0000;
const RET_DATA: u32 = 0x0000_ffff;
/// MAX_ERRNO: an ERRNO result's data is capped there.
const MAX_ERRNO: u16 = 4095;
/// MAX_INSNS_PER_PATH: the instructions of a whole stack, each filter
/// counted with 4 more for its overhead.
const MAX_STACK_INSTRUCTIONS: usize = 32768;

/// The calls strict mode allows (x86-64 numbers of read, write, rt_sigreturn, exit).
const STRICT_CALLS: [i64; 4] = [0, 1, 15, 60];

/// `struct seccomp_data`: what a filter sees of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit little-endian word at `offset` of the structure's
    /// 64-byte layout.
    fn word(&self, offset: u32) -> u32 {
        let low = |value: u64| u32::try_from(value & 0xffff_ffff).expect("masked");
        let high = |value: u64| u32::try_from(value >> 32).expect("shifted");
        match offset {
            0 => u32::from_ne_bytes(self.nr.to_ne_bytes()),
            4 => self.arch,
            8 => low(self.instruction_pointer),
            12 => high(self.instruction_pointer),
            _ => {
                let arg = self.args[((offset - 16) / 8) as usize];
                if offset % 8 == 0 { low(arg) } else { high(arg) }
            }
        }
    }
}

impl bpf::Input for SeccompData {
    fn word(&self, offset: u32) -> Option<u32> {
        Some(SeccompData::word(self, offset))
    }
}

/// The number and architecture of a call, and nothing else: a run on it
/// fails as soon as the program looks at the instruction pointer or an
/// argument.
struct NumberOnly {
    nr: i32,
}

impl bpf::Input for NumberOnly {
    fn word(&self, offset: u32) -> Option<u32> {
        match offset {
            0 => Some(u32::from_ne_bytes(self.nr.to_ne_bytes())),
            4 => Some(AUDIT_ARCH_X86_64),
            _ => None,
        }
    }
}

/// Call numbers the cache covers; past them every call runs the program.
const CACHED_CALLS: usize = 512;
/// Cache words: unknown yet, or known not to depend on the number alone;
/// otherwise the result with this bit set.
const CACHE_UNKNOWN: u64 = 0;
const CACHE_VARIES: u64 = 1;
const CACHE_KNOWN: u64 = 1 << 32;

/// One installed filter, on top of the ones installed before it.
pub struct Filter {
    program: Program,
    below: Option<Arc<Filter>>,
    cache: Vec<AtomicU64>,
}

impl Filter {
    /// The result of this filter alone.
    fn run(&self, data: &SeccompData) -> u32 {
        let Some(slot) = usize::try_from(data.nr).ok().and_then(|nr| self.cache.get(nr)) else {
            return self.program.run(data).expect("the whole data is known");
        };
        match slot.load(Ordering::Relaxed) {
            CACHE_UNKNOWN => {
                let constant = self.program.run(&NumberOnly { nr: data.nr });
                slot.store(
                    constant.map_or(CACHE_VARIES, |ret| CACHE_KNOWN | u64::from(ret)),
                    Ordering::Relaxed,
                );
                constant.unwrap_or_else(|| self.program.run(data).expect("the whole data is known"))
            }
            CACHE_VARIES => self.program.run(data).expect("the whole data is known"),
            known => u32::try_from(known & 0xffff_ffff).expect("masked"),
        }
    }
}

/// A thread's seccomp mode (PR_GET_SECCOMP's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Disabled,
    Strict,
    Filter,
}

impl Mode {
    pub fn number(self) -> u32 {
        match self {
            Mode::Disabled => 0,
            Mode::Strict => 1,
            Mode::Filter => 2,
        }
    }
}

/// A thread's seccomp state.
#[derive(Clone, Default)]
pub struct Seccomp {
    mode: Mode,
    top: Option<Arc<Filter>>,
    filters: usize,
    instructions: usize,
}

impl std::fmt::Debug for Seccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seccomp")
            .field("mode", &self.mode)
            .field("filters", &self.filters)
            .finish_non_exhaustive()
    }
}

/// The same state: the same mode over the very same filters.
impl PartialEq for Seccomp {
    fn eq(&self, other: &Seccomp) -> bool {
        let same_top = match (&self.top, &other.top) {
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            (None, None) => true,
            _ => false,
        };
        self.mode == other.mode && same_top
    }
}

impl Eq for Seccomp {}

/// What the filters decide about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it (also for LOG, with `logged`).
    Allow {
        logged: bool,
    },
    /// Fail it with this errno, unserved (0: succeed, unserved).
    Errno(u16),
    /// SIGSYS with this data in si_errno; the call is not served.
    Trap(u16),
    /// TRACE: for a tracer that asked for seccomp events, with this data.
    Trace(u16),
    /// USER_NOTIF: no listener can exist, so ENOSYS.
    UserNotif,
    KillThread,
    KillProcess,
    /// Strict mode's end for a call it does not allow: SIGKILL.
    StrictKill,
}

impl Seccomp {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How many filters the stack holds (/proc's Seccomp_filters).
    pub fn filter_count(&self) -> usize {
        self.filters
    }

    /// Strict mode (SECCOMP_SET_MODE_STRICT); EINVAL over filters.
    pub fn set_strict(&mut self) -> Result<(), Errno> {
        if self.mode == Mode::Filter {
            return Err(Errno::EINVAL);
        }
        self.mode = Mode::Strict;
        Ok(())
    }

    /// Adds a filter on top (SECCOMP_SET_MODE_FILTER): EINVAL in strict
    /// mode, ENOMEM past the instructions a stack may hold.
    pub fn push(&mut self, program: Program) -> Result<(), Errno> {
        if self.mode == Mode::Strict {
            return Err(Errno::EINVAL);
        }
        let instructions = self.instructions + program.len() + 4;
        if instructions > MAX_STACK_INSTRUCTIONS {
            return Err(Errno::ENOMEM);
        }
        let filter = Filter {
            program,
            below: self.top.take(),
            cache: (0..CACHED_CALLS).map(|_| AtomicU64::new(CACHE_UNKNOWN)).collect(),
        };
        self.top = Some(Arc::new(filter));
        self.mode = Mode::Filter;
        self.filters += 1;
        self.instructions = instructions;
        Ok(())
    }

    /// Whether `self` may be replaced by `other` in a thread synchronizing
    /// with `other`'s (TSYNC): it has no mode yet, or its filters are the
    /// bottom of `other`'s stack.
    pub fn is_below(&self, other: &Seccomp) -> bool {
        match (self.mode, &self.top) {
            (Mode::Disabled, _) => true,
            (Mode::Filter, Some(mine)) => {
                let mut walker = other.top.as_ref();
                while let Some(filter) = walker {
                    if Arc::ptr_eq(filter, mine) {
                        return true;
                    }
                    walker = filter.below.as_ref();
                }
                false
            }
            _ => false,
        }
    }

    /// The verdict on a call.
    pub fn check(&self, data: &SeccompData) -> Verdict {
        match self.mode {
            Mode::Disabled => Verdict::Allow { logged: false },
            Mode::Strict if STRICT_CALLS.contains(&i64::from(data.nr)) => Verdict::Allow { logged: false },
            Mode::Strict => Verdict::StrictKill,
            Mode::Filter => self.run_filters(data),
        }
    }

    fn run_filters(&self, data: &SeccompData) -> Verdict {
        let mut result = RET_ALLOW;
        let mut walker = self.top.as_ref();
        while let Some(filter) = walker {
            let ret = filter.run(data);
            // The lowest action, compared as signed, is the most restrictive.
            if action_rank(ret) < action_rank(result) {
                result = ret;
            }
            walker = filter.below.as_ref();
        }
        verdict(result)
    }
}

fn action_rank(ret: u32) -> i32 {
    i32::from_ne_bytes((ret & RET_ACTION_FULL).to_ne_bytes())
}

/// What a filter's return value means (Linux's __seccomp_filter; an
/// unknown action kills the process).
fn verdict(ret: u32) -> Verdict {
    let data = u16::try_from(ret & RET_DATA).expect("masked to 16 bits");
    match ret & RET_ACTION_FULL {
        RET_ALLOW => Verdict::Allow { logged: false },
        RET_LOG => Verdict::Allow { logged: true },
        RET_ERRNO => Verdict::Errno(data.min(MAX_ERRNO)),
        RET_TRAP => Verdict::Trap(data),
        RET_TRACE => Verdict::Trace(data),
        RET_USER_NOTIF => Verdict::UserNotif,
        RET_KILL_THREAD => Verdict::KillThread,
        _ => Verdict::KillProcess,
    }
}

/// Whether the kernel knows the action `action` (SECCOMP_GET_ACTION_AVAIL).
/// USER_NOTIF is not built: a kernel without it answers EOPNOTSUPP.
pub fn action_available(action: u32) -> bool {
    matches!(
        action,
        RET_KILL_PROCESS | RET_KILL_THREAD | RET_TRAP | RET_ERRNO | RET_TRACE | RET_LOG | RET_ALLOW
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::structs::SockFilter;

    fn ret(k: u32) -> SockFilter {
        SockFilter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A program: `result` for call `nr`, ALLOW otherwise.
    fn for_call(nr: u32, result: u32) -> Program {
        Program::new(&[
            SockFilter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 0,
            },
            SockFilter {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: nr,
            },
            ret(result),
            ret(RET_ALLOW),
        ])
        .unwrap()
    }

    fn call(nr: i32) -> SeccompData {
        SeccompData {
            nr,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: 0,
            args: [0; 6],
        }
    }

    #[test]
    fn the_most_restrictive_result_of_the_stack_wins() {
        let mut seccomp = Seccomp::default();
        seccomp.push(for_call(110, RET_ERRNO | 1)).unwrap();
        assert_eq!(seccomp.check(&call(110)), Verdict::Errno(1));
        seccomp.push(for_call(110, RET_KILL_PROCESS)).unwrap();
        assert_eq!(seccomp.check(&call(110)), Verdict::KillProcess);
        assert_eq!(seccomp.check(&call(39)), Verdict::Allow { logged: false });
        assert_eq!((seccomp.mode(), seccomp.filter_count()), (Mode::Filter, 2));
        // Asked twice, the cached answer is the same.
        assert_eq!(seccomp.check(&call(110)), Verdict::KillProcess);
    }

    #[test]
    fn errno_data_is_capped_and_unknown_actions_kill() {
        assert_eq!(verdict(RET_ERRNO | 5000), Verdict::Errno(4095));
        assert_eq!(verdict(0x1234_0000), Verdict::KillProcess);
        assert_eq!(verdict(RET_TRAP | 42), Verdict::Trap(42));
    }

    #[test]
    fn strict_mode_allows_four_calls_and_excludes_filters() {
        let mut seccomp = Seccomp::default();
        seccomp.set_strict().unwrap();
        assert_eq!(seccomp.check(&call(1)), Verdict::Allow { logged: false });
        assert_eq!(seccomp.check(&call(39)), Verdict::StrictKill);
        assert_eq!(seccomp.push(for_call(1, RET_ALLOW)), Err(Errno::EINVAL));
    }

    #[test]
    fn a_thread_synchronizes_only_onto_a_stack_it_is_the_bottom_of() {
        let mut base = Seccomp::default();
        base.push(for_call(1, RET_ALLOW)).unwrap();
        let mut caller = base.clone();
        caller.push(for_call(2, RET_ALLOW)).unwrap();
        assert!(base.is_below(&caller) && Seccomp::default().is_below(&caller));
        let mut other = base.clone();
        other.push(for_call(3, RET_ALLOW)).unwrap();
        assert!(!other.is_below(&caller));
    }

    #[test]
    fn a_stack_holds_a_bounded_number_of_instructions() {
        let big = Program::new(&vec![ret(RET_ALLOW); MAX_INSTRUCTIONS]).unwrap();
        let mut seccomp = Seccomp::default();
        for _ in 0..7 {
            seccomp.push(big.clone()).unwrap();
        }
        assert_eq!(seccomp.push(big), Err(Errno::ENOMEM));
    }
}
