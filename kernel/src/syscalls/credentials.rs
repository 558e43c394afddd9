//! The thread's identity (credentials(7), capabilities(7)): the user and
//! group ids and their set* calls, supplementary groups, the capability
//! sets (capget, capset, the capability prctls). Each thread has its own
//! credentials, as on Linux; libc makes set*id process-wide by calling it
//! in every thread.

use nix::errno::Errno;
use zerocopy::IntoBytes;

use super::context::TaskCtx;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::capability::{CapSet, Capability};
use crate::abi::credentials::{
    Credentials, SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE, SECUREBITS_ALL,
    SECUREBITS_LOCKS,
};
use crate::abi::errno::SyscallResult;
use crate::abi::structs::{CapUserData, CapUserHeader};

/// The id that stands for "leave this one" in the set*id calls, and that
/// no user or group can have.
const UNCHANGED: u32 = u32::MAX;
/// NGROUPS_MAX.
const MAX_GROUPS: usize = 65536;

/// Implements getuid(2).
pub fn getuid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().ruid))
}

/// Implements geteuid(2).
pub fn geteuid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().euid))
}

/// Implements getgid(2).
pub fn getgid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().rgid))
}

/// Implements getegid(2).
pub fn getegid(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    Ok(u64::from(task.credentials().egid))
}

/// Implements getresuid(2).
pub fn getresuid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let creds = task.credentials();
    let ids = [creds.ruid, creds.euid, creds.suid];
    write_ids(task, args, ids)
}

/// Implements getresgid(2).
pub fn getresgid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let creds = task.credentials();
    let ids = [creds.rgid, creds.egid, creds.sgid];
    write_ids(task, args, ids)
}

fn write_ids(task: &TaskCtx, args: &SyscallArgs, ids: [u32; 3]) -> SyscallResult {
    let mm = task.mm();
    for (i, id) in ids.iter().enumerate() {
        mm.write_pod(args.addr(i), id)?;
    }
    Ok(0)
}

/// The user or the group half of the credentials, so that each rule of the
/// set*id calls is written once for both.
#[derive(Clone, Copy)]
enum Ids {
    User,
    Group,
}

impl Ids {
    /// Real, effective, saved and filesystem id.
    fn get(self, creds: &Credentials) -> [u32; 4] {
        match self {
            Ids::User => [creds.ruid, creds.euid, creds.suid, creds.fsuid],
            Ids::Group => [creds.rgid, creds.egid, creds.sgid, creds.fsgid],
        }
    }

    fn set(self, creds: &mut Credentials, [real, effective, saved, fs]: [u32; 4]) {
        match self {
            Ids::User => (creds.ruid, creds.euid, creds.suid, creds.fsuid) = (real, effective, saved, fs),
            Ids::Group => (creds.rgid, creds.egid, creds.sgid, creds.fsgid) = (real, effective, saved, fs),
        }
    }

    /// The capability that lifts the rules on changing these ids.
    fn capability(self) -> Capability {
        match self {
            Ids::User => Capability::SETUID,
            Ids::Group => Capability::SETGID,
        }
    }
}

/// Commits new ids: user id changes also change the capability sets
/// (capabilities(7)).
fn commit(task: &mut TaskCtx, ids: Ids, new_ids: [u32; 4]) -> SyscallResult {
    let old = task.credentials().clone();
    let mut new = old.clone();
    ids.set(&mut new, new_ids);
    if let Ids::User = ids {
        new.fix_caps_after_setuid(&old);
    }
    task.set_credentials(new);
    Ok(0)
}

/// setuid(2) and setgid(2): with the capability, all of real, effective
/// and saved; without it, the effective id, to the real or the saved one.
fn set_id(task: &mut TaskCtx, ids: Ids, id: u32) -> SyscallResult {
    if id == UNCHANGED {
        return Err(Errno::EINVAL);
    }
    let creds = task.credentials();
    let [real, _, saved, _] = ids.get(creds);
    let new = if creds.has(ids.capability()) {
        [id, id, id, id]
    } else if id == real || id == saved {
        [real, id, saved, id]
    } else {
        return Err(Errno::EPERM);
    };
    commit(task, ids, new)
}

