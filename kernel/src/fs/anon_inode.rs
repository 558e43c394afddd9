//! What the files without a filesystem of their own share: epoll, eventfd,
//! timerfd and signalfd files all stand on one anonymous inode on Linux
//! (fs/anon_inodes.c), mode 0600 and no file type, and ignore lseek(2).

use nix::errno::Errno;

use crate::memory::Pod;

/// The inode number every anonymous file shows.
const ANON_INODE_INO: u64 = 1;

/// fstat(2) of an anonymous file.
pub(super) fn stat() -> libc::stat {
    let mut stat = <libc::stat as Pod>::zeroed();
    stat.st_mode = libc::S_IRUSR | libc::S_IWUSR;
    stat.st_nlink = 1;
    stat.st_ino = ANON_INODE_INO;
    stat.st_blksize = 4096;
    stat
}

/// lseek(2) of an anonymous file: the position stays 0 whatever is asked,
/// as Linux's noop_llseek leaves it.
pub(super) fn seek() -> Result<u64, Errno> {
    Ok(0)
}
