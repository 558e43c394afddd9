//! Who a thread is (credentials(7)): its user and group ids, real,
//! effective, saved and filesystem; its supplementary groups; its
//! capabilities and securebits. Permission checks ask these, never "is
//! uid 0": root is privileged through its capabilities, as on Linux.

use super::capability::{CapSet, Capabilities, Capability, FS_CAPABILITIES};

/// SECBIT_NOROOT: uid 0 gets no capabilities at execve.
pub const SECBIT_NOROOT: u32 = 1 << 0;
/// SECBIT_NO_SETUID_FIXUP: uid changes leave the capability sets alone.
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
/// SECBIT_KEEP_CAPS: leaving uid 0 keeps the permitted set.
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
/// SECBIT_NO_CAP_AMBIENT_RAISE: the ambient set cannot grow.
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// SECBIT_KEEP_CAPS_LOCKED: SECBIT_KEEP_CAPS can no longer change.
pub const SECBIT_KEEP_CAPS_LOCKED: u32 = SECBIT_KEEP_CAPS << 1;
/// Every securebit and its lock bit (the lock is the bit above).
pub const SECUREBITS_ALL: u32 = 0xff;
/// The lock bits alone.
pub const SECUREBITS_LOCKS: u32 = 0xaa;

/// The identity a thread runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Real, effective, saved set- and filesystem user id.
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    /// Real, effective, saved set- and filesystem group id.
    pub rgid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    /// Supplementary groups, sorted (repeats stay, as on Linux).
    pub groups: Vec<u32>,
    pub caps: Capabilities,
    pub securebits: u32,
    /// PR_SET_NO_NEW_PRIVS. Linux keeps it beside the credentials rather
    /// than in them, but it travels the same way: inherited by fork and
    /// clone, kept across execve, never cleared.
    pub no_new_privs: bool,
}

/// What execve learns of the file it runs, for its set-user-id and
/// set-group-id bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecFileIds {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The file's mount ignores set-id bits (MS_NOSUID).
    pub nosuid: bool,
}

/// Which of a tracer's ids a ptrace-style access check compares
/// (PTRACE_MODE_REALCREDS or PTRACE_MODE_FSCREDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessIds {
    Real,
    Filesystem,
}

/// The kernel itself: uid 0 with every capability.
impl Default for Credentials {
    fn default() -> Self {
        Credentials::new(0, 0, Vec::new())
    }
}

