//! Signals: numbers and sets, siginfo, dispositions, default actions and
//! the pending queue of a process. Delivery (the frame on the user stack)
//! is in `crate::mm::frame`.

use std::collections::VecDeque;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A set of signals: bit (n - 1) stands for signal n, as in the kernel's
/// 64-bit x86-64 sigset_t.
pub type SigSet = u64;

pub const NSIG: i32 = 64;

/// The bit of `signal` in a SigSet.
pub const fn bit(signal: i32) -> SigSet {
    1 << (signal - 1)
}

/// SIGKILL and SIGSTOP can be neither caught, ignored nor blocked.
pub const UNBLOCKABLE: SigSet = bit(libc::SIGKILL) | bit(libc::SIGSTOP);

/// Signals the CPU raises for the instruction that ran; delivered first.
const SYNCHRONOUS: SigSet = bit(libc::SIGSEGV)
    | bit(libc::SIGBUS)
    | bit(libc::SIGILL)
    | bit(libc::SIGTRAP)
    | bit(libc::SIGFPE)
    | bit(libc::SIGSYS);

pub fn valid(signal: i32) -> bool {
    (1..=NSIG).contains(&signal)
}

/// sa_flags bits (include/uapi/asm-generic/signal-defs.h, x86 signal.h).
pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// si_code values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
/// SYS_SECCOMP: a SIGSYS raised by a seccomp filter's TRAP.
pub const SYS_SECCOMP: i32 = 1;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;

/// Linux's x86-64 `struct sigaction` as rt_sigaction(2) passes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// What a signal does when its disposition is SIG_DFL (signal(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate "and dump core"; no core is written (RLIMIT_CORE is 0).
    Core,
    Stop,
    Continue,
    Ignore,
}

pub fn default_action(signal: i32) -> DefaultAction {
    match signal {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => DefaultAction::Ignore,
        libc::SIGCONT => DefaultAction::Continue,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        libc::SIGQUIT
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGABRT
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGSEGV
        | libc::SIGXCPU
        | libc::SIGXFSZ
        | libc::SIGSYS => DefaultAction::Core,
        _ => DefaultAction::Terminate,
    }
}

/// The dispositions of all signals, shared by a process's threads.
#[derive(Debug, Clone)]
pub struct SignalActions {
    actions: [SigAction; NSIG as usize],
}

impl Default for SignalActions {
    fn default() -> Self {
        SignalActions {
            actions: [SigAction::default(); NSIG as usize],
        }
    }
}

impl SignalActions {
    /// Precondition: `valid(signal)`.
    pub fn get(&self, signal: i32) -> SigAction {
        self.actions[signal as usize - 1]
    }

    /// Precondition: `valid(signal)`.
    pub fn set(&mut self, signal: i32, action: SigAction) {
        self.actions[signal as usize - 1] = action;
    }

    /// Whether a signal sent now would be discarded on arrival: ignored
    /// explicitly, or by default.
    pub fn ignores(&self, signal: i32) -> bool {
        let action = self.get(signal);
        action.handler == SIG_IGN || (action.handler == SIG_DFL && default_action(signal) == DefaultAction::Ignore)
    }

    /// execve(2): caught signals go back to their default; ignored ones stay.
    pub fn reset_for_exec(&mut self) {
        for action in &mut self.actions {
            if action.handler != SIG_IGN {
                *action = SigAction::default();
            }
        }
    }
}

/// A siginfo_t, kept in the fields cordon fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    /// The sender (kill), or the child (SIGCHLD).
    pub pid: i32,
    pub uid: u32,
    /// SIGCHLD: exit code or signal.
    pub status: i32,
    /// Faults: the address.
    pub addr: u64,
    /// sigqueue(3) and timers: the sigval passed along.
    pub value: u64,
    /// SIGSYS from seccomp: the call's number and architecture (`addr` is
    /// the address after its instruction, `errno` the filter's data).
    pub syscall: i32,
    pub arch: u32,
}

impl SigInfo {
    /// A signal sent by a process with kill(2) (`SI_USER`) or tkill(2)
    /// (`SI_TKILL`).
    pub fn from_process(signo: i32, code: i32, pid: i32, uid: u32) -> Self {
        SigInfo {
            signo,
            code,
            pid,
            uid,
            ..Default::default()
        }
    }

    /// A signal the kernel raises itself (SIGPIPE, the death of init).
    pub fn from_kernel(signo: i32) -> Self {
        SigInfo {
            signo,
            code: SI_KERNEL,
            ..Default::default()
        }
    }

    /// A signal from a timer: siginfo's timer layout puts the timer id and
    /// overrun count where the kill layout has pid and uid.
    pub fn from_timer(signo: i32, code: i32, timer: i32, overrun: u32, value: u64) -> Self {
        SigInfo {
            signo,
            code,
            pid: timer,
            uid: overrun,
            value,
            ..Default::default()
        }
    }

    /// A siginfo_t an application built itself (rt_sigqueueinfo): the kill
    /// layout, with the value.
    pub fn from_user(signo: i32, bytes: &[u8; 128]) -> Self {
        let i32_at = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        SigInfo {
            signo,
            errno: i32_at(4),
            code: i32_at(8),
            pid: i32_at(16),
            uid: i32_at(20) as u32,
            value: u64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes")),
            ..Default::default()
        }
    }

