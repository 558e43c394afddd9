//! Advisory file locks: flock(2) locks and fcntl(2) record locks (POSIX,
//! owned by a process, and open-file-description locks), kept per file.
//!
//! Lock order: the table's `files` (every lock, by file) is a leaf, let go
//! of before the waiters on `released` are notified; it is taken under
//! whatever lock an open file is dropped under (a description's last drop
//! releases its locks here).
//!
//! The sandbox process hosts one kernel, so one table serves it.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use nix::errno::Errno;

use crate::sync::Blocking;
use crate::vfs::caller::Caller;

use crate::sync::WaitQueue;

/// Who holds a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A process's POSIX record lock (F_SETLK): released when the process
    /// closes any fd of the file, or exits.
    Process(i32),
    /// An open file description (flock, F_OFD_SETLK): released when the
    /// description is closed for the last time. The value is its address.
    Description(usize),
}

/// One lock on a byte range `[start, end]` (end inclusive; u64::MAX for
/// "to the end of the file, however long").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeLock {
    pub owner: Owner,
    pub start: u64,
    pub end: u64,
    pub write: bool,
}

impl RangeLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }
}

#[derive(Default)]
struct FileLocks {
    /// flock(2): whole-file locks, shared or exclusive.
    whole: Vec<(Owner, bool)>,
    /// fcntl record locks, POSIX and OFD together (they conflict with each
    /// other, as on Linux).
    ranges: Vec<RangeLock>,
}

impl FileLocks {
    fn is_empty(&self) -> bool {
        self.whole.is_empty() && self.ranges.is_empty()
    }
}

/// Every lock of the sandbox, by file identity (st_dev, st_ino).
#[derive(Default)]
pub struct LockTable {
    files: Mutex<HashMap<(u64, u64), FileLocks>>,
    /// Waiters for any lock to be released.
    released: WaitQueue,
}

static TABLE: LazyLock<LockTable> = LazyLock::new(LockTable::default);

/// The sandbox's lock table.
pub fn table() -> &'static LockTable {
    &TABLE
}

impl LockTable {
    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), FileLocks>> {
        self.files.lock().expect("lock table poisoned")
    }

    /// flock(2): takes (or converts to) a shared or exclusive lock, waiting
    /// unless `nonblocking` (EWOULDBLOCK).
    pub fn flock(
        &self,
        file: (u64, u64),
        owner: Owner,
        write: bool,
        nonblocking: bool,
        caller: &dyn Caller,
    ) -> Result<(), Errno> {
        // Converting a lock drops the old one first, as Linux does.
        self.unflock(file, owner);
        caller.block_on(Some(&self.released), None, || {
            let mut files = self.files();
            let locks = files.entry(file).or_default();
            let conflict = locks
                .whole
                .iter()
                .any(|&(other, other_write)| other != owner && (write || other_write));
            if !conflict {
                locks.whole.push((owner, write));
                return Some(Ok(()));
            }
            nonblocking.then_some(Err(Errno::EWOULDBLOCK))
        })
    }

    /// flock(LOCK_UN).
    pub fn unflock(&self, file: (u64, u64), owner: Owner) {
        let mut files = self.files();
        if let Some(locks) = files.get_mut(&file) {
            locks.whole.retain(|&(other, _)| other != owner);
            if locks.is_empty() {
                files.remove(&file);
            }
        }
        drop(files);
        self.released.notify_all();
    }

    /// F_GETLK: the first lock that would conflict with `wanted`, if any.
    pub fn conflicting(&self, file: (u64, u64), wanted: RangeLock) -> Option<RangeLock> {
        let files = self.files();
        files
            .get(&file)
            .and_then(|locks| locks.ranges.iter().find(|lock| conflicts(lock, &wanted)).copied())
    }

    /// F_SETLK / F_SETLKW (and the OFD forms): sets `lock` (a read or write
    /// lock, or with `unlock` removes the owner's locks in its range).
    pub fn set(
        &self,
        file: (u64, u64),
        lock: RangeLock,
        unlock: bool,
        wait: bool,
        caller: &dyn Caller,
    ) -> Result<(), Errno> {
        if unlock {
            let mut files = self.files();
            if let Some(locks) = files.get_mut(&file) {
                remove_range(&mut locks.ranges, lock.owner, lock.start, lock.end);
                if locks.is_empty() {
                    files.remove(&file);
                }
            }
            drop(files);
            self.released.notify_all();
            return Ok(());
        }
        caller.block_on(Some(&self.released), None, || {
            let mut files = self.files();
            let locks = files.entry(file).or_default();
            if locks.ranges.iter().any(|other| conflicts(other, &lock)) {
                return (!wait).then_some(Err(Errno::EAGAIN));
            }
            remove_range(&mut locks.ranges, lock.owner, lock.start, lock.end);
            locks.ranges.push(lock);
            Some(Ok(()))
        })?;
        // A downgrade (write to read) may let waiters in.
        self.released.notify_all();
        Ok(())
    }

    /// Drops every lock `owner` holds: a description closed for the last
    /// time, or a process that exits.
    pub fn release_owner(&self, owner: Owner) {
        let mut files = self.files();
        files.retain(|_, locks| {
            locks.whole.retain(|&(other, _)| other != owner);
            locks.ranges.retain(|lock| lock.owner != owner);
            !locks.is_empty()
        });
        drop(files);
        self.released.notify_all();
    }

    /// Drops `pid`'s POSIX record locks on one file (it closed an fd of it).
    pub fn release_process_file(&self, file: (u64, u64), pid: i32) {
        let mut files = self.files();
        if let Some(locks) = files.get_mut(&file) {
            locks.ranges.retain(|lock| lock.owner != Owner::Process(pid));
            if locks.is_empty() {
                files.remove(&file);
            }
        }
        drop(files);
        self.released.notify_all();
    }
}

fn conflicts(held: &RangeLock, wanted: &RangeLock) -> bool {
    held.owner != wanted.owner && (held.write || wanted.write) && held.overlaps(wanted.start, wanted.end)
}

/// Removes `owner`'s locks from `[start, end]`, splitting the locks that
/// stick out on either side.
fn remove_range(ranges: &mut Vec<RangeLock>, owner: Owner, start: u64, end: u64) {
    let mut kept = Vec::with_capacity(ranges.len());
    for lock in ranges.drain(..) {
        if lock.owner != owner || !lock.overlaps(start, end) {
            kept.push(lock);
            continue;
        }
        if lock.start < start {
            kept.push(RangeLock { end: start - 1, ..lock });
        }
        if lock.end > end {
            kept.push(RangeLock { start: end + 1, ..lock });
        }
    }
    *ranges = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_middle_range_splits_the_lock() {
        let owner = Owner::Process(1);
        let mut ranges = vec![RangeLock {
            owner,
            start: 0,
            end: 99,
            write: true,
        }];
        remove_range(&mut ranges, owner, 10, 19);
        assert_eq!(ranges.len(), 2);
        assert_eq!((ranges[0].start, ranges[0].end), (0, 9));
        assert_eq!((ranges[1].start, ranges[1].end), (20, 99));
        let other = RangeLock {
            owner: Owner::Process(2),
            start: 15,
            end: 15,
            write: false,
        };
        assert!(!ranges.iter().any(|lock| conflicts(lock, &other)));
        let other = RangeLock { start: 9, ..other };
        assert!(ranges.iter().any(|lock| conflicts(lock, &other)));
    }
}
