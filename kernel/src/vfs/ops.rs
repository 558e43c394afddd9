//! Operations on paths shared by the system calls: open, make, remove,
//! rename, link, with Linux's checks (permissions, read-only mounts,
//! sticky directories, mount boundaries).
//!
//! Lock order: `remove` (for rmdir) and `rename` hold the mount's
//! `rename_lock` across the whole change and take under it the dentries'
//! `children` (looking the names up), the filesystem's directory locks
//! (memfs locks a parent before a child, two parents in address order,
//! which only this serialization keeps from crossing) and the mounts'
//! `children` (the EBUSY checks).

use std::sync::Arc;

use nix::errno::Errno;

use super::dentry::Location;
use super::lookup::{Follow, Parent, Resolver};
use super::mount::MountNamespace;
use super::{
    FileKind, MAX_SYMLINKS, MAY_EXEC, MAY_READ, MAY_WRITE, NewAttr, NewNode, OpenFile, RenameFlags, SetAttr,
    check_access,
};
use crate::abi::capability::Capability;
use crate::vfs::File;
use crate::vfs::caller::Caller;

/// open(2) flags that only matter at open time or that cordon accepts and
/// ignores (O_LARGEFILE is implied on x86-64; O_DIRECT and O_SYNC have no
/// meaning for memory-backed files).
const O_PATH_KEEPS: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

fn kind_of(location: &Location) -> Result<FileKind, Errno> {
    Ok(FileKind::from_mode(location.stat()?.st_mode))
}

/// Opens device nodes for a caller: what a device number opens can depend
/// on who asks (/dev/tty is the caller's controlling terminal).
pub trait Devices {
    /// Opens the character device `rdev`, named at `location`.
    fn open_device(&self, location: Location, rdev: u64, flags: i32) -> Result<Arc<dyn File>, Errno>;
}

/// Opens (and with O_CREAT makes) the file at `path`; device nodes through
/// `devices`. `mode` is already masked by the umask.
pub fn open(
    resolver: &Resolver,
    path: &[u8],
    flags: i32,
    mode: u32,
    caller: &dyn Caller,
    devices: &dyn Devices,
) -> Result<Arc<dyn File>, Errno> {
    // Linux refuses the pair since 6.4 rather than make a regular file.
    if flags & libc::O_CREAT != 0 && flags & libc::O_DIRECTORY != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = if flags & libc::O_PATH != 0 {
        flags & O_PATH_KEEPS
    } else {
        flags
    };
    let access = flags & libc::O_ACCMODE;
    if access == libc::O_ACCMODE && flags & libc::O_PATH == 0 {
        return Err(Errno::EINVAL);
    }
    let follow = if flags & libc::O_NOFOLLOW != 0 {
        Follow::NotLast
    } else {
        Follow::Always
    };
    let (location, created) = if flags & libc::O_CREAT != 0 {
        open_or_create(resolver, path, flags, mode, follow)?
    } else {
        (resolver.resolve(path, follow)?, false)
    };
    let st = location.stat()?;
    let kind = FileKind::from_mode(st.st_mode);
    if kind == FileKind::Symlink && flags & libc::O_PATH == 0 {
        return Err(Errno::ELOOP);
    }
    if flags & libc::O_DIRECTORY != 0 && kind != FileKind::Directory {
        return Err(Errno::ENOTDIR);
    }
    if flags & libc::O_PATH != 0 {
        return Ok(Arc::new(OpenFile::new(location, flags)?));
    }
    let writes = access != libc::O_RDONLY;
    if kind == FileKind::Directory && (writes || flags & libc::O_CREAT != 0) {
        return Err(Errno::EISDIR);
    }
    if !created {
        let mut want = 0;
        if access != libc::O_WRONLY {
            want |= MAY_READ;
        }
        if writes || flags & libc::O_TRUNC != 0 {
            want |= MAY_WRITE;
        }
        check_access(&st, resolver.credentials(), want)?;
    }
    if (writes || flags & libc::O_TRUNC != 0) && location.mount.flags.readonly && kind == FileKind::Regular {
        return Err(Errno::EROFS);
    }
    // Nodes that open themselves come first: what a /proc/PID/fd link
    // leads to is the open file itself, whatever its type.
    if let Some(file) = location.inode().open(&location, flags, caller)? {
        return Ok(file);
    }
    match kind {
        FileKind::CharDevice | FileKind::BlockDevice => {
            if location.mount.flags.nodev || kind == FileKind::BlockDevice {
                return Err(Errno::EACCES);
            }
            return devices.open_device(location, st.st_rdev, flags);
        }
        // Sockets bound to a path cannot be opened, as on Linux.
        FileKind::Socket => return Err(Errno::ENXIO),
        _ => {}
    }
    if kind == FileKind::Fifo {
        return Err(Errno::ENXIO);
    }
    if flags & libc::O_TRUNC != 0 && writes && kind == FileKind::Regular && !created {
        location.inode().set_attr(SetAttr {
            size: Some(0),
            ..SetAttr::default()
        })?;
    }
    Ok(Arc::new(OpenFile::new(location, flags)?))
}

