//! What the files without a filesystem of their own share: epoll, eventfd,
//! timerfd and signalfd files all stand on one anonymous inode on Linux
//! (fs/anon_inodes.c), mode 0600 and no file type, and ignore lseek(2).

use nix::errno::Errno;

use crate::abi::pod::Pod;
use crate::abi::structs::Stat;

/// The inode number every anonymous file shows.
const ANON_INODE_INO: u64 = 1;

/// fstat(2) of an anonymous file.
pub fn stat() -> Stat {
    let mut stat = <Stat as Pod>::zeroed();
    stat.st_mode = libc::S_IRUSR | libc::S_IWUSR;
    stat.st_nlink = 1;
    stat.st_ino = ANON_INODE_INO;
    stat.st_blksize = 4096;
    stat
}

/// lseek(2) of an anonymous file: the position stays 0 whatever is asked,
/// as Linux's noop_llseek leaves it.
pub fn seek() -> Result<u64, Errno> {
    Ok(0)
}

/// The `File` methods every anonymous file has alike, for its `impl File`:
/// [`stat`], the status flags of its `flags: StatusFlags` field, [`seek`],
/// the wait queue at `self.<queue path>`, the /proc link
/// `anon_inode:[<name>]`, and downcasting.
macro_rules! anon_file_methods {
    ($name:literal, $($queue:ident).+) => {
        fn stat(&self) -> Result<$crate::abi::structs::Stat, nix::errno::Errno> {
            Ok(crate::vfs::anon_inode::stat())
        }

        fn status_flags(&self) -> Result<u32, nix::errno::Errno> {
            Ok(self.flags.get())
        }

        fn set_status_flags(&self, flags: u32) -> Result<(), nix::errno::Errno> {
            self.flags.set(flags);
            Ok(())
        }

        fn seek(&self, _offset: i64, _whence: i32) -> Result<u64, nix::errno::Errno> {
            crate::vfs::anon_inode::seek()
        }

        fn wait_queue(&self) -> Option<&crate::sync::WaitQueue> {
            Some(&self.$($queue).+)
        }

        fn link_name(&self) -> Option<String> {
            Some(concat!("anon_inode:[", $name, "]").into())
        }

        fn as_any(&self) -> Option<&dyn std::any::Any> {
            Some(self)
        }
    };
}
pub(crate) use anon_file_methods;
