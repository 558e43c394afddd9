//! wait4(2) and waitid(2): which children a wait selects, which changes of
//! state it reports, and the reaping of a zombie.

use std::time::Duration;

use nix::errno::Errno;

use super::{Life, TaskSet};
use crate::abi::ExitStatus;

/// Which children a wait selects (the pid argument of wait4, or idtype and
/// id of waitid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitTarget {
    Any,
    Pid(i32),
    Group(i32),
}

/// Which changes of state a wait reports, and how.
#[derive(Debug, Clone, Copy, Default)]
pub struct WaitOptions {
    pub exited: bool,
    pub stopped: bool,
    pub continued: bool,
    /// WNOWAIT: leave the child waitable.
    pub keep: bool,
    /// __WALL / __WCLONE: which exit signals count.
    pub all: bool,
    pub clone_only: bool,
}

/// What a wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitResult {
    pub pid: i32,
    pub uid: u32,
    pub event: WaitEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEvent {
    Exited {
        status: ExitStatus,
        cpu: Duration,
    },
    Stopped(i32),
    Continued,
    /// A tracee's ptrace-stop: its signal, with the event in the byte above
    /// (and 0x80 on the signal for a syscall stop under TRACESYSGOOD).
    Trapped(i32),
}

impl WaitEvent {
    /// The status word wait4(2) stores.
    pub fn status_word(&self) -> i32 {
        match *self {
            WaitEvent::Exited {
                status: ExitStatus::Exited(code),
                ..
            } => i32::from(code) << 8,
            WaitEvent::Exited {
                status: ExitStatus::Signaled(signal),
                ..
            } => signal & 0x7f,
            WaitEvent::Stopped(signal) => (signal << 8) | 0x7f,
            WaitEvent::Trapped(status) => (status << 8) | 0x7f,
            WaitEvent::Continued => 0xffff,
        }
    }
}

impl TaskSet {
    /// Looks for a child or tracee of `parent` with news for a wait: ECHILD
    /// when none matches at all, None when none has news yet. A tracee's
    /// stops and exits come first, whatever the __WALL/__WCLONE options
    /// (as Linux's eligible_child for ptrace).
    pub fn wait(&self, parent: i32, target: WaitTarget, options: WaitOptions) -> Result<Option<WaitResult>, Errno> {
        let mut inner = self.lock();
        let my_pgid = inner.processes.get(&parent).ok_or(Errno::ECHILD)?.pgid;
        let selected = |tid: i32, pgid: i32| match target {
            WaitTarget::Any => true,
            WaitTarget::Pid(pid) => tid == pid,
            WaitTarget::Group(0) => pgid == my_pgid,
            WaitTarget::Group(wanted) => pgid == wanted,
        };
        if let Some((pid, uid, event)) = Self::trace_news(&mut inner, parent, &selected, options) {
            return Ok(Some(WaitResult { pid, uid, event }));
        }
        let traces = Self::has_tracees(&inner, parent, &selected);
        let me = inner.processes.get(&parent).ok_or(Errno::ECHILD)?;
        let candidates: Vec<i32> = me
            .children
            .iter()
            .copied()
            .filter(|child| {
                let Some(entry) = inner.processes.get(child) else {
                    return false;
                };
                let selected = match target {
                    WaitTarget::Any => true,
                    WaitTarget::Pid(pid) => *child == pid,
                    WaitTarget::Group(0) => entry.pgid == my_pgid,
                    WaitTarget::Group(pgid) => entry.pgid == pgid,
                };
                // __WCLONE waits only for children whose exit signal is not
                // SIGCHLD; __WALL for both kinds.
                let clone_child = entry.exit_signal != libc::SIGCHLD;
                selected && (options.all || clone_child == options.clone_only)
            })
            .collect();
        if candidates.is_empty() {
            return if traces { Ok(None) } else { Err(Errno::ECHILD) };
        }
        for child in candidates {
            let entry = inner.processes.get_mut(&child).expect("candidate exists");
            let uid = entry.ruid;
            let event = match entry.life {
                Life::Zombie { status, cpu } if options.exited => WaitEvent::Exited { status, cpu },
                Life::Stopped {
                    signal,
                    reported: false,
                } if options.stopped => {
                    if !options.keep {
                        entry.life = Life::Stopped { signal, reported: true };
                    }
                    WaitEvent::Stopped(signal)
                }
                _ if entry.continued && options.continued => {
                    if !options.keep {
                        entry.continued = false;
                    }
                    WaitEvent::Continued
                }
                _ => continue,
            };
            if let WaitEvent::Exited { cpu, .. } = event {
                if !options.keep {
                    let reaped = inner
                        .processes
                        .remove(&child)
                        .map_or(Duration::ZERO, |entry| entry.children_cpu);
                    if let Some(me) = inner.processes.get_mut(&parent) {
                        me.children.remove(&child);
                        me.children_cpu += cpu + reaped;
                    }
                }
            }
            return Ok(Some(WaitResult { pid: child, uid, event }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::set::INIT_PID;
    use crate::task::set::testing::{exited, set_with_child};

    #[test]
    fn a_zombie_is_reaped_once() {
        let (tasks, child) = set_with_child();
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Ok(None));
        tasks.exit_thread(child, ExitStatus::Exited(3), Duration::ZERO);
        let result = tasks.wait(INIT_PID, WaitTarget::Pid(child), exited()).unwrap().unwrap();
        assert_eq!(result.event.status_word(), 3 << 8);
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Err(Errno::ECHILD));
        assert_eq!(
            tasks.pending(INIT_PID),
            0,
            "init has no SIGCHLD handler, so SIGCHLD is dropped"
        );
    }
}