/// The O_CREAT half of open: the existing file, or a new one. Without
/// O_EXCL a symlink is followed, and a missing target is made where the
/// link points (open(2)).
fn open_or_create(
    resolver: &Resolver,
    path: &[u8],
    flags: i32,
    mode: u32,
    follow: Follow,
) -> Result<(Location, bool), Errno> {
    // "/", "." and "..": directories, which O_CREAT cannot open.
    let parent_of = |start: &Location, path: &[u8]| {
        resolver.resolve_parent(start, path).map_err(|errno| match errno {
            Errno::EBUSY => Errno::EISDIR,
            errno => errno,
        })
    };
    let mut parent = parent_of(&resolver.cwd, path)?;
    let mut links = 0;
    loop {
        if parent.trailing_slash {
            return Err(Errno::EISDIR);
        }
        let existing = match child(&parent) {
            Ok(existing) => existing,
            Err(Errno::ENOENT) => match make_in(resolver, &parent, NewNode::Regular, mode) {
                Ok(created) => return Ok((created, true)),
                // Made by someone else since the lookup: open theirs.
                Err(Errno::EEXIST) if flags & libc::O_EXCL == 0 => continue,
                Err(errno) => return Err(errno),
            },
            Err(errno) => return Err(errno),
        };
        if flags & libc::O_EXCL != 0 {
            return Err(Errno::EEXIST);
        }
        if follow == Follow::NotLast || kind_of(&existing)? != FileKind::Symlink {
            return Ok((existing, false));
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(Errno::ELOOP);
        }
        let target = existing.inode().readlink(resolver.caller)?;
        parent = parent_of(&parent.dir, &target)?;
    }
}

/// The entry `parent.name` in `parent.dir`, with mounts on it entered.
fn child(parent: &Parent) -> Result<Location, Errno> {
    Ok(MountNamespace::enter_mounts(Location {
        mount: Arc::clone(&parent.dir.mount),
        dentry: parent.dir.dentry.child(&parent.name)?,
    }))
}

/// The entry `parent.name` itself, not what is mounted on it (the name
/// that remove and rename change).
fn entry(parent: &Parent) -> Result<Location, Errno> {
    Ok(Location {
        mount: Arc::clone(&parent.dir.mount),
        dentry: parent.dir.dentry.child(&parent.name)?,
    })
}

/// Whether two inodes are one node (hard links share it).
fn same_inode(a: &Arc<dyn super::Inode>, b: &Arc<dyn super::Inode>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// A path whose last component is no name ("." "..", "/") names an
/// existing directory: calls that make names answer EEXIST for it.
fn exists_if_not_a_name(errno: Errno) -> Errno {
    match errno {
        Errno::EBUSY => Errno::EEXIST,
        errno => errno,
    }
}

/// Checks that the caller may change entries of `dir`: a read-only mount
/// is EROFS before permissions are looked at, as on Linux.
fn may_change(resolver: &Resolver, dir: &Location) -> Result<(), Errno> {
    if dir.mount.flags.readonly {
        return Err(Errno::EROFS);
    }
    check_access(&dir.stat()?, resolver.credentials(), MAY_WRITE | MAY_EXEC)
}

/// In a sticky directory only the owner of an entry or of the directory
/// (or a holder of CAP_FOWNER) may remove or rename it.
fn check_sticky(resolver: &Resolver, dir: &Location, victim: &Location) -> Result<(), Errno> {
    let creds = resolver.credentials();
    let dir_st = dir.stat()?;
    if dir_st.st_mode & libc::S_ISVTX == 0
        || creds.has(Capability::FOWNER)
        || dir_st.st_uid == creds.fsuid
        || victim.stat()?.st_uid == creds.fsuid
    {
        return Ok(());
    }
    Err(Errno::EPERM)
}

fn make_in(resolver: &Resolver, parent: &Parent, node: NewNode, mode: u32) -> Result<Location, Errno> {
    may_change(resolver, &parent.dir)?;
    let dir_st = parent.dir.stat()?;
    // A directory with set-group-ID passes its group down, as on Linux.
    let (gid, mode) = if dir_st.st_mode & libc::S_ISGID != 0 {
        let inherit = if matches!(node, NewNode::Directory) {
            libc::S_ISGID
        } else {
            0
        };
        (dir_st.st_gid, mode | inherit)
    } else {
        (resolver.credentials().fsgid, mode)
    };
    let attr = NewAttr {
        mode,
        uid: resolver.credentials().fsuid,
        gid,
    };
    parent.dir.inode().create(&parent.name, node, attr)?;
    child(parent)
}

/// mkdir, mknod, symlink: makes `node` at `path` (relative to the
/// resolver's working directory); `mode` is already masked by the umask.
pub fn make(resolver: &Resolver, path: &[u8], node: NewNode, mode: u32) -> Result<(), Errno> {
    let parent = resolver
        .resolve_parent(&resolver.cwd, path)
        .map_err(exists_if_not_a_name)?;
    if parent.trailing_slash && !matches!(node, NewNode::Directory) {
        return match child(&parent) {
            Ok(_) => Err(Errno::EEXIST),
            Err(_) => Err(Errno::ENOENT),
        };
    }
    match child(&parent) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(errno) => return Err(errno),
    }
    make_in(resolver, &parent, node, mode).map(|_| ())
}

