//! The file-descriptor table of a process.
//!
//! Lock order: a table is used under its owner's lock (`Task::fds`, a
//! view's `fds`). `remove` and `close_range` hand the files back, for the
//! caller to drop after letting go of it; `close_on_exec` and `install_at`
//! (over an open fd) drop them under it, so it comes before every lock a
//! file's drop takes (a pty master's `state`, then the task set's; a
//! timerfd's: the timers'; an open file's: the lock table's), and none of
//! those is held while taking it.

use std::sync::Arc;

use nix::errno::Errno;

use super::File;

#[derive(Clone)]
struct Slot {
    file: Arc<dyn File>,
    cloexec: bool,
}

/// Maps fd numbers to open file descriptions, with the close-on-exec flag.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    pub fn get(&self, fd: i32) -> Result<Arc<dyn File>, Errno> {
        self.slot(fd).map(|slot| Arc::clone(&slot.file))
    }

    fn slot(&self, fd: i32) -> Result<&Slot, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    /// Installs `file` at the lowest free fd at or above `min`, below
    /// `limit` (RLIMIT_NOFILE), or fails with EMFILE.
    pub fn install(&mut self, file: Arc<dyn File>, cloexec: bool, min: i32, limit: u64) -> Result<i32, Errno> {
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        let free = (min..)
            .find(|&i| self.slots.get(i).is_none_or(Option::is_none))
            .expect("unbounded range");
        if free as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        self.put(free, Slot { file, cloexec });
        Ok(free as i32)
    }

    /// execve(2): closes every close-on-exec fd.
    pub fn close_on_exec(&mut self) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|slot| slot.cloexec) {
                *slot = None;
            }
        }
    }

    /// Installs `file` at exactly `fd`, closing what was there.
    pub fn install_at(&mut self, fd: i32, file: Arc<dyn File>, cloexec: bool, limit: u64) -> Result<(), Errno> {
        let index = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if index as u64 >= limit {
            return Err(Errno::EBADF);
        }
        self.put(index, Slot { file, cloexec });
        Ok(())
    }

    fn put(&mut self, index: usize, slot: Slot) {
        if index >= self.slots.len() {
            self.slots.resize(index + 1, None);
        }
        self.slots[index] = Some(slot);
    }

    /// close(2): removes the fd, returning the file it held.
    pub fn remove(&mut self, fd: i32) -> Result<Arc<dyn File>, Errno> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::take)
            .ok_or(Errno::EBADF)?;
        Ok(slot.file)
    }

    /// close_range(2): closes (or, with `cloexec_only`, marks close-on-exec)
    /// every open fd in `first..=last`; returns the files closed so the
    /// caller drops them outside the lock.
    pub fn close_range(&mut self, first: u32, last: u32, cloexec_only: bool) -> Vec<Arc<dyn File>> {
        let mut closed = Vec::new();
        let end = (last as usize).saturating_add(1).min(self.slots.len());
        for slot in self.slots.iter_mut().take(end).skip(first as usize) {
            if cloexec_only {
                if let Some(slot) = slot.as_mut() {
                    slot.cloexec = true;
                }
            } else if let Some(taken) = slot.take() {
                closed.push(taken.file);
            }
        }
        closed
    }

    /// Every open fd in order, with its file and close-on-exec flag.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Arc<dyn File>, bool)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, slot)| slot.as_ref().map(|slot| (fd as i32, &slot.file, slot.cloexec)))
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.slot(fd).map(|slot| slot.cloexec)
    }

    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)?;
        slot.cloexec = cloexec;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::vfs::caller::Caller;

    struct Null;

    impl File for Null {
        fn read(&self, _: &dyn Caller, _: &mut [u8], _: Option<u64>) -> Result<usize, Errno> {
            Ok(0)
        }
        fn write(&self, _: &dyn Caller, data: &[u8], _: Option<u64>) -> Result<usize, Errno> {
            Ok(data.len())
        }
        fn stat(&self) -> Result<crate::abi::structs::Stat, Errno> {
            Err(Errno::ENOSYS)
        }
        fn status_flags(&self) -> Result<u32, Errno> {
            Ok(0)
        }
        fn poll(&self) -> u16 {
            0
        }
    }

    #[test]
    fn lowest_free_fd_is_used_and_limit_applies() {
        let mut table = FdTable::default();
        assert_eq!(table.install(Arc::new(Null), false, 0, 3), Ok(0));
        assert_eq!(table.install(Arc::new(Null), true, 0, 3), Ok(1));
        assert_eq!(table.cloexec(1), Ok(true));
        table.remove(0).unwrap();
        assert_eq!(table.install(Arc::new(Null), false, 0, 3), Ok(0));
        assert_eq!(table.install(Arc::new(Null), false, 0, 3), Ok(2));
        assert_eq!(table.install(Arc::new(Null), false, 0, 3), Err(Errno::EMFILE));
        assert!(matches!(table.remove(7), Err(Errno::EBADF)));
        assert!(matches!(table.get(-1), Err(Errno::EBADF)));
    }
}
