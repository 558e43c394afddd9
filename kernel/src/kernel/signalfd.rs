//! signalfd(2): signals read as a file. A read takes pending signals of the
//! file's mask out of the reader's queues (its thread's, then its
//! process's) and returns one struct signalfd_siginfo for each.
//!
//! Lock order: a read or poll takes the task set's lock (`take_signal`,
//! `pending`) and nothing else; a poll may run under an epoll instance's
//! `state`, which therefore comes before the task set's lock. The owner's
//! signal queue is notified by the task set under its lock.
//!
//! Readiness follows the process that created the file, as in gVisor:
//! Linux asks the polling thread's queues instead, which differs only when
//! the file is shared with another process, or for signals sent to one
//! thread other than the creator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use crate::abi::signal::{self, SI_KERNEL, SigInfo, SigSet};
use crate::kernel::Kernel;
use crate::sync::Blocking;
use crate::sync::WaitQueue;
use crate::vfs::File;
use crate::vfs::anon_inode;
use crate::vfs::caller::Caller;
use crate::vfs::status_flags::StatusFlags;

/// sizeof(struct signalfd_siginfo).
pub const SIGNALFD_SIGINFO_SIZE: usize = 128;

/// si_code of a POSIX timer's signal.
const SI_TIMER: i32 = -2;

/// A signalfd.
pub struct SignalFd {
    /// The signals it reads; never SIGKILL or SIGSTOP.
    mask: AtomicU64,
    /// The creating thread and its process, whose signals make the file
    /// readable.
    owner_tid: i32,
    owner_pid: i32,
    kernel: Weak<Kernel>,
    /// The owner process's signal queue.
    queue: Arc<WaitQueue>,
    flags: StatusFlags,
}

impl SignalFd {
    /// A signalfd for `mask`, made by thread `tid` of process `pid`.
    pub fn new(kernel: &Kernel, tid: i32, pid: i32, mask: SigSet, nonblock: bool) -> Self {
        let queue = kernel
            .core
            .tasks
            .signal_queue(pid)
            .expect("the calling process is in the task set");
        SignalFd {
            mask: AtomicU64::new(mask & !signal::UNBLOCKABLE),
            owner_tid: tid,
            owner_pid: pid,
            kernel: kernel.weak(),
            queue,
            flags: StatusFlags::read_write(nonblock),
        }
    }

    /// The file as a signalfd, if it is one.
    pub fn of(file: &dyn File) -> Option<&SignalFd> {
        file.as_any()?.downcast_ref::<SignalFd>()
    }

    /// signalfd(2) on an existing signalfd: replaces the mask.
    pub fn set_mask(&self, mask: SigSet) {
        self.mask.store(mask & !signal::UNBLOCKABLE, Ordering::Relaxed);
        self.queue.notify_all();
    }

    fn mask(&self) -> SigSet {
        self.mask.load(Ordering::Relaxed)
    }
}

/// The siginfo layouts signalfd_siginfo is filled from (Linux's
/// siginfo_layout()).
enum Layout {
    Kill,
    Timer,
    Rt,
    Child,
    Fault,
}

fn layout(info: &SigInfo) -> Layout {
    if info.code > 0 && info.code < SI_KERNEL {
        match info.signo {
            libc::SIGCHLD => Layout::Child,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP => Layout::Fault,
            _ => Layout::Kill,
        }
    } else if info.code == SI_TIMER {
        Layout::Timer
    } else if info.code < 0 {
        Layout::Rt
    } else {
        Layout::Kill
    }
}