impl Credentials {
    /// Every id of both kinds `uid` and `gid`, with `groups`; capabilities
    /// as Linux gives a process of that uid that nothing narrowed: all of
    /// them for uid 0, none otherwise.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>) -> Credentials {
        let caps = if uid == 0 {
            Capabilities::FULL
        } else {
            Capabilities::NONE
        };
        Credentials::with_caps(uid, gid, groups, caps)
    }

    /// As [`Credentials::new`], with the capability sets given (the OCI
    /// spec's `process.capabilities`).
    pub fn with_caps(uid: u32, gid: u32, mut groups: Vec<u32>, caps: Capabilities) -> Credentials {
        groups.sort_unstable();
        Credentials {
            ruid: uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            rgid: gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups,
            caps,
            securebits: 0,
            no_new_privs: false,
        }
    }

    /// Whether a thread with these credentials may inspect or trace one
    /// with `target`'s (Linux's __ptrace_may_access without an LSM): its
    /// chosen uid and gid match all three of the target's, and its
    /// permitted set covers the target's; or it holds CAP_SYS_PTRACE.
    pub fn may_access(&self, target: &Credentials, ids: AccessIds) -> bool {
        if self.has(Capability::SYS_PTRACE) {
            return true;
        }
        let (uid, gid) = match ids {
            AccessIds::Real => (self.ruid, self.rgid),
            AccessIds::Filesystem => (self.fsuid, self.fsgid),
        };
        let same_user = [target.ruid, target.euid, target.suid].iter().all(|&id| id == uid)
            && [target.rgid, target.egid, target.sgid].iter().all(|&id| id == gid);
        same_user && target.caps.permitted.is_subset(self.caps.permitted)
    }

    /// Whether the thread holds `cap` in its effective set (capable()).
    pub fn has(&self, cap: Capability) -> bool {
        self.caps.effective.contains(cap)
    }

    /// Whether `gid` is the filesystem group or a supplementary group
    /// (in_group_p()).
    pub fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.binary_search(&gid).is_ok()
    }

    /// Whether `gid` is the effective group or a supplementary group
    /// (in_egroup_p()).
    pub fn in_egroup(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.binary_search(&gid).is_ok()
    }

    /// The credentials a successful execve of `file` runs the new image
    /// with: Linux's bprm_fill_uid and cap_bprm_creds_from_file for a
    /// kernel without file capabilities. A set-user-id (or set-group-id
    /// and group-executable) file lends its owner as the effective id,
    /// unless the mount is nosuid or no_new_privs is set; uid 0 (real or
    /// effective) gets the bounding and inheritable sets as permitted,
    /// unless SECBIT_NOROOT; effective uid 0 raises them all; otherwise
    /// only the ambient set survives. `unsafe_exec` (a tracer without the
    /// privilege to follow) keeps the ids and capabilities from growing.
    pub fn for_exec(&self, file: &ExecFileIds, unsafe_exec: bool) -> Credentials {
        let mut new = self.clone();
        if !file.nosuid && !self.no_new_privs {
            if file.mode & libc::S_ISUID != 0 {
                new.euid = file.uid;
            }
            let setgid = libc::S_ISGID | libc::S_IXGRP;
            if file.mode & setgid == setgid {
                new.egid = file.gid;
            }
        }
        new.caps.permitted = CapSet::EMPTY;
        let mut raise_all = false;
        if self.securebits & SECBIT_NOROOT == 0 {
            if new.euid == 0 || new.ruid == 0 {
                new.caps.permitted = self.caps.bounding.union(self.caps.inheritable);
            }
            raise_all = new.euid == 0;
        }
        // Linux compares the new effective ids with the old real ones.
        let is_setid = new.euid != self.ruid || new.egid != self.rgid;
        let gained = !new.caps.permitted.is_subset(self.caps.permitted);
        if (is_setid || gained) && (unsafe_exec || self.no_new_privs) {
            if !self.has(Capability::SETUID) || self.no_new_privs {
                new.euid = new.ruid;
                new.egid = new.rgid;
            }
            new.caps.permitted = new.caps.permitted.intersection(self.caps.permitted);
        }
        (new.suid, new.fsuid) = (new.euid, new.euid);
        (new.sgid, new.fsgid) = (new.egid, new.egid);
        if is_setid {
            new.caps.ambient = CapSet::EMPTY;
        }
        new.caps.permitted = new.caps.permitted.union(new.caps.ambient);
        new.caps.effective = if raise_all {
            new.caps.permitted
        } else {
            new.caps.ambient
        };
        new.securebits &= !SECBIT_KEEP_CAPS;
        new
    }

    /// Adjusts the capability sets after the user ids changed from
    /// `old`'s (capabilities(7), "Effect of user ID changes on
    /// capabilities"; Linux's cap_task_fix_setuid).
    pub fn fix_caps_after_setuid(&mut self, old: &Credentials) {
        if self.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        let had_root = old.ruid == 0 || old.euid == 0 || old.suid == 0;
        let has_root = self.ruid == 0 || self.euid == 0 || self.suid == 0;
        if had_root && !has_root {
            if self.securebits & SECBIT_KEEP_CAPS == 0 {
                self.caps.permitted = CapSet::EMPTY;
            }
            self.caps.effective = CapSet::EMPTY;
            self.caps.ambient = CapSet::EMPTY;
        }
        if old.euid == 0 && self.euid != 0 {
            self.caps.effective = CapSet::EMPTY;
        }
        if old.euid != 0 && self.euid == 0 {
            self.caps.effective = self.caps.permitted;
        }
    }

    /// Adjusts the effective set after the filesystem uid changed from
    /// `old_fsuid` (cap_task_fix_setuid's LSM_SETID_FS case).
    pub fn fix_caps_after_setfsuid(&mut self, old_fsuid: u32) {
        if self.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        if old_fsuid == 0 && self.fsuid != 0 {
            self.caps.effective = self.caps.effective.difference(FS_CAPABILITIES);
        }
        if old_fsuid != 0 && self.fsuid == 0 {
            self.caps.effective = self
                .caps
                .effective
                .union(self.caps.permitted.intersection(FS_CAPABILITIES));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_leaving_uid_zero_loses_its_capabilities_unless_it_keeps_them() {
        let root = Credentials::new(0, 0, vec![]);
        let mut user = root.clone();
        (user.ruid, user.euid, user.suid, user.fsuid) = (1000, 1000, 1000, 1000);
        user.fix_caps_after_setuid(&root);
        assert_eq!(user.caps.permitted, CapSet::EMPTY);
        assert_eq!(user.caps.effective, CapSet::EMPTY);

        let mut keeping = root.clone();
        keeping.securebits = SECBIT_KEEP_CAPS;
        let before = keeping.clone();
        (keeping.ruid, keeping.euid, keeping.suid, keeping.fsuid) = (1000, 1000, 1000, 1000);
        keeping.fix_caps_after_setuid(&before);
        assert_eq!(keeping.caps.permitted, CapSet::ALL);
        assert_eq!(keeping.caps.effective, CapSet::EMPTY);
    }

    #[test]
    fn a_saved_root_uid_gets_the_effective_set_back() {
        let root = Credentials::new(0, 0, vec![]);
        let mut dropped = root.clone();
        (dropped.euid, dropped.fsuid) = (1000, 1000);
        dropped.fix_caps_after_setuid(&root);
        assert!(dropped.caps.effective.is_empty());
        assert_eq!(dropped.caps.permitted, CapSet::ALL);
        let before = dropped.clone();
        (dropped.euid, dropped.fsuid) = (0, 0);
        dropped.fix_caps_after_setuid(&before);
        assert_eq!(dropped.caps.effective, CapSet::ALL);
    }

    #[test]
    fn groups_are_kept_sorted_for_lookups() {
        let creds = Credentials::new(1000, 1000, vec![30, 10, 20, 10]);
        assert_eq!(creds.groups, [10, 10, 20, 30]);
        assert!(creds.in_group(20) && creds.in_group(1000) && !creds.in_group(40));
    }

    fn file(mode: u32, uid: u32) -> ExecFileIds {
        ExecFileIds {
            mode,
            uid,
            gid: uid,
            nosuid: false,
        }
    }

    #[test]
    fn exec_gives_root_its_bounding_set_and_others_only_ambient() {
        let mut root = Credentials::new(0, 0, vec![]);
        root.caps.bounding.remove(Capability::SYS_ADMIN);
        root.caps.effective = CapSet::EMPTY;
        let after = root.for_exec(&file(0o755, 0), false);
        assert_eq!(after.caps.permitted, root.caps.bounding);
        assert_eq!(after.caps.effective, root.caps.bounding);

        let mut user = Credentials::new(1000, 1000, vec![]);
        let kill: CapSet = [Capability::KILL].into_iter().collect();
        (user.caps.permitted, user.caps.inheritable, user.caps.ambient) = (kill, kill, kill);
        let after = user.for_exec(&file(0o755, 0), false);
        assert_eq!((after.caps.permitted, after.caps.effective), (kill, kill));
    }

    #[test]
    fn a_setuid_file_lends_its_owner_unless_no_new_privs_or_nosuid() {
        let user = Credentials::new(1000, 1000, vec![]);
        let after = user.for_exec(&file(0o4755, 0), false);
        assert_eq!((after.ruid, after.euid, after.suid, after.fsuid), (1000, 0, 0, 0));
        assert_eq!(after.caps.effective, CapSet::ALL);

        let mut nnp = user.clone();
        nnp.no_new_privs = true;
        let after = nnp.for_exec(&file(0o4755, 0), false);
        assert_eq!((after.euid, after.caps.permitted), (1000, CapSet::EMPTY));

        let mut on_nosuid = file(0o4755, 0);
        on_nosuid.nosuid = true;
        assert_eq!(user.for_exec(&on_nosuid, false).euid, 1000);
        // set-group-id without group execute is mandatory locking, not setgid.
        assert_eq!(user.for_exec(&file(0o2745, 50), false).egid, 1000);
        assert_eq!(user.for_exec(&file(0o2755, 50), false).egid, 50);
    }
}
