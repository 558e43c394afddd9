//! Path resolution (path_resolution(7)): components walked one at a time
//! from the task's root or working directory, symlinks followed inside the
//! container's root (at most [`MAX_SYMLINKS`]), `..` climbing out of mounts
//! but never above the root.

use std::sync::Arc;

use nix::errno::Errno;

use super::caller::Caller;
use super::dentry::Location;
use super::mount::MountNamespace;
use super::{FileKind, MAX_SYMLINKS, MAY_EXEC, NAME_MAX, check_access};
use crate::abi::Credentials;

/// Whether the last component is followed when it is a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    Always,
    /// O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, lstat: the link itself.
    NotLast,
}

/// Resolves paths for one caller: its root, its working directory (or a
/// directory fd); the caller's credentials decide search permission, and
/// /proc's links lead where they lead for it.
pub struct Resolver<'a> {
    pub root: Location,
    pub cwd: Location,
    pub caller: &'a dyn Caller,
}

/// The last component of a path and the directory it is in, for calls
/// that make or remove names.
pub struct Parent {
    pub dir: Location,
    pub name: Vec<u8>,
    /// The path ended in '/': the name must be (or become) a directory.
    pub trailing_slash: bool,
}

impl Resolver<'_> {
    /// The credentials permission checks use.
    pub fn credentials(&self) -> &Credentials {
        self.caller.credentials()
    }

    /// Resolves `path` from the working directory.
    pub fn resolve(&self, path: &[u8], follow: Follow) -> Result<Location, Errno> {
        self.resolve_from(&self.cwd.clone(), path, follow)
    }

    /// Resolves `path` from `start` (ignored when the path is absolute).
    pub fn resolve_from(&self, start: &Location, path: &[u8], follow: Follow) -> Result<Location, Errno> {
        let mut links = 0;
        self.walk(start, path, follow, &mut links)
    }

    /// Splits `path` into the directory holding its last component (resolved
    /// from `start`) and that component. A path whose last component is "."
    /// or ".." (or "/") names no entry that could be made or removed.
    pub fn resolve_parent(&self, start: &Location, path: &[u8]) -> Result<Parent, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        check_length(path)?;
        let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trailing_slash = trimmed_len < path.len();
        let trimmed = &path[..trimmed_len];
        let (dir_path, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        if name.is_empty() || name == b"." || name == b".." {
            return Err(Errno::EBUSY);
        }
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let dir = if dir_path.is_empty() {
            start.clone()
        } else {
            self.resolve_from(start, dir_path, Follow::Always)?
        };
        let st = dir.stat()?;
        if FileKind::from_mode(st.st_mode) != FileKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        check_access(&st, self.credentials(), MAY_EXEC)?;
        Ok(Parent {
            dir,
            name: name.to_vec(),
            trailing_slash,
        })
    }

    fn walk(&self, start: &Location, path: &[u8], follow: Follow, links: &mut u32) -> Result<Location, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        check_length(path)?;
        let trailing_slash = path.ends_with(b"/");
        let mut here = if path[0] == b'/' {
            self.root.clone()
        } else {
            start.clone()
        };
        let components: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
        for (i, component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            let st = here.stat()?;
            if FileKind::from_mode(st.st_mode) != FileKind::Directory {
                return Err(Errno::ENOTDIR);
            }
            check_access(&st, self.credentials(), MAY_EXEC)?;
            match *component {
                b"." => continue,
                b".." => {
                    here = self.parent_of(&here);
                    continue;
                }
                name if name.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
                _ => {}
            }
            let child = MountNamespace::enter_mounts(Location {
                mount: Arc::clone(&here.mount),
                dentry: here.dentry.child(component)?,
            });
            let is_link = child.stat()?.st_mode & libc::S_IFMT == libc::S_IFLNK;
            if is_link && (!last || follow == Follow::Always || trailing_slash) {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                here = match child.inode().follow_link(self.caller, &child)? {
                    Some(target) => target,
                    None => {
                        let target = child.inode().readlink(self.caller)?;
                        self.walk(&here, &target, Follow::Always, links)?
                    }
                };
            } else {
                here = child;
            }
        }
        if trailing_slash && !here.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(here)
    }

    /// `..` of a location: the root stays put; a mount's root climbs to
    /// its mount point first.
    pub fn parent_of(&self, location: &Location) -> Location {
        let mut here = location.clone();
        loop {
            if here.same(&self.root) {
                return here;
            }
            if Arc::ptr_eq(&here.dentry, &here.mount.root) {
                match here.mount.mountpoint() {
                    Some(up) => {
                        here = up;
                        continue;
                    }
                    None => return here,
                }
            }
            return match here.dentry.parent() {
                Some(parent) => Location {
                    mount: here.mount,
                    dentry: parent,
                },
                None => here,
            };
        }
    }
}