/// setreuid(2) and setregid(2): the real id may become the effective one,
/// the effective id the real or saved one; the saved id follows the new
/// effective one when the real id was set or the effective one left it.
fn set_re(task: &mut TaskCtx, ids: Ids, real: u32, effective: u32) -> SyscallResult {
    let creds = task.credentials();
    let privileged = creds.has(ids.capability());
    let [old_real, old_effective, old_saved, _] = ids.get(creds);
    let mut new = [old_real, old_effective, old_saved, old_effective];
    if real != UNCHANGED {
        if !privileged && real != old_real && real != old_effective {
            return Err(Errno::EPERM);
        }
        new[0] = real;
    }
    if effective != UNCHANGED {
        if !privileged && ![old_real, old_effective, old_saved].contains(&effective) {
            return Err(Errno::EPERM);
        }
        new[1] = effective;
    }
    if real != UNCHANGED || (effective != UNCHANGED && effective != old_real) {
        new[2] = new[1];
    }
    new[3] = new[1];
    commit(task, ids, new)
}

/// setresuid(2) and setresgid(2): without the capability, each id may only
/// become one of the current three.
fn set_res(task: &mut TaskCtx, ids: Ids, wanted: [u32; 3]) -> SyscallResult {
    let creds = task.credentials();
    let privileged = creds.has(ids.capability());
    let [real, effective, saved, _] = ids.get(creds);
    let current = [real, effective, saved];
    let mut new = current;
    for (slot, id) in new.iter_mut().zip(wanted) {
        if id == UNCHANGED {
            continue;
        }
        if !privileged && !current.contains(&id) {
            return Err(Errno::EPERM);
        }
        *slot = id;
    }
    commit(task, ids, [new[0], new[1], new[2], new[1]])
}

/// setfsuid(2) and setfsgid(2): return the old filesystem id, whether or
/// not it changed; it changes to any of the other three ids, or to
/// anything with the capability.
fn set_fs(task: &mut TaskCtx, ids: Ids, id: u32) -> SyscallResult {
    let old = task.credentials().clone();
    let [real, effective, saved, fs] = ids.get(&old);
    if id != UNCHANGED && ([real, effective, saved, fs].contains(&id) || old.has(ids.capability())) && id != fs {
        let mut new = old.clone();
        ids.set(&mut new, [real, effective, saved, id]);
        if let Ids::User = ids {
            new.fix_caps_after_setfsuid(fs);
        }
        task.set_credentials(new);
    }
    Ok(u64::from(fs))
}

/// Implements setuid(2).
pub fn setuid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_id(task, Ids::User, args.u32(0))
}

/// Implements setgid(2).
pub fn setgid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_id(task, Ids::Group, args.u32(0))
}

/// Implements setreuid(2).
pub fn setreuid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_re(task, Ids::User, args.u32(0), args.u32(1))
}

/// Implements setregid(2).
pub fn setregid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_re(task, Ids::Group, args.u32(0), args.u32(1))
}

/// Implements setresuid(2).
pub fn setresuid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_res(task, Ids::User, [args.u32(0), args.u32(1), args.u32(2)])
}

/// Implements setresgid(2).
pub fn setresgid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_res(task, Ids::Group, [args.u32(0), args.u32(1), args.u32(2)])
}

/// Implements setfsuid(2).
pub fn setfsuid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_fs(task, Ids::User, args.u32(0))
}

/// Implements setfsgid(2).
pub fn setfsgid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_fs(task, Ids::Group, args.u32(0))
}

/// Implements getgroups(2).
pub fn getgroups(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // The size is an int: negative is EINVAL.
    let size = usize::try_from(args.int(0)).map_err(|_| Errno::EINVAL)?;
    let groups = &task.credentials().groups;
    if size == 0 {
        return Ok(usize_to_u64(groups.len()));
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|gid| gid.to_le_bytes()).collect();
    task.mm().copy_out(args.addr(1), &bytes)?;
    Ok(usize_to_u64(groups.len()))
}

/// Implements setgroups(2).
pub fn setgroups(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if !task.credentials().has(Capability::SETGID) {
        return Err(Errno::EPERM);
    }
    let size = usize::try_from(args.int(0)).map_err(|_| Errno::EINVAL)?;
    if size > MAX_GROUPS {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; size * 4];
    task.mm().copy_in(args.addr(1), &mut bytes)?;
    let mut groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes(word.try_into().expect("chunks of four")))
        .collect();
    if groups.contains(&UNCHANGED) {
        return Err(Errno::EINVAL);
    }
    groups.sort_unstable();
    let mut new = task.credentials().clone();
    new.groups = groups;
    task.set_credentials(new);
    Ok(0)
}

