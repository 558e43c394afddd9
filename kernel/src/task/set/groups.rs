//! Process groups and sessions: getpgid(2), getsid(2), setpgid(2),
//! setsid(2), the members of a group and whether it is orphaned.

use nix::errno::Errno;

use super::{Inner, Life, TaskSet};

impl TaskSet {
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
        entry.ctty = None;
        Ok(pid)
    }

    pub(super) fn group_members(inner: &Inner, pgid: i32) -> Vec<i32> {
        inner
            .processes
            .iter()
            .filter(|(_, entry)| entry.pgid == pgid)
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// The processes of process group `pgid`.
    pub fn process_group(&self, pgid: i32) -> Vec<i32> {
        Self::group_members(&self.lock(), pgid)
    }

    /// Whether group `pgrp` is orphaned: no member has a parent in another
    /// group of the same session (POSIX; Linux's will_become_orphaned_pgrp).
    pub(super) fn is_orphaned_group(inner: &Inner, pgrp: i32) -> bool {
        !inner.processes.values().any(|entry| {
            entry.pgid == pgrp
                && !matches!(entry.life, Life::Zombie { .. })
                && inner
                    .processes
                    .get(&entry.ppid)
                    .is_some_and(|parent| parent.pgid != pgrp && parent.sid == entry.sid)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::set::INIT_PID;
    use crate::task::set::testing::set_with_child;

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
