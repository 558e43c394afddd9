//! The container's users and groups, for `exec --user NAME[:GROUP]`: names
//! are looked up in the `/etc/passwd` and `/etc/group` of the container's
//! root filesystem, as docker and podman resolve them before they call runc
//! (runc's own `--user` takes numbers).
//!
//! The files are read from the rootfs on the host with openat2(2) and
//! `RESOLVE_IN_ROOT`: a symlink in the rootfs (`/etc/passwd -> /etc/shadow`,
//! `../../..`) resolves inside it, as it would in the container, and never
//! reaches the host's files. The file found must be a regular file; it is
//! opened `O_PATH` first and reopened for reading only once that is known,
//! so a device node or FIFO planted there is never opened.
//!
//! What the container itself changed under the memory overlay is not seen:
//! the files are the rootfs's as the bundle holds them.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::{Mode, SFlag, fstat};

/// The largest user or group database read (bytes).
const MAX_DATABASE_LEN: u64 = 16 << 20;

/// Why `--user` could not be resolved; one line each.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid --user {0:?}: give USER or USER:GROUP, each a name or a number")]
    Invalid(String),
    #[error("no user {0:?} in the container's /etc/passwd")]
    NoSuchUser(String),
    #[error("no group {0:?} in the container's /etc/group")]
    NoSuchGroup(String),
    #[error("cannot read the container's {file}: {source}")]
    Read {
        file: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Who an exec'd process runs as. `gid` is `None` when neither the
/// argument nor the user database names one: the container's default
/// stays. `additional_gids` are the groups that list a user given by name
/// (none when the group is given, as runc's `GetExecUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: Option<u32>,
    pub additional_gids: Vec<u32>,
}

/// Resolves `USER` or `USER:GROUP`, where each is a number or a name in the
/// databases of the root filesystem `rootfs`. A number is taken as it is;
/// no file is read unless a name needs it.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ExecUser, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(UserError::Invalid(spec.to_owned()));
    }
    let (uid, mut gid, name) = match user.parse::<u32>() {
        Ok(uid) => (uid, None, None),
        Err(_) => {
            let passwd = read_database(rootfs, "/etc/passwd")?;
            let entry = passwd_entries(&passwd)
                .find(|entry| entry.name == user)
                .ok_or_else(|| UserError::NoSuchUser(user.to_owned()))?;
            (entry.uid, Some(entry.gid), Some(user))
        }
    };
    let mut additional_gids = Vec::new();
    match (group, name) {
        (Some(group), _) => {
            gid = Some(match group.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    let groups = read_database(rootfs, "/etc/group")?;
                    group_entries(&groups)
                        .find(|entry| entry.name == group)
                        .ok_or_else(|| UserError::NoSuchGroup(group.to_owned()))?
                        .gid
                }
            });
        }
        (None, Some(name)) => {
            // A missing /etc/group means no supplementary groups.
            let groups = match read_database(rootfs, "/etc/group") {
                Ok(groups) => groups,
                Err(UserError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => String::new(),
                Err(err) => return Err(err),
            };
            for entry in group_entries(&groups).filter(|entry| entry.members.contains(&name)) {
                if !additional_gids.contains(&entry.gid) {
                    additional_gids.push(entry.gid);
                }
            }
        }
        (None, None) => {}
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Reads the file at the absolute `path` as the container sees it in
/// `rootfs`: resolved inside the rootfs, and only if it is a regular file.
fn read_database(rootfs: &Path, path: &'static str) -> Result<String, UserError> {
    let failed = |source: io::Error| UserError::Read { file: path, source };
    let root: OwnedFd = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| failed(errno.into()))?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let found = openat2(&root, path, how).map_err(|errno| failed(errno.into()))?;
    let stat = fstat(&found).map_err(|errno| failed(errno.into()))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(failed(io::Error::new(io::ErrorKind::InvalidData, "not a regular file")));
    }
    // Reopening the O_PATH fd through /proc opens the very file checked.
    let file = File::open(format!("/proc/self/fd/{}", found.as_raw_fd())).map_err(failed)?;
    let mut text = String::new();
    file.take(MAX_DATABASE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(failed)?;
    if text.len() as u64 > MAX_DATABASE_LEN {
        return Err(failed(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_DATABASE_LEN} bytes"),
        )));
    }
    Ok(text)
}

/// One line of passwd(5): `name:password:uid:gid:gecos:home:shell`.
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

/// One line of group(5): `name:password:gid:member,member`.
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// The name of a passwd or group line and its fields after the password;
/// None for a blank, comment or short line.
fn named_entry(line: &str) -> Option<(&str, std::str::Split<'_, char>)> {
    let mut fields = line.trim().split(':');
    let name = fields
        .next()
        .filter(|name| !name.is_empty() && !name.starts_with('#'))?;
    let _password = fields.next()?;
    Some((name, fields))
}

/// The well-formed entries of a passwd file, in order (the first match
/// wins, as with getpwnam(3)); blank, comment and malformed lines are
/// skipped.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let (name, mut fields) = named_entry(line)?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(PasswdEntry { name, uid, gid })
    })
}