/// unlink, or rmdir when `directory`.
pub fn remove(resolver: &Resolver, path: &[u8], directory: bool) -> Result<(), Errno> {
    let parent = resolver
        .resolve_parent(&resolver.cwd, path)
        .map_err(|errno| match errno {
            // A last component that is no name: rmdir of "." is EINVAL, of
            // ".." ENOTEMPTY, of "/" EBUSY; unlink of any of them EISDIR.
            Errno::EBUSY if !directory => Errno::EISDIR,
            Errno::EBUSY => match path.split(|&b| b == b'/').rfind(|c| !c.is_empty()) {
                Some(b"..") => Errno::ENOTEMPTY,
                Some(b".") => Errno::EINVAL,
                _ => Errno::EBUSY,
            },
            errno => errno,
        })?;
    if parent.dir.mount.flags.readonly {
        return Err(Errno::EROFS);
    }
    // rmdir locks the parent, then the child: under the rename lock, so no
    // rename holds the two the other way round.
    let _rename_guard = directory.then(|| parent.dir.mount.rename_lock.lock().expect("rename lock poisoned"));
    let victim = entry(&parent)?;
    if parent.trailing_slash && !directory && kind_of(&victim)? != FileKind::Directory {
        return Err(Errno::ENOTDIR);
    }
    if MountNamespace::mounted_here(&victim) {
        return Err(Errno::EBUSY);
    }
    may_change(resolver, &parent.dir)?;
    check_sticky(resolver, &parent.dir, &victim)?;
    parent.dir.inode().unlink(&parent.name, directory)?;
    parent.dir.dentry.forget(&parent.name);
    Ok(())
}