/// _LINUX_CAPABILITY_VERSION_1: one 32-bit word per set.
const CAP_VERSION_1: u32 = 0x1998_0330;
/// _LINUX_CAPABILITY_VERSION_2, which version 3 replaced for a bug in
/// how libraries used it; the layout is the same.
const CAP_VERSION_2: u32 = 0x2007_1026;
/// _LINUX_CAPABILITY_VERSION_3: two words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Reads the header of capget and capset: how many data words its version
/// carries, and the pid. An unknown version is EINVAL, with the version
/// the kernel prefers written back, which is how libraries ask for it.
fn cap_header(task: &TaskCtx, args: &SyscallArgs) -> Result<(usize, i32), Errno> {
    let header: CapUserHeader = task.mm().read_pod(args.addr(0))?;
    match header.version {
        CAP_VERSION_1 => Ok((1, header.pid)),
        CAP_VERSION_2 | CAP_VERSION_3 => Ok((2, header.pid)),
        _ => {
            let preferred = CapUserHeader {
                version: CAP_VERSION_3,
                ..header
            };
            task.mm().write_pod(args.addr(0), &preferred)?;
            Err(Errno::EINVAL)
        }
    }
}

/// Implements capget(2): the caller's sets, or another thread's.
pub fn capget(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let header = cap_header(task, args);
    let data = args.addr(1);
    let (words, pid) = match header {
        // Asking for the version alone is not an error.
        Err(Errno::EINVAL) if data.is_null() => return Ok(0),
        Err(errno) => return Err(errno),
        Ok(_) if data.is_null() => return Ok(0),
        Ok(found) => found,
    };
    let caps = match pid {
        pid if pid < 0 => return Err(Errno::EINVAL),
        0 => task.credentials().caps,
        pid if pid == task.tid() => task.credentials().caps,
        pid => task.tasks().view(pid).ok_or(Errno::ESRCH)?.credentials.caps,
    };
    let [effective, permitted, inheritable] = [caps.effective, caps.permitted, caps.inheritable].map(CapSet::words);
    let out: [CapUserData; 2] = std::array::from_fn(|i| CapUserData {
        effective: effective[i],
        permitted: permitted[i],
        inheritable: inheritable[i],
    });
    task.mm().copy_out(data, out[..words].as_bytes())?;
    Ok(0)
}

/// Implements capset(2): only the caller's own sets; the permitted set can
/// only shrink, effective stays within permitted, inheritable within
/// inheritable and permitted (or the bounding set, with CAP_SETPCAP). The
/// ambient set loses what leaves permitted or inheritable.
pub fn capset(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (words, pid) = cap_header(task, args)?;
    if pid != 0 && pid != task.tid() {
        return Err(Errno::EPERM);
    }
    // Version 1 leaves the high words zero.
    let mut data = [CapUserData::default(); 2];
    task.mm().copy_in(args.addr(1), data[..words].as_mut_bytes())?;
    let set = |word: fn(&CapUserData) -> u32| CapSet::from_words([word(&data[0]), word(&data[1])]);
    let (effective, permitted, inheritable) = (set(|d| d.effective), set(|d| d.permitted), set(|d| d.inheritable));
    let old = task.credentials();
    let inheritable_limit = if old.has(Capability::SETPCAP) {
        old.caps.bounding
    } else {
        old.caps.permitted
    };
    if !inheritable.is_subset(old.caps.inheritable.union(inheritable_limit))
        || !inheritable.is_subset(old.caps.inheritable.union(old.caps.bounding))
        || !permitted.is_subset(old.caps.permitted)
        || !effective.is_subset(permitted)
    {
        return Err(Errno::EPERM);
    }
    let mut new = old.clone();
    new.caps.effective = effective;
    new.caps.permitted = permitted;
    new.caps.inheritable = inheritable;
    new.caps.ambient = new.caps.ambient.intersection(permitted.intersection(inheritable));
    task.set_credentials(new);
    Ok(0)
}

/// PR_CAP_AMBIENT's operations.
const PR_CAP_AMBIENT_IS_SET: u64 = 1;
const PR_CAP_AMBIENT_RAISE: u64 = 2;
const PR_CAP_AMBIENT_LOWER: u64 = 3;
const PR_CAP_AMBIENT_CLEAR_ALL: u64 = 4;

