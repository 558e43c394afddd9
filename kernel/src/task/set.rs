//! The task set: the sandbox's PID namespace, with every process, their
//! family ties, process groups, sessions, pending signals and exit states.
//!
//! One lock guards all of it, as Linux's tasklist_lock guards the process
//! tree: operations that span processes (kill of a group, exit with
//! reparenting, wait) see one consistent picture.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;

use super::waker::Waker;
use crate::kernel::ExitStatus;
use crate::platform::Interrupt;
use crate::signal::{
    self, CLD_EXITED, CLD_KILLED, PendingSignals, SIG_DFL, SIG_IGN, SigAction, SigInfo, SigSet, SignalActions,
};

/// The pid of the container's init.
pub const INIT_PID: i32 = 1;
/// Linux's default pid_max.
const PID_MAX: i32 = 1 << 22;

/// How far a process has got in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Running,
    /// Stopped by a job-control signal; `reported` once a waiter saw it.
    Stopped {
        signal: i32,
        reported: bool,
    },
    /// Exited, waiting to be reaped.
    Zombie {
        status: ExitStatus,
        cpu: Duration,
    },
}

/// One process as the rest of the sandbox sees it.
pub struct ProcessEntry {
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub children: BTreeSet<i32>,
    pub life: Life,
    /// SIGCONT resumed it and no waiter has seen that yet (WCONTINUED).
    pub continued: bool,
    /// The signal the parent gets at exit (SIGCHLD, or the clone exit
    /// signal; 0 for none).
    pub exit_signal: i32,
    pub pending: PendingSignals,
    pub actions: SignalActions,
    /// The real uid, for kill(2) permission checks.
    pub uid: u32,
    /// PR_SET_CHILD_SUBREAPER.
    pub subreaper: bool,
    /// Has called execve: setpgid(2) by the parent is then EACCES.
    pub execed: bool,
    /// A vfork parent waits until this child execs or exits.
    pub vfork_done: bool,
    pub waker: Arc<Waker>,
    /// Kicks the task out of application code; None until it runs.
    pub interrupter: Option<Arc<dyn Interrupt>>,
}

impl ProcessEntry {
    fn new(ppid: i32, pgid: i32, sid: i32, uid: u32, exit_signal: i32, actions: SignalActions) -> Self {
        ProcessEntry {
            ppid,
            pgid,
            sid,
            children: BTreeSet::new(),
            life: Life::Running,
            continued: false,
            exit_signal,
            pending: PendingSignals::default(),
            actions,
            uid,
            subreaper: false,
            execed: false,
            vfork_done: false,
            waker: Waker::new(),
            interrupter: None,
        }
    }

    /// Wakes the task if it sleeps in the kernel, and kicks it out of
    /// application code if it runs there.
    fn wake(&self) {
        self.waker.notify();
        if let Some(interrupter) = &self.interrupter {
            interrupter.interrupt();
        }
    }
}

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
    Exited { status: ExitStatus, cpu: Duration },
    Stopped(i32),
    Continued,
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
            WaitEvent::Continued => 0xffff,
        }
    }
}

struct Inner {
    processes: BTreeMap<i32, ProcessEntry>,
    last_pid: i32,
}

/// Every process of the sandbox.
pub struct TaskSet {
    inner: Mutex<Inner>,
}

impl Default for TaskSet {
    fn default() -> Self {
        TaskSet {
            inner: Mutex::new(Inner {
                processes: BTreeMap::new(),
                last_pid: 0,
            }),
        }
    }
}