/// PATH_MAX counts the terminating NUL.
fn check_length(path: &[u8]) -> Result<(), Errno> {
    if path.len() >= libc::PATH_MAX as usize {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use super::*;
    use crate::vfs::caller::Internal;
    use crate::vfs::synthetic::{SynthDir, SynthFile, SynthLink};
    use crate::vfs::{DeviceNumbers, Inode, MountFlags};

    /// A link like /proc/self/cwd: its text leads nowhere, following it
    /// jumps to `target`.
    struct Magic {
        link: Arc<SynthLink>,
        target: OnceLock<Location>,
    }

    impl Inode for Magic {
        fn stat(&self) -> Result<crate::abi::structs::Stat, Errno> {
            self.link.stat()
        }
        fn readlink(&self, caller: &dyn Caller) -> Result<Vec<u8>, Errno> {
            self.link.readlink(caller)
        }
        fn follow_link(&self, _caller: &dyn Caller, _link: &Location) -> Result<Option<Location>, Errno> {
            Ok(self.target.get().cloned())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[test]
    fn magic_links_jump_to_their_target_and_plain_links_are_walked() {
        let file: Arc<dyn Inode> = SynthFile::text(1, "/data/file", "x".into());
        let data: Arc<dyn Inode> = SynthDir::new(
            1,
            "/data",
            0o555,
            Box::new(move || vec![(b"file".to_vec(), Arc::clone(&file))]),
        );
        let magic = Arc::new(Magic {
            link: SynthLink::fixed(1, "/magic", "nowhere"),
            target: OnceLock::new(),
        });
        let plain: Arc<dyn Inode> = SynthLink::fixed(1, "/plain", "/data");
        let entries: Vec<(Vec<u8>, Arc<dyn Inode>)> = vec![
            (b"data".to_vec(), data),
            (b"magic".to_vec(), Arc::clone(&magic) as Arc<dyn Inode>),
            (b"plain".to_vec(), plain),
        ];
        let root = SynthDir::new(1, "/", 0o555, Box::new(move || entries.clone()));
        let mounts = MountNamespace::new(root, "synthetic", MountFlags::default(), DeviceNumbers::default());
        let caller = Internal::new(Credentials::default(), mounts.root());
        let resolver = caller.resolver(mounts.root());
        let data = resolver.resolve(b"/data", Follow::Always).unwrap();
        assert!(magic.target.set(data.clone()).is_ok());
        let direct = resolver.resolve(b"/data/file", Follow::Always).unwrap();
        let via_magic = resolver.resolve(b"/magic/file", Follow::Always).unwrap();
        assert!(via_magic.same(&direct));
        assert!(resolver.resolve(b"/magic", Follow::Always).unwrap().same(&data));
        let via_plain = resolver.resolve(b"/plain/file", Follow::Always).unwrap();
        assert!(via_plain.same(&direct));
        // Not followed, the link is itself.
        let link = resolver.resolve(b"/magic", Follow::NotLast).unwrap();
        assert_eq!(link.inode().readlink(&caller).unwrap(), b"nowhere");
    }
}