/// The prctl(2) options about privileges: the bounding and ambient sets,
/// securebits, keep-capabilities and no_new_privs. None for any other
/// option.
pub fn privilege_prctl(task: &mut TaskCtx, args: &SyscallArgs) -> Option<SyscallResult> {
    let option = args.int(0);
    let result = match option {
        libc::PR_CAPBSET_READ => {
            capability_arg(args.u64(1)).map(|cap| u64::from(task.credentials().caps.bounding.contains(cap)))
        }
        libc::PR_CAPBSET_DROP => capability_arg(args.u64(1)).and_then(|cap| {
            if !task.credentials().has(Capability::SETPCAP) {
                return Err(Errno::EPERM);
            }
            let mut new = task.credentials().clone();
            new.caps.bounding.remove(cap);
            task.set_credentials(new);
            Ok(0)
        }),
        libc::PR_CAP_AMBIENT => ambient(task, args),
        libc::PR_GET_SECUREBITS => Ok(u64::from(task.credentials().securebits)),
        libc::PR_SET_SECUREBITS => set_securebits(task, args.u64(1)),
        libc::PR_GET_KEEPCAPS => Ok(u64::from(task.credentials().securebits & SECBIT_KEEP_CAPS != 0)),
        libc::PR_SET_KEEPCAPS => match args.u64(1) {
            keep @ (0 | 1) => {
                let creds = task.credentials();
                if creds.securebits & SECBIT_KEEP_CAPS_LOCKED != 0 {
                    Err(Errno::EPERM)
                } else {
                    let mut new = creds.clone();
                    new.securebits &= !SECBIT_KEEP_CAPS;
                    if keep == 1 {
                        new.securebits |= SECBIT_KEEP_CAPS;
                    }
                    task.set_credentials(new);
                    Ok(0)
                }
            }
            _ => Err(Errno::EINVAL),
        },
        libc::PR_SET_NO_NEW_PRIVS => {
            if args.u64(1) != 1 || args.u64(2) != 0 || args.u64(3) != 0 || args.u64(4) != 0 {
                Err(Errno::EINVAL)
            } else {
                let mut new = task.credentials().clone();
                new.no_new_privs = true;
                task.set_credentials(new);
                Ok(0)
            }
        }
        libc::PR_GET_NO_NEW_PRIVS => {
            if args.u64(1) != 0 || args.u64(2) != 0 || args.u64(3) != 0 || args.u64(4) != 0 {
                Err(Errno::EINVAL)
            } else {
                Ok(u64::from(task.credentials().no_new_privs))
            }
        }
        _ => return None,
    };
    Some(result)
}

/// A capability number passed to prctl: EINVAL past CAP_LAST_CAP.
fn capability_arg(number: u64) -> Result<Capability, Errno> {
    u32::try_from(number)
        .ok()
        .and_then(Capability::from_number)
        .ok_or(Errno::EINVAL)
}

/// PR_CAP_AMBIENT: a capability may join the ambient set only while it is
/// both permitted and inheritable, and SECBIT_NO_CAP_AMBIENT_RAISE is off.
fn ambient(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (op, number, rest) = (args.u64(1), args.u64(2), args.u64(3) | args.u64(4));
    let mut new = task.credentials().clone();
    if op == PR_CAP_AMBIENT_CLEAR_ALL {
        if number != 0 || rest != 0 {
            return Err(Errno::EINVAL);
        }
        new.caps.ambient = CapSet::EMPTY;
        task.set_credentials(new);
        return Ok(0);
    }
    let cap = capability_arg(number)?;
    if rest != 0 {
        return Err(Errno::EINVAL);
    }
    match op {
        PR_CAP_AMBIENT_IS_SET => return Ok(u64::from(new.caps.ambient.contains(cap))),
        PR_CAP_AMBIENT_RAISE => {
            if !new.caps.permitted.contains(cap)
                || !new.caps.inheritable.contains(cap)
                || new.securebits & SECBIT_NO_CAP_AMBIENT_RAISE != 0
            {
                return Err(Errno::EPERM);
            }
            new.caps.ambient.insert(cap);
        }
        PR_CAP_AMBIENT_LOWER => new.caps.ambient.remove(cap),
        _ => return Err(Errno::EINVAL),
    }
    task.set_credentials(new);
    Ok(0)
}

/// PR_SET_SECUREBITS: needs CAP_SETPCAP; a locked bit can neither change
/// nor be unlocked.
fn set_securebits(task: &mut TaskCtx, bits: u64) -> SyscallResult {
    let creds = task.credentials();
    let old = creds.securebits;
    let locks = old & SECUREBITS_LOCKS;
    let bits = u32::try_from(bits).map_err(|_| Errno::EPERM)?;
    if (locks >> 1) & (old ^ bits) != 0
        || locks & !bits != 0
        || bits & !SECUREBITS_ALL != 0
        || !creds.has(Capability::SETPCAP)
    {
        return Err(Errno::EPERM);
    }
    let mut new = creds.clone();
    new.securebits = bits;
    task.set_credentials(new);
    Ok(0)
}