impl TaskSet {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("task set poisoned")
    }

    /// Registers the container's init (pid 1, its own group and session).
    pub fn create_init(&self, uid: u32) -> Arc<Waker> {
        let mut inner = self.lock();
        let entry = ProcessEntry::new(0, INIT_PID, INIT_PID, uid, 0, SignalActions::default());
        let waker = Arc::clone(&entry.waker);
        inner.processes.insert(INIT_PID, entry);
        inner.last_pid = INIT_PID;
        waker
    }

    /// Registers a child of `parent` (fork/clone). With `same_parent`
    /// (CLONE_PARENT) the child is a sibling of the caller instead.
    pub fn create_child(&self, parent: i32, exit_signal: i32, same_parent: bool) -> Result<(i32, Arc<Waker>), Errno> {
        let mut inner = self.lock();
        let caller = inner.processes.get(&parent).ok_or(Errno::ESRCH)?;
        let ppid = if same_parent { caller.ppid } else { parent };
        let entry = ProcessEntry::new(
            ppid,
            caller.pgid,
            caller.sid,
            caller.uid,
            exit_signal,
            caller.actions.clone(),
        );
        let waker = Arc::clone(&entry.waker);
        let pid = Self::allocate_pid(&mut inner)?;
        inner.processes.insert(pid, entry);
        if let Some(parent) = inner.processes.get_mut(&ppid) {
            parent.children.insert(pid);
        }
        Ok((pid, waker))
    }

    /// Forgets a child whose creation failed before it ran.
    pub fn abandon_child(&self, pid: i32) {
        let mut inner = self.lock();
        if let Some(entry) = inner.processes.remove(&pid) {
            if let Some(parent) = inner.processes.get_mut(&entry.ppid) {
                parent.children.remove(&pid);
            }
        }
    }

    fn allocate_pid(inner: &mut Inner) -> Result<i32, Errno> {
        for _ in 0..PID_MAX {
            inner.last_pid = if inner.last_pid >= PID_MAX - 1 {
                2
            } else {
                inner.last_pid + 1
            };
            let pid = inner.last_pid;
            let in_use = inner.processes.values().any(|p| p.pgid == pid || p.sid == pid);
            if !inner.processes.contains_key(&pid) && !in_use {
                return Ok(pid);
            }
        }
        Err(Errno::EAGAIN)
    }

    pub fn set_interrupter(&self, pid: i32, interrupter: Arc<dyn Interrupt>) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            entry.interrupter = Some(interrupter);
        }
    }

    pub fn ppid(&self, pid: i32) -> i32 {
        self.lock().processes.get(&pid).map_or(0, |entry| entry.ppid)
    }

    /// The number of processes alive or zombie.
    pub fn count(&self) -> usize {
        self.lock().processes.len()
    }

    /// Runs `f` on the signal dispositions of `pid`.
    pub fn with_actions<T>(&self, pid: i32, f: impl FnOnce(&mut SignalActions) -> T) -> T {
        let mut inner = self.lock();
        let entry = inner
            .processes
            .get_mut(&pid)
            .expect("a running task is in the task set");
        f(&mut entry.actions)
    }

    /// The signals pending for `pid`.
    pub fn pending(&self, pid: i32) -> SigSet {
        self.lock().processes.get(&pid).map_or(0, |entry| entry.pending.set())
    }

    /// Whether `pid` has a signal to act on when `blocked` is its mask.
    pub fn has_deliverable(&self, pid: i32, blocked: SigSet) -> bool {
        self.lock()
            .processes
            .get(&pid)
            .is_some_and(|entry| entry.pending.set() & !(blocked & !signal::UNBLOCKABLE) != 0)
    }

    /// Takes the next signal for `pid` to act on, with its disposition.
    /// Ignored signals are dropped on the way.
    pub fn dequeue_signal(&self, pid: i32, blocked: SigSet) -> Option<(SigInfo, SigAction)> {
        let mut inner = self.lock();
        let entry = inner.processes.get_mut(&pid)?;
        loop {
            let info = entry.pending.dequeue(blocked & !signal::UNBLOCKABLE)?;
            let action = entry.actions.get(info.signo);
            if action.handler == SIG_IGN && info.signo != libc::SIGKILL && info.signo != libc::SIGSTOP {
                continue;
            }
            return Some((info, action));
        }
    }

    /// Drops pending instances of the signals in `set`.
    pub fn discard_pending(&self, pid: i32, set: SigSet) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            entry.pending.discard(set);
        }
    }

    /// Takes a specific pending signal out of the queue (sigtimedwait).
    pub fn take_signal(&self, pid: i32, set: SigSet) -> Option<SigInfo> {
        let mut inner = self.lock();
        let entry = inner.processes.get_mut(&pid)?;
        let ready = entry.pending.set() & set;
        (ready != 0)
            .then(|| entry.pending.take(ready.trailing_zeros() as i32 + 1))
            .flatten()
    }

    /// Sends a signal, applying the rules of Linux's send_signal: ignored
    /// signals are dropped at once, the namespace's init only receives
    /// signals it handles, SIGCONT resumes a stopped process and cancels
    /// pending stops, a stop signal cancels a pending SIGCONT.
    pub fn send(&self, pid: i32, info: SigInfo) -> Result<(), Errno> {
        let mut inner = self.lock();
        Self::send_locked(&mut inner, pid, info)
    }

    fn send_locked(inner: &mut Inner, pid: i32, info: SigInfo) -> Result<(), Errno> {
        let entry = inner.processes.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if matches!(entry.life, Life::Zombie { .. }) || info.signo == 0 {
            return Ok(());
        }
        let signo = info.signo;
        let action = entry.actions.get(signo);
        if pid == INIT_PID && action.handler == SIG_DFL && !is_fault(&info) {
            // An init only gets the signals it has handlers for (pid_namespaces(7)).
            return Ok(());
        }
        if signo == libc::SIGCONT {
            entry.pending.discard(STOP_SIGNALS);
            if let Life::Stopped { .. } = entry.life {
                entry.life = Life::Running;
                entry.continued = true;
                let ppid = entry.ppid;
                Self::notify_parent_locked(inner, ppid, pid, WaitEvent::Continued);
            }
        } else if STOP_SIGNALS & signal::bit(signo) != 0 {
            entry.pending.discard(signal::bit(libc::SIGCONT));
        }
        let entry = inner.processes.get_mut(&pid).expect("looked up above");
        if entry.actions.ignores(signo) && signo != libc::SIGKILL && !is_fault(&info) {
            return Ok(());
        }
        entry.pending.enqueue(info);
        entry.wake();
        Ok(())
    }

    /// Whether `sender` (with uid `uid`) may signal `target`: root, or the
    /// same uid (kill(2) without saved set-user-ids).
    fn may_signal(inner: &Inner, uid: u32, target: i32) -> bool {
        uid == 0 || inner.processes.get(&target).is_some_and(|entry| entry.uid == uid)
    }

    /// kill(2): `pid` > 0 one process, 0 the caller's group, -1 everyone
    /// but init and the caller, < -1 the group -pid.
    pub fn kill(&self, sender: i32, uid: u32, pid: i32, info: SigInfo) -> Result<(), Errno> {
        let mut inner = self.lock();
        let targets: Vec<i32> = match pid {
            p if p > 0 => vec![p],
            0 => {
                let pgid = inner.processes.get(&sender).map_or(0, |entry| entry.pgid);
                Self::group_members(&inner, pgid)
            }
            -1 => inner
                .processes
                .keys()
                .copied()
                .filter(|&p| p != INIT_PID && p != sender)
                .collect(),
            p => Self::group_members(&inner, p.checked_neg().ok_or(Errno::ESRCH)?),
        };
        let alive: Vec<i32> = targets
            .into_iter()
            .filter(|p| {
                inner
                    .processes
                    .get(p)
                    .is_some_and(|entry| !matches!(entry.life, Life::Zombie { .. }) || pid > 0)
            })
            .collect();
        if alive.is_empty() {
            return Err(Errno::ESRCH);
        }
        let permitted: Vec<i32> = alive
            .iter()
            .copied()
            .filter(|&p| Self::may_signal(&inner, uid, p))
            .collect();
        if permitted.is_empty() {
            return Err(Errno::EPERM);
        }
        for target in permitted {
            Self::send_locked(&mut inner, target, info)?;
        }
        Ok(())
    }

    fn group_members(inner: &Inner, pgid: i32) -> Vec<i32> {
        inner
            .processes
            .iter()
            .filter(|(_, entry)| entry.pgid == pgid)
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// A job-control stop takes effect: the parent hears of it.
    pub fn stop(&self, pid: i32, signal: i32) {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        entry.life = Life::Stopped {
            signal,
            reported: false,
        };
        let ppid = entry.ppid;
        Self::notify_parent_locked(&mut inner, ppid, pid, WaitEvent::Stopped(signal));
    }

    /// Whether `pid` is stopped (and must stay off the CPU).
    pub fn is_stopped(&self, pid: i32) -> bool {
        self.lock()
            .processes
            .get(&pid)
            .is_some_and(|entry| matches!(entry.life, Life::Stopped { .. }))
    }

    /// Tells the parent about a stop or continue: SIGCHLD unless
    /// SA_NOCLDSTOP, and a wake-up for its waits.
    fn notify_parent_locked(inner: &mut Inner, ppid: i32, child: i32, event: WaitEvent) {
        let Some(parent) = inner.processes.get(&ppid) else {
            return;
        };
        parent.waker.notify();
        let action = parent.actions.get(libc::SIGCHLD);
        if action.flags & signal::SA_NOCLDSTOP == 0 {
            let code = match event {
                WaitEvent::Stopped(_) => 5, // CLD_STOPPED
                _ => 6,                     // CLD_CONTINUED
            };
            let status = match event {
                WaitEvent::Stopped(signal) => signal,
                _ => libc::SIGCONT,
            };
            let uid = inner.processes.get(&child).map_or(0, |entry| entry.uid);
            let info = SigInfo {
                signo: libc::SIGCHLD,
                code,
                pid: child,
                uid,
                status,
                ..Default::default()
            };
            let _ = Self::send_locked(inner, ppid, info);
        }
    }

    /// The process is gone: it becomes a zombie, its children go to the
    /// nearest subreaper or init, and its parent gets the exit signal. When
    /// init exits, every other process is killed (pid_namespaces(7)).
    pub fn exit(&self, pid: i32, status: ExitStatus, cpu: Duration) {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        entry.life = Life::Zombie { status, cpu };
        entry.vfork_done = true;
        entry.interrupter = None;
        entry.pending = PendingSignals::default();
        let children = std::mem::take(&mut entry.children);
        let (ppid, exit_signal, uid) = (entry.ppid, entry.exit_signal, entry.uid);

        if pid == INIT_PID {
            for (&other, entry) in inner.processes.iter_mut() {
                if other != INIT_PID && !matches!(entry.life, Life::Zombie { .. }) {
                    entry.pending.enqueue(SigInfo::from_kernel(libc::SIGKILL));
                    entry.wake();
                }
            }
        }
        let reaper = Self::reaper_for(&inner, ppid);
        for child in children {
            if let Some(entry) = inner.processes.get_mut(&child) {
                entry.ppid = reaper;
            }
            if let Some(reaper) = inner.processes.get_mut(&reaper) {
                reaper.children.insert(child);
                reaper.waker.notify();
            }
        }
        let Some(parent) = inner.processes.get(&ppid) else {
            // The init's parent is outside the sandbox: the control plane
            // reads the status from the task's own result.
            return;
        };
        parent.waker.notify();
        let action = parent.actions.get(libc::SIGCHLD);
        let autoreap =
            exit_signal == libc::SIGCHLD && (action.handler == SIG_IGN || action.flags & signal::SA_NOCLDWAIT != 0);
        if exit_signal > 0 {
            let (code, value) = match status {
                ExitStatus::Exited(code) => (CLD_EXITED, i32::from(code)),
                ExitStatus::Signaled(signal) => (CLD_KILLED, signal),
            };
            let info = SigInfo {
                signo: exit_signal,
                code,
                pid,
                uid,
                status: value,
                ..Default::default()
            };
            let _ = Self::send_locked(&mut inner, ppid, info);
        }
        if autoreap {
            inner.processes.remove(&pid);
            if let Some(parent) = inner.processes.get_mut(&ppid) {
                parent.children.remove(&pid);
            }
        }
    }

    /// The process that adopts the orphans of a child of `ancestor`: the
    /// nearest living subreaper among its ancestors, else init.
    fn reaper_for(inner: &Inner, ancestor: i32) -> i32 {
        let mut at = ancestor;
        while let Some(entry) = inner.processes.get(&at) {
            if entry.subreaper && !matches!(entry.life, Life::Zombie { .. }) {
                return at;
            }
            at = entry.ppid;
        }
        INIT_PID
    }

    pub fn set_subreaper(&self, pid: i32, on: bool) {
        if let Some(entry) = self.lock().processes.get_mut(&pid) {
            entry.subreaper = on;
        }
    }

    pub fn is_subreaper(&self, pid: i32) -> bool {
        self.lock().processes.get(&pid).is_some_and(|entry| entry.subreaper)
    }

    /// Looks for a child of `parent` with news for a wait: ECHILD when no
    /// child matches at all, None when none has news yet.
    pub fn wait(&self, parent: i32, target: WaitTarget, options: WaitOptions) -> Result<Option<WaitResult>, Errno> {
        let mut inner = self.lock();
        let me = inner.processes.get(&parent).ok_or(Errno::ECHILD)?;
        let my_pgid = me.pgid;
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
            return Err(Errno::ECHILD);
        }
        for child in candidates {
            let entry = inner.processes.get_mut(&child).expect("candidate exists");
            let uid = entry.uid;
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
            if matches!(event, WaitEvent::Exited { .. }) && !options.keep {
                inner.processes.remove(&child);
                if let Some(me) = inner.processes.get_mut(&parent) {
                    me.children.remove(&child);
                }
            }
            return Ok(Some(WaitResult { pid: child, uid, event }));
        }
        Ok(None)
    }

    /// Marks that `pid` exec'd: its vfork parent may go on, and its parent
    /// may no longer change its process group.
    pub fn exec_done(&self, pid: i32) {
        let mut inner = self.lock();
        let Some(entry) = inner.processes.get_mut(&pid) else {
            return;
        };
        entry.execed = true;
        entry.vfork_done = true;
        let ppid = entry.ppid;
        if let Some(parent) = inner.processes.get(&ppid) {
            parent.waker.notify();
        }
    }

    pub fn vfork_done(&self, child: i32) -> bool {
        self.lock().processes.get(&child).is_none_or(|entry| entry.vfork_done)
    }

    /// getpgid(2).
    pub fn pgid(&self, pid: i32) -> Result<i32, Errno> {
        self.lock()
            .processes
            .get(&pid)
            .map(|entry| entry.pgid)
            .ok_or(Errno::ESRCH)
    }

    /// getsid(2).
    pub fn sid(&self, pid: i32) -> Result<i32, Errno> {
        self.lock()
            .processes
            .get(&pid)
            .map(|entry| entry.sid)
            .ok_or(Errno::ESRCH)
    }

    /// setpgid(2) called by `caller` (arguments already defaulted).
    pub fn setpgid(&self, caller: i32, pid: i32, pgid: i32) -> Result<(), Errno> {
        let mut inner = self.lock();
        let caller_sid = inner.processes.get(&caller).ok_or(Errno::ESRCH)?.sid;
        let target = inner.processes.get(&pid).ok_or(Errno::ESRCH)?;
        if pid != caller {
            if target.ppid != caller {
                return Err(Errno::ESRCH);
            }
            if target.sid != caller_sid {
                return Err(Errno::EPERM);
            }
            if target.execed {
                return Err(Errno::EACCES);
            }
        }
        if target.sid == pid {
            return Err(Errno::EPERM);
        }
        if pgid != pid
            && !inner
                .processes
                .values()
                .any(|entry| entry.pgid == pgid && entry.sid == caller_sid)
        {
            return Err(Errno::EPERM);
        }
        inner.processes.get_mut(&pid).expect("looked up above").pgid = pgid;
        Ok(())
    }

    /// setsid(2).
    pub fn setsid(&self, pid: i32) -> Result<i32, Errno> {
        let mut inner = self.lock();
        if inner.processes.values().any(|entry| entry.pgid == pid) {
            return Err(Errno::EPERM);
        }
        let entry = inner.processes.get_mut(&pid).ok_or(Errno::ESRCH)?;
        entry.sid = pid;
        entry.pgid = pid;
        Ok(pid)
    }
}

