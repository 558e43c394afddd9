//! /proc/PID/mounts and mountinfo: the sandbox's one mount namespace, with
//! paths as mounted (a chroot'ed reader still sees every mount).

use nix::errno::Errno;

use super::process::Target;
use crate::vfs::MountFlags;

/// The per-mount options: "rw" or "ro", then the flags set.
fn options(flags: &MountFlags) -> String {
    let mut options = vec![if flags.readonly { "ro" } else { "rw" }];
    if flags.nosuid {
        options.push("nosuid");
    }
    if flags.nodev {
        options.push("nodev");
    }
    if flags.noexec {
        options.push("noexec");
    }
    options.push("relatime");
    options.join(",")
}

/// /proc/PID/mounts (fstab format).
pub(super) fn mounts(target: &Target) -> Result<Vec<u8>, Errno> {
    let mut text = String::new();
    for (mount, path) in target.kernel.container_of(target.process.pid).mounts.mounts() {
        text.push_str(&format!(
            "{} {path} {} {} 0 0\n",
            mount.source,
            mount.fs_type,
            options(&mount.flags)
        ));
    }
    Ok(text.into_bytes())
}

/// /proc/PID/mountinfo (proc_pid_mountinfo(5)): id, parent id, device,
/// root within the filesystem, mount point, options, no optional fields,
/// type, source, superblock options. The root mount's parent is 0, a mount
/// no one sees.
pub(super) fn mountinfo(target: &Target) -> Result<Vec<u8>, Errno> {
    let mut text = String::new();
    for (mount, path) in target.kernel.container_of(target.process.pid).mounts.mounts() {
        let parent = mount.mountpoint().map_or(0, |point| point.mount.id);
        let dev = mount.root.inode().stat().map_or(0, |st| st.st_dev);
        let superblock = if mount.flags.readonly { "ro" } else { "rw" };
        text.push_str(&format!(
            "{} {parent} {}:{} / {path} {} - {} {} {superblock}\n",
            mount.id,
            libc::major(dev),
            libc::minor(dev),
            options(&mount.flags),
            mount.fs_type,
            mount.source,
        ));
    }
    Ok(text.into_bytes())
}