    /// The 128 bytes of siginfo_t as the x86-64 ABI lays them out.
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        out[0..4].copy_from_slice(&self.signo.to_le_bytes());
        out[4..8].copy_from_slice(&self.errno.to_le_bytes());
        out[8..12].copy_from_slice(&self.code.to_le_bytes());
        // The union starts at offset 16.
        let fault = matches!(
            self.signo,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
        ) && self.code > 0
            && self.code != SI_KERNEL;
        if fault {
            out[16..24].copy_from_slice(&self.addr.to_le_bytes());
        } else if self.signo == libc::SIGSYS && self.code == SYS_SECCOMP {
            out[16..24].copy_from_slice(&self.addr.to_le_bytes());
            out[24..28].copy_from_slice(&self.syscall.to_le_bytes());
            out[28..32].copy_from_slice(&self.arch.to_le_bytes());
        } else {
            out[16..20].copy_from_slice(&self.pid.to_le_bytes());
            out[20..24].copy_from_slice(&self.uid.to_le_bytes());
            if self.signo == libc::SIGCHLD {
                out[24..28].copy_from_slice(&self.status.to_le_bytes());
            } else {
                out[24..32].copy_from_slice(&self.value.to_le_bytes());
            }
        }
        out
    }
}

/// Signals pending for a process, with their siginfo. Standard signals
/// coalesce; real-time signals queue.
#[derive(Debug, Clone, Default)]
pub struct PendingSignals {
    set: SigSet,
    queue: VecDeque<SigInfo>,
}

impl PendingSignals {
    pub fn set(&self) -> SigSet {
        self.set
    }

    /// The queued signals, in delivery order of arrival.
    pub fn queued(&self) -> impl Iterator<Item = &SigInfo> {
        self.queue.iter()
    }

    pub fn enqueue(&mut self, info: SigInfo) {
        let realtime = info.signo >= libc::SIGRTMIN();
        if self.set & bit(info.signo) != 0 && !realtime {
            return;
        }
        self.set |= bit(info.signo);
        self.queue.push_back(info);
    }

    /// Takes the next signal not in `blocked`: synchronous ones first, then
    /// the lowest number.
    pub fn dequeue(&mut self, blocked: SigSet) -> Option<SigInfo> {
        let ready = self.set & !blocked;
        if ready == 0 {
            return None;
        }
        let choice = if ready & SYNCHRONOUS != 0 {
            ready & SYNCHRONOUS
        } else {
            ready
        };
        let signo = choice.trailing_zeros() as i32 + 1;
        self.take(signo)
    }

    /// Removes one instance of `signo`, with its siginfo.
    pub fn take(&mut self, signo: i32) -> Option<SigInfo> {
        let index = self.queue.iter().position(|info| info.signo == signo)?;
        let info = self.queue.remove(index).expect("index found above");
        if !self.queue.iter().any(|info| info.signo == signo) {
            self.set &= !bit(signo);
        }
        Some(info)
    }

    /// Drops every pending instance of the signals in `set`.
    pub fn discard(&mut self, set: SigSet) {
        self.queue.retain(|info| bit(info.signo) & set == 0);
        self.set &= !set;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_signals_coalesce_and_realtime_ones_queue() {
        let mut pending = PendingSignals::default();
        pending.enqueue(SigInfo::from_kernel(libc::SIGUSR1));
        pending.enqueue(SigInfo::from_kernel(libc::SIGUSR1));
        let rt = libc::SIGRTMIN() + 1;
        pending.enqueue(SigInfo::from_kernel(rt));
        pending.enqueue(SigInfo::from_kernel(rt));
        assert_eq!(pending.dequeue(0).map(|i| i.signo), Some(libc::SIGUSR1));
        assert_eq!(pending.dequeue(0).map(|i| i.signo), Some(rt));
        assert_eq!(pending.set(), bit(rt));
        assert_eq!(pending.dequeue(0).map(|i| i.signo), Some(rt));
        assert_eq!(pending.dequeue(0), None);
    }

    #[test]
    fn blocked_signals_wait_and_faults_go_first() {
        let mut pending = PendingSignals::default();
        pending.enqueue(SigInfo::from_kernel(libc::SIGHUP));
        pending.enqueue(SigInfo::from_kernel(libc::SIGSEGV));
        assert_eq!(pending.dequeue(0).map(|i| i.signo), Some(libc::SIGSEGV));
        assert_eq!(pending.dequeue(bit(libc::SIGHUP)), None);
        assert_eq!(pending.dequeue(0).map(|i| i.signo), Some(libc::SIGHUP));
    }

    #[test]
    fn siginfo_layout_puts_the_union_at_16() {
        let bytes = SigInfo::from_process(libc::SIGUSR1, SI_USER, 7, 1000).to_bytes();
        assert_eq!(i32::from_le_bytes(bytes[0..4].try_into().unwrap()), libc::SIGUSR1);
        assert_eq!(i32::from_le_bytes(bytes[16..20].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 1000);
    }
}