/// The well-formed entries of a group file, in order.
fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let (name, mut fields) = named_entry(line)?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|member| !member.is_empty())
            .collect();
        Some(GroupEntry { name, gid, members })
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # a comment\n\
                          \n\
                          broken:x:notanumber:1::/:/bin/sh\n\
                          alice:x:1000:100:Alice:/home/alice:/bin/sh\n\
                          alice:x:2000:200:second entry:/:/bin/sh\n\
                          bob:x:1001:1001::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
                         users:x:100:\n\
                         staff:x:50:alice, bob\n\
                         audio:x:29:alice\n\
                         bob:x:1001:\n";

    /// A rootfs holding `etc/passwd` and `etc/group` as given.
    fn rootfs(name: &str, passwd: Option<&str>, group: Option<&str>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cordon-users-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).expect("made");
        if let Some(passwd) = passwd {
            fs::write(dir.join("etc/passwd"), passwd).expect("written");
        }
        if let Some(group) = group {
            fs::write(dir.join("etc/group"), group).expect("written");
        }
        dir
    }

    fn user(uid: u32, gid: Option<u32>, additional_gids: &[u32]) -> ExecUser {
        ExecUser {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
        }
    }

    #[test]
    fn numbers_are_taken_as_they_are_without_reading_anything() {
        let root = Path::new("/nonexistent");
        assert_eq!(resolve(root, "7").expect("valid"), user(7, None, &[]));
        assert_eq!(resolve(root, "7:8").expect("valid"), user(7, Some(8), &[]));
        for bad in ["", ":", "7:", ":8"] {
            assert!(matches!(resolve(root, bad), Err(UserError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn names_resolve_in_the_containers_databases() {
        let root = rootfs("names", Some(PASSWD), Some(GROUP));
        // The first entry wins; the primary group is the user's, the
        // supplementary ones list the user.
        assert_eq!(
            resolve(&root, "alice").expect("valid"),
            user(1000, Some(100), &[50, 29])
        );
        assert_eq!(resolve(&root, "bob").expect("valid"), user(1001, Some(1001), &[50]));
        // An explicit group replaces the primary group and adds none.
        assert_eq!(resolve(&root, "alice:staff").expect("valid"), user(1000, Some(50), &[]));
        assert_eq!(resolve(&root, "alice:7").expect("valid"), user(1000, Some(7), &[]));
        assert_eq!(resolve(&root, "1000:audio").expect("valid"), user(1000, Some(29), &[]));
        assert!(matches!(resolve(&root, "carol"), Err(UserError::NoSuchUser(name)) if name == "carol"));
        assert!(matches!(resolve(&root, "broken"), Err(UserError::NoSuchUser(_))));
        assert!(matches!(resolve(&root, "alice:wheel"), Err(UserError::NoSuchGroup(name)) if name == "wheel"));
        fs::remove_dir_all(&root).expect("clean up");
    }

    #[test]
    fn missing_databases() {
        let root = rootfs("missing", Some(PASSWD), None);
        // No /etc/group: no supplementary groups, but a named group fails.
        assert_eq!(resolve(&root, "alice").expect("valid"), user(1000, Some(100), &[]));
        assert!(matches!(
            resolve(&root, "alice:staff"),
            Err(UserError::Read { file: "/etc/group", source }) if source.kind() == io::ErrorKind::NotFound
        ));
        let empty = rootfs("missing-passwd", None, None);
        assert!(matches!(
            resolve(&empty, "alice"),
            Err(UserError::Read {
                file: "/etc/passwd",
                ..
            })
        ));
        fs::remove_dir_all(&root).expect("clean up");
        fs::remove_dir_all(&empty).expect("clean up");
    }

    #[test]
    fn symlinks_resolve_inside_the_rootfs() {
        let outside = rootfs("outside", Some("mallory:x:666:666::/:/bin/sh\n"), None);
        let root = rootfs("links", None, None);
        // Absolute and climbing links both stay in the rootfs, where neither
        // finds the outside file.
        let absolute = outside.join("etc/passwd");
        symlink(&absolute, root.join("etc/passwd")).expect("linked");
        assert!(matches!(
            resolve(&root, "mallory"),
            Err(UserError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound
        ));
        fs::remove_file(root.join("etc/passwd")).expect("unlinked");
        let climbing = PathBuf::from("../../../../../../..").join(absolute.strip_prefix("/").expect("absolute"));
        symlink(&climbing, root.join("etc/passwd")).expect("linked");
        assert!(matches!(
            resolve(&root, "mallory"),
            Err(UserError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound
        ));
        // A link that stays inside works, as in the container.
        fs::remove_file(root.join("etc/passwd")).expect("unlinked");
        fs::write(root.join("etc/passwd.real"), PASSWD).expect("written");
        symlink("/etc/passwd.real", root.join("etc/passwd")).expect("linked");
        assert_eq!(resolve(&root, "bob").expect("valid").uid, 1001);
        fs::remove_dir_all(&root).expect("clean up");
        fs::remove_dir_all(&outside).expect("clean up");
    }

    #[test]
    fn only_regular_files_are_read() {
        let root = rootfs("fifo", None, None);
        nix::unistd::mkfifo(&root.join("etc/passwd"), Mode::from_bits_truncate(0o644)).expect("made");
        // A FIFO would block a reader forever; it is refused unopened.
        assert!(matches!(
            resolve(&root, "alice"),
            Err(UserError::Read { source, .. }) if source.kind() == io::ErrorKind::InvalidData
        ));
        fs::remove_dir_all(&root).expect("clean up");
    }
}