/// renameat2(2).
pub fn rename(
    resolver: &Resolver,
    old_start: &Location,
    old_path: &[u8],
    new_start: &Location,
    new_path: &[u8],
    flags: RenameFlags,
) -> Result<(), Errno> {
    let old = resolver.resolve_parent(old_start, old_path)?;
    // A new name that is no name ("." "..", "/") exists, for NOREPLACE.
    let new = resolver
        .resolve_parent(new_start, new_path)
        .map_err(|errno| match errno {
            Errno::EBUSY if flags.no_replace => Errno::EEXIST,
            errno => errno,
        })?;
    if !Arc::ptr_eq(&old.dir.mount, &new.dir.mount) {
        return Err(Errno::EXDEV);
    }
    if old.dir.mount.flags.readonly {
        return Err(Errno::EROFS);
    }
    // Every rename (and rmdir) of a mount is serialized: a rename that
    // replaces a directory locks it after its parent, as rmdir does, while
    // a rename between directories locks two parents; one lock around all
    // of them keeps those orders from crossing.
    let _rename_guard = old.dir.mount.rename_lock.lock().expect("rename lock poisoned");
    let source = entry(&old)?;
    let target = match entry(&new) {
        Ok(target) => Some(target),
        Err(Errno::ENOENT) if !flags.exchange => None,
        Err(errno) => return Err(errno),
    };
    let source_is_dir = kind_of(&source)? == FileKind::Directory;
    let target_is_dir = match &target {
        Some(target) => kind_of(target)? == FileKind::Directory,
        None => false,
    };
    // A trailing slash names a directory (the new name's, only for what
    // will be a directory there).
    if !source_is_dir && (old.trailing_slash || (new.trailing_slash && !flags.exchange)) {
        return Err(Errno::ENOTDIR);
    }
    if flags.exchange && !target_is_dir && new.trailing_slash {
        return Err(Errno::ENOTDIR);
    }
    if flags.no_replace && target.is_some() {
        return Err(Errno::EEXIST);
    }
    // A directory cannot move beneath itself, nor replace one of its
    // ancestors (rename(2): EINVAL; ENOTEMPTY, as Linux reports it).
    if source_is_dir && is_within(&new.dir, &source) {
        return Err(Errno::EINVAL);
    }
    if let Some(target) = target.as_ref().filter(|_| target_is_dir) {
        if is_within(&old.dir, target) {
            return Err(if flags.exchange {
                Errno::EINVAL
            } else {
                Errno::ENOTEMPTY
            });
        }
    }
    // Two names of one file: rename(2) does nothing and succeeds.
    if target
        .as_ref()
        .is_some_and(|target| same_inode(source.inode(), target.inode()))
    {
        return Ok(());
    }
    if MountNamespace::mounted_here(&source) {
        return Err(Errno::EBUSY);
    }
    may_change(resolver, &old.dir)?;
    may_change(resolver, &new.dir)?;
    // A directory moving to another parent has its ".." rewritten: that
    // needs write permission on it (rename(2)).
    if !Arc::ptr_eq(&old.dir.dentry, &new.dir.dentry) {
        if source_is_dir {
            check_access(&source.stat()?, resolver.credentials(), MAY_WRITE)?;
        }
        if let Some(target) = target.as_ref().filter(|_| flags.exchange && target_is_dir) {
            check_access(&target.stat()?, resolver.credentials(), MAY_WRITE)?;
        }
    }
    check_sticky(resolver, &old.dir, &source)?;
    if let Some(target) = &target {
        if MountNamespace::mounted_here(target) {
            return Err(Errno::EBUSY);
        }
        check_sticky(resolver, &new.dir, target)?;
    }
    old.dir.inode().rename(&old.name, new.dir.inode(), &new.name, flags)?;
    if flags.exchange {
        old.dir.dentry.exchanged(&old.name, &new.dir.dentry, &new.name);
    } else {
        old.dir.dentry.moved(&old.name, &new.dir.dentry, &new.name);
    }
    Ok(())
}

/// Whether `location` is `ancestor` or beneath it (in the same mount).
fn is_within(location: &Location, ancestor: &Location) -> bool {
    let mut here = Some(Arc::clone(&location.dentry));
    while let Some(dentry) = here {
        if Arc::ptr_eq(&dentry, &ancestor.dentry) {
            return true;
        }
        here = dentry.parent();
    }
    false
}

/// linkat(2): a new name `new_path` for the file at `target`.
pub fn link(resolver: &Resolver, target: &Location, new_start: &Location, new_path: &[u8]) -> Result<(), Errno> {
    if kind_of(target)? == FileKind::Directory {
        return Err(Errno::EPERM);
    }
    // protected_hardlinks (on in every distribution): a user may link only
    // a regular file it owns (or any, with CAP_FOWNER), or one it may read
    // and write that is not set-user-ID or executable set-group-ID.
    let st = target.stat()?;
    let creds = resolver.credentials();
    if !creds.has(Capability::FOWNER) && st.st_uid != creds.fsuid {
        let is_regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        let setid = st.st_mode & libc::S_ISUID != 0
            || st.st_mode & (libc::S_ISGID | libc::S_IXGRP) == (libc::S_ISGID | libc::S_IXGRP);
        if !is_regular || setid || check_access(&st, creds, MAY_READ | MAY_WRITE).is_err() {
            return Err(Errno::EPERM);
        }
    }
    let new = resolver
        .resolve_parent(new_start, new_path)
        .map_err(exists_if_not_a_name)?;
    if new.trailing_slash {
        return Err(Errno::ENOENT);
    }
    if !Arc::ptr_eq(&target.mount, &new.dir.mount) {
        return Err(Errno::EXDEV);
    }
    if child(&new).is_ok() {
        return Err(Errno::EEXIST);
    }
    may_change(resolver, &new.dir)?;
    new.dir.inode().link(&new.name, target.inode())
}