/// struct signalfd_siginfo for one signal (include/uapi/linux/signalfd.h).
pub fn signalfd_siginfo(info: &SigInfo) -> [u8; SIGNALFD_SIGINFO_SIZE] {
    let mut out = [0u8; SIGNALFD_SIGINFO_SIZE];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &info.signo.to_le_bytes());
    put(4, &info.errno.to_le_bytes());
    put(8, &info.code.to_le_bytes());
    match layout(info) {
        Layout::Kill => {
            put(12, &info.pid.to_le_bytes());
            put(16, &info.uid.to_le_bytes());
        }
        Layout::Timer => {
            // The timer layout holds the timer id and overrun where the
            // kill layout holds pid and uid (see SigInfo::from_timer).
            put(24, &info.pid.to_le_bytes());
            put(32, &info.uid.to_le_bytes());
            put(44, &(info.value as i32).to_le_bytes());
            put(48, &info.value.to_le_bytes());
        }
        Layout::Rt => {
            put(12, &info.pid.to_le_bytes());
            put(16, &info.uid.to_le_bytes());
            put(44, &(info.value as i32).to_le_bytes());
            put(48, &info.value.to_le_bytes());
        }
        Layout::Child => {
            put(12, &info.pid.to_le_bytes());
            put(16, &info.uid.to_le_bytes());
            put(40, &info.status.to_le_bytes());
        }
        Layout::Fault => put(72, &info.addr.to_le_bytes()),
    }
    out
}

impl File for SignalFd {
    /// Takes as many signals as `buf` has room for; waits for the first.
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        let room = buf.len() / SIGNALFD_SIGINFO_SIZE;
        if room == 0 {
            return Err(Errno::EINVAL);
        }
        let kernel = self.kernel.upgrade().ok_or(Errno::EBADF)?;
        let (tasks, tid) = (&kernel.core.tasks, caller.tid());
        let nonblocking = self.flags.nonblocking();
        let first = caller.block_on(Some(&self.queue), None, || match tasks.take_signal(tid, self.mask()) {
            Some(info) => Some(Ok(info)),
            None => nonblocking.then_some(Err(Errno::EAGAIN)),
        })?;
        let infos = std::iter::once(first).chain(std::iter::from_fn(|| tasks.take_signal(tid, self.mask())));
        let mut done = 0;
        for (slot, info) in buf.chunks_exact_mut(SIGNALFD_SIGINFO_SIZE).zip(infos.take(room)) {
            slot.copy_from_slice(&signalfd_siginfo(&info));
            done += SIGNALFD_SIGINFO_SIZE;
        }
        Ok(done)
    }

    fn write(&self, _caller: &dyn Caller, _data: &[u8], _offset: Option<u64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        let Some(kernel) = self.kernel.upgrade() else {
            return 0;
        };
        let pending = kernel.core.tasks.pending(self.owner_tid) | kernel.core.tasks.process_pending(self.owner_pid);
        if pending & self.mask() != 0 {
            (libc::POLLIN | libc::POLLRDNORM) as u16
        } else {
            0
        }
    }

    anon_inode::anon_file_methods!("signalfd", queue);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32_at(bytes: &[u8], at: usize) -> i32 {
        i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn kill_and_queue_layouts() {
        let kill = signalfd_siginfo(&SigInfo::from_process(libc::SIGUSR1, signal::SI_USER, 42, 1000));
        assert_eq!(i32_at(&kill, 0), libc::SIGUSR1);
        assert_eq!(i32_at(&kill, 12), 42, "ssi_pid");
        assert_eq!(i32_at(&kill, 16), 1000, "ssi_uid");
        let queued = SigInfo {
            value: 7,
            ..SigInfo::from_process(libc::SIGRTMIN(), -1, 42, 0)
        };
        let queued = signalfd_siginfo(&queued);
        assert_eq!(i32_at(&queued, 44), 7, "ssi_int");
        assert_eq!(u64::from_le_bytes(queued[48..56].try_into().unwrap()), 7, "ssi_ptr");
    }

    #[test]
    fn child_and_timer_layouts() {
        let child = SigInfo {
            signo: libc::SIGCHLD,
            code: signal::CLD_EXITED,
            pid: 9,
            status: 3,
            ..Default::default()
        };
        let child = signalfd_siginfo(&child);
        assert_eq!((i32_at(&child, 12), i32_at(&child, 40)), (9, 3));
        let timer = signalfd_siginfo(&SigInfo::from_timer(libc::SIGALRM, SI_TIMER, 5, 2, 11));
        assert_eq!(i32_at(&timer, 24), 5, "ssi_tid holds the timer id");
        assert_eq!(i32_at(&timer, 32), 2, "ssi_overrun");
        assert_eq!(i32_at(&timer, 12), 0, "no ssi_pid");
    }
}