/// Job-control stop signals.
const STOP_SIGNALS: SigSet =
    signal::bit(libc::SIGSTOP) | signal::bit(libc::SIGTSTP) | signal::bit(libc::SIGTTIN) | signal::bit(libc::SIGTTOU);

/// Whether a signal was raised by the CPU for the process's own instruction
/// (delivered even when blocked or ignored, as Linux's force_sig does).
pub fn is_fault(info: &SigInfo) -> bool {
    info.code > 0
        && info.code != signal::SI_KERNEL
        && matches!(
            info.signo,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with_child() -> (TaskSet, i32) {
        let tasks = TaskSet::default();
        tasks.create_init(0);
        let (child, _) = tasks.create_child(INIT_PID, libc::SIGCHLD, false).unwrap();
        (tasks, child)
    }

    fn exited() -> WaitOptions {
        WaitOptions {
            exited: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_zombie_is_reaped_once() {
        let (tasks, child) = set_with_child();
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Ok(None));
        tasks.exit(child, ExitStatus::Exited(3), Duration::ZERO);
        let result = tasks.wait(INIT_PID, WaitTarget::Pid(child), exited()).unwrap().unwrap();
        assert_eq!(result.event.status_word(), 3 << 8);
        assert_eq!(tasks.wait(INIT_PID, WaitTarget::Any, exited()), Err(Errno::ECHILD));
        assert_eq!(
            tasks.pending(INIT_PID),
            0,
            "init has no SIGCHLD handler, so SIGCHLD is dropped"
        );
    }

    #[test]
    fn orphans_go_to_init() {
        let (tasks, child) = set_with_child();
        let (grandchild, _) = tasks.create_child(child, libc::SIGCHLD, false).unwrap();
        tasks.exit(child, ExitStatus::Exited(0), Duration::ZERO);
        assert_eq!(tasks.ppid(grandchild), INIT_PID);
    }

    #[test]
    fn init_ignores_default_signals_but_children_get_them() {
        let (tasks, child) = set_with_child();
        tasks
            .kill(child, 0, INIT_PID, SigInfo::from_process(libc::SIGTERM, 0, child, 0))
            .unwrap();
        assert_eq!(tasks.pending(INIT_PID), 0);
        tasks
            .kill(INIT_PID, 0, child, SigInfo::from_process(libc::SIGTERM, 0, 1, 0))
            .unwrap();
        assert_eq!(tasks.pending(child), signal::bit(libc::SIGTERM));
    }

    #[test]
    fn kill_checks_existence_and_permission() {
        let (tasks, child) = set_with_child();
        assert_eq!(
            tasks.kill(1, 0, 999, SigInfo::from_process(libc::SIGTERM, 0, 1, 0)),
            Err(Errno::ESRCH)
        );
        assert_eq!(
            tasks.kill(1, 1000, child, SigInfo::from_process(libc::SIGTERM, 0, 1, 1000)),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn sessions_and_groups() {
        let (tasks, child) = set_with_child();
        assert_eq!(tasks.setsid(INIT_PID), Err(Errno::EPERM), "init leads its group");
        assert_eq!(tasks.setsid(child), Ok(child));
        assert_eq!(tasks.sid(child), Ok(child));
        assert_eq!(tasks.pgid(child), Ok(child));
        assert_eq!(
            tasks.setpgid(child, child, child),
            Err(Errno::EPERM),
            "a session leader cannot move"
        );
    }
}
