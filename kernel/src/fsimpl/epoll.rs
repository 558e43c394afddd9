//! epoll(7): an interest list of (fd, open file) pairs, and the events they
//! have to report, level- or edge-triggered, one-shot or not.
//!
//! Lock order: `NESTING` (additions of epoll instances to epoll instances)
//! before any instance's `state` (its interest list); `chain_below` takes
//! those below one at a time. An instance's `state` is held while its files
//! are polled and registered, so it comes before every lock a file's `poll`
//! takes (a pipe's, a pty's, a nested instance's `state`, outer before
//! inner since loops are refused; the task set's for a signalfd) and before
//! their queues' `waiters`. A `Watch` is notified under its notifier's
//! locks (the task set's, for a signal) and takes only wait-queue and waker
//! locks.
//!
//! Each interest listens on its file's wait queue through a `Watch`. A
//! notification bumps the watch's sequence, which is the edge an
//! edge-triggered interest reports, and wakes the instance's own queue:
//! epoll_wait callers sleep there, and so do poll(2) callers and outer
//! epoll instances watching this one. Readiness itself is always asked of
//! the file, so a level-triggered interest reports what poll(2) would.
//!
//! An interest holds its file weakly: once the last fd of the open file
//! description is closed, the interest is gone, as on Linux. While another
//! fd (a dup) keeps the file open, the interest stays under the old fd
//! number, also as on Linux.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use nix::errno::Errno;

use crate::sync::{WaitQueue, Waiter};
use crate::vfs::File;
use crate::vfs::anon_inode;
use crate::vfs::caller::Caller;
use crate::vfs::status_flags::StatusFlags;

const EPOLLIN: u32 = libc::EPOLLIN as u32;
const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
const EPOLLRDNORM: u32 = libc::EPOLLRDNORM as u32;
const EPOLLWRNORM: u32 = libc::EPOLLWRNORM as u32;
const EPOLLRDBAND: u32 = libc::EPOLLRDBAND as u32;
const EPOLLWRBAND: u32 = libc::EPOLLWRBAND as u32;
const EPOLLERR: u32 = libc::EPOLLERR as u32;
const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
const EPOLLET: u32 = libc::EPOLLET as u32;
const EPOLLONESHOT: u32 = libc::EPOLLONESHOT as u32;
const EPOLLWAKEUP: u32 = libc::EPOLLWAKEUP as u32;
const EPOLLEXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// Bits that say how an interest reports, not what it waits for.
const INPUT_FLAGS: u32 = EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE;
/// Reported whether asked for or not.
const ALWAYS: u32 = EPOLLERR | EPOLLHUP;
/// What an EPOLLEXCLUSIVE interest may ask for (Linux's
/// EPOLLEXCLUSIVE_OK_BITS).
const EXCLUSIVE_OK: u32 = EPOLLIN
    | EPOLLOUT
    | EPOLLRDNORM
    | EPOLLRDBAND
    | EPOLLWRNORM
    | EPOLLWRBAND
    | ALWAYS
    | EPOLLWAKEUP
    | EPOLLET
    | EPOLLEXCLUSIVE;
/// The longest chain of epoll instances watching one another, counting the
/// outermost (epoll_ctl(2): "a nesting depth of epoll instances greater
/// than 5" is ELOOP).
const MAX_CHAIN: usize = 5;

/// Serializes additions of epoll instances to epoll instances, so that two
/// of them cannot each pass the loop check and then form a loop (Linux's
/// epnested_mutex).
static NESTING: Mutex<()> = Mutex::new(());

/// struct epoll_event: what an interest reports, with the caller's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

impl EpollEvent {
    /// The structure is packed on x86-64: 4 bytes of events, 8 of data.
    pub const SIZE: usize = 12;

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        EpollEvent {
            events: u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")),
            data: u64::from_le_bytes(bytes[4..].try_into().expect("8 bytes")),
        }
    }

    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut bytes = [0u8; Self::SIZE];
        bytes[..4].copy_from_slice(&self.events.to_le_bytes());
        bytes[4..].copy_from_slice(&self.data.to_le_bytes());
        bytes
    }
}

/// An interest's place on its file's wait queue.
struct Watch {
    /// Bumped by every notification of the file.
    sequence: AtomicU64,
    /// The queue of the epoll instance, told in turn.
    instance: Weak<WaitQueue>,
}

impl Waiter for Watch {
    fn notify(&self) {
        self.sequence.fetch_add(1, Ordering::SeqCst);
        if let Some(queue) = self.instance.upgrade() {
            queue.notify_all();
        }
    }
}

/// One entry of the interest list.
struct Interest {
    file: Weak<dyn File>,
    /// The events asked for, with EPOLLERR, EPOLLHUP and the input flags.
    /// A one-shot interest that has reported keeps only the input flags
    /// until EPOLL_CTL_MOD arms it again.
    events: u32,
    data: u64,
    /// On the file's wait queue; None for files without one (host files),
    /// whose readiness is polled.
    watch: Option<Arc<Watch>>,
    /// Edge-triggered: the edge last looked at, the watch's sequence (or,
    /// for a polled file, its readiness then); None until the first look
    /// after EPOLL_CTL_ADD or EPOLL_CTL_MOD, so a file ready at that point
    /// is reported once.
    seen: Option<u64>,
}

impl Interest {
    fn wanted(&self) -> u32 {
        self.events & !INPUT_FLAGS
    }

    /// What the interest would report now, and the edge it stands at.
    fn check(&self, file: &dyn File) -> (u32, u64) {
        let edge = self.watch.as_ref().map(|watch| watch.sequence.load(Ordering::SeqCst));
        let ready = u32::from(file.poll()) & self.wanted();
        (ready, edge.unwrap_or(u64::from(ready)))
    }

    /// Whether the interest has something to report, without consuming it.
    fn ready(&self) -> bool {
        let Some(file) = self.file.upgrade() else {
            return false;
        };
        if self.wanted() == 0 {
            return false;
        }
        let (ready, edge) = self.check(&*file);
        ready != 0 && (self.events & EPOLLET == 0 || self.seen != Some(edge))
    }

    fn unregister(&self) {
        if let (Some(file), Some(watch)) = (self.file.upgrade(), &self.watch) {
            if let Some(queue) = file.wait_queue() {
                queue.unregister(watch);
            }
        }
    }
}

/// Interests are keyed by fd and open file description.
type Key = (i32, usize);

fn key(fd: i32, file: &Arc<dyn File>) -> Key {
    (fd, Arc::as_ptr(file).cast::<()>() as usize)
}

struct State {
    interests: BTreeMap<Key, Interest>,
    /// The last interest reported: the next collection starts after it, so
    /// that level-triggered files take turns when there are more events
    /// than room, as they do on Linux's ready list.
    cursor: Option<Key>,
}

/// An epoll instance.
pub struct EpollFile {
    state: Mutex<State>,
    /// Told of every notification of a watched file, and of changes to the
    /// interest list.
    queue: Arc<WaitQueue>,
    flags: StatusFlags,
}

impl Default for EpollFile {
    fn default() -> Self {
        EpollFile {
            state: Mutex::new(State {
                interests: BTreeMap::new(),
                cursor: None,
            }),
            queue: Arc::new(WaitQueue::default()),
            flags: StatusFlags::read_write(false),
        }
    }
}

impl EpollFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("epoll instance poisoned")
    }

    /// The file as an epoll instance, if it is one.
    pub fn of(file: &dyn File) -> Option<&EpollFile> {
        file.as_any()?.downcast_ref::<EpollFile>()
    }

    /// Where epoll_wait sleeps.
    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// EPOLL_CTL_ADD of `file` under `fd`.
    pub fn add(&self, fd: i32, file: &Arc<dyn File>, event: EpollEvent) -> Result<(), Errno> {
        let nested = EpollFile::of(&**file);
        if event.events & EPOLLEXCLUSIVE != 0 && (nested.is_some() || event.events & !EXCLUSIVE_OK != 0) {
            return Err(Errno::EINVAL);
        }
        let _nesting = nested.map(|_| NESTING.lock().expect("epoll nesting lock poisoned"));
        if let Some(inner) = nested {
            let below = inner.chain_below(self, 1).ok_or(Errno::ELOOP)?;
            if 1 + below > MAX_CHAIN {
                return Err(Errno::ELOOP);
            }
        }
        let mut state = self.lock();
        let key = key(fd, file);
        if state.interests.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        let watch = file.wait_queue().map(|queue| {
            let watch = Arc::new(Watch {
                sequence: AtomicU64::new(0),
                instance: Arc::downgrade(&self.queue),
            });
            queue.register(&watch);
            watch
        });
        state.interests.insert(
            key,
            Interest {
                file: Arc::downgrade(file),
                events: event.events | ALWAYS,
                data: event.data,
                watch,
                seen: None,
            },
        );
        drop(state);
        self.queue.notify_all();
        Ok(())
    }

    /// EPOLL_CTL_MOD: new events and data, and a fresh look at the file.
    pub fn modify(&self, fd: i32, file: &Arc<dyn File>, event: EpollEvent) -> Result<(), Errno> {
        if event.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        let mut state = self.lock();
        let interest = state.interests.get_mut(&key(fd, file)).ok_or(Errno::ENOENT)?;
        if interest.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        interest.events = event.events | ALWAYS;
        interest.data = event.data;
        interest.seen = None;
        drop(state);
        self.queue.notify_all();
        Ok(())
    }

    /// EPOLL_CTL_DEL.
    pub fn delete(&self, fd: i32, file: &Arc<dyn File>) -> Result<(), Errno> {
        let interest = self.lock().interests.remove(&key(fd, file)).ok_or(Errno::ENOENT)?;
        interest.unregister();
        Ok(())
    }

    /// Takes up to `max` events: what level-triggered interests report
    /// now, edges not yet reported, one-shot interests disarmed once they
    /// report. Empty when nothing is ready.
    pub fn collect(&self, max: usize) -> Vec<EpollEvent> {
        let mut state = self.lock();
        state.interests.retain(|_, interest| interest.file.strong_count() > 0);
        let keys: Vec<Key> = match state.cursor {
            Some(cursor) => {
                let after = state
                    .interests
                    .range((std::ops::Bound::Excluded(cursor), std::ops::Bound::Unbounded));
                let before = state.interests.range(..=cursor);
                after.chain(before).map(|(key, _)| *key).collect()
            }
            None => state.interests.keys().copied().collect(),
        };
        let mut events = Vec::new();
        for key in keys {
            if events.len() >= max {
                break;
            }
            let interest = state.interests.get_mut(&key).expect("listed above");
            let Some(file) = interest.file.upgrade() else {
                continue;
            };
            if interest.wanted() == 0 {
                continue;
            }
            let (ready, edge) = interest.check(&*file);
            if interest.events & EPOLLET != 0 {
                if interest.seen == Some(edge) {
                    continue;
                }
                interest.seen = Some(edge);
            }
            if ready == 0 {
                continue;
            }
            events.push(EpollEvent {
                events: ready,
                data: interest.data,
            });
            if interest.events & EPOLLONESHOT != 0 {
                interest.events &= INPUT_FLAGS;
            }
            state.cursor = Some(key);
        }
        events
    }

    /// Whether a wait must poll: some watched file (here or in a nested
    /// instance) has no wait queue to hear of it from.
    pub fn polls_host_files(&self) -> bool {
        let files: Vec<Arc<dyn File>> = self
            .lock()
            .interests
            .values()
            .filter(|interest| interest.wanted() != 0)
            .filter_map(|interest| interest.file.upgrade())
            .collect();
        files.iter().any(|file| match EpollFile::of(&**file) {
            Some(inner) => inner.polls_host_files(),
            None => file.wait_queue().is_none(),
        })
    }

    /// How many epoll instances `self` chains down to, itself included; None
    /// if `outer` is among them (adding `self` to `outer` would make a loop)
    /// or the chain is already too long.
    fn chain_below(&self, outer: &EpollFile, level: usize) -> Option<usize> {
        if std::ptr::eq(self, outer) || level > MAX_CHAIN {
            return None;
        }
        let files: Vec<Arc<dyn File>> = self
            .lock()
            .interests
            .values()
            .filter_map(|interest| interest.file.upgrade())
            .collect();
        let mut deepest = 1;
        for file in &files {
            if let Some(inner) = EpollFile::of(&**file) {
                deepest = deepest.max(1 + inner.chain_below(outer, level + 1)?);
            }
        }
        Some(deepest)
    }
}

impl Drop for EpollFile {
    fn drop(&mut self) {
        let state = self.state.get_mut().expect("epoll instance poisoned");
        for interest in state.interests.values() {
            interest.unregister();
        }
    }
}

impl File for EpollFile {
    fn read(&self, _caller: &dyn Caller, _buf: &mut [u8], _offset: Option<u64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _caller: &dyn Caller, _data: &[u8], _offset: Option<u64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// Readable while some interest has an event to report.
    fn poll(&self) -> u16 {
        if self.lock().interests.values().any(Interest::ready) {
            (libc::POLLIN | libc::POLLRDNORM) as u16
        } else {
            0
        }
    }

    anon_inode::anon_file_methods!("eventpoll", queue);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fsimpl::{EventFd, new_pipe};

    use crate::sync::Waker;
    use crate::vfs::caller::test_caller;

    fn event(events: i32, data: u64) -> EpollEvent {
        EpollEvent {
            events: events as u32,
            data,
        }
    }

    fn write_to(file: &Arc<dyn File>, data: &[u8]) {
        file.write(&test_caller(), data, None).unwrap();
    }

    #[test]
    fn level_triggered_reports_until_drained_and_edge_triggered_once() {
        let epoll = EpollFile::default();
        let (read_end, write_end) = new_pipe(true);
        let (other_read, other_write) = new_pipe(true);
        epoll.add(3, &read_end, event(libc::EPOLLIN, 30)).unwrap();
        epoll
            .add(5, &other_read, event(libc::EPOLLIN | libc::EPOLLET, 50))
            .unwrap();
        assert!(epoll.collect(8).is_empty());
        write_to(&write_end, b"x");
        write_to(&other_write, b"y");
        assert_eq!(epoll.collect(8).len(), 2);
        assert_eq!(
            epoll.collect(8),
            vec![event(libc::EPOLLIN, 30)],
            "the edge was reported once"
        );
        write_to(&other_write, b"z");
        assert_eq!(epoll.collect(8).len(), 2, "a new write is a new edge");
    }

    #[test]
    fn level_triggered_files_take_turns() {
        let epoll = EpollFile::default();
        let pipes: Vec<_> = (0..3).map(|_| new_pipe(true)).collect();
        for (i, (read_end, write_end)) in pipes.iter().enumerate() {
            epoll.add(i as i32, read_end, event(libc::EPOLLIN, i as u64)).unwrap();
            write_to(write_end, b"x");
        }
        let turns: Vec<u64> = (0..4).map(|_| epoll.collect(1)[0].data).collect();
        assert_eq!(turns, vec![0, 1, 2, 0]);
    }

    #[test]
    fn one_shot_disarms_until_modified() {
        let epoll = EpollFile::default();
        let (read_end, write_end) = new_pipe(true);
        write_to(&write_end, b"x");
        epoll
            .add(3, &read_end, event(libc::EPOLLIN | libc::EPOLLONESHOT, 1))
            .unwrap();
        assert_eq!(epoll.collect(8).len(), 1);
        assert!(epoll.collect(8).is_empty());
        assert_eq!(epoll.poll(), 0);
        epoll
            .modify(3, &read_end, event(libc::EPOLLIN | libc::EPOLLONESHOT, 2))
            .unwrap();
        assert_eq!(epoll.poll(), (libc::POLLIN | libc::POLLRDNORM) as u16);
        assert_eq!(epoll.collect(8), vec![event(libc::EPOLLIN, 2)]);
    }

    #[test]
    fn control_errors() {
        let epoll = EpollFile::default();
        let (read_end, _write_end) = new_pipe(true);
        epoll.add(3, &read_end, event(libc::EPOLLIN, 0)).unwrap();
        assert_eq!(epoll.add(3, &read_end, event(libc::EPOLLIN, 0)), Err(Errno::EEXIST));
        assert_eq!(epoll.modify(4, &read_end, event(libc::EPOLLIN, 0)), Err(Errno::ENOENT));
        assert_eq!(epoll.delete(4, &read_end), Err(Errno::ENOENT));
        epoll.delete(3, &read_end).unwrap();
        let exclusive = event(libc::EPOLLIN | libc::EPOLLEXCLUSIVE, 0);
        epoll.add(3, &read_end, exclusive).unwrap();
        assert_eq!(epoll.modify(3, &read_end, event(libc::EPOLLIN, 0)), Err(Errno::EINVAL));
        let (other, _) = new_pipe(true);
        let bad = event(libc::EPOLLIN | libc::EPOLLEXCLUSIVE | libc::EPOLLONESHOT, 0);
        assert_eq!(epoll.add(4, &other, bad), Err(Errno::EINVAL));
    }

    #[test]
    fn closed_files_drop_out() {
        let epoll = EpollFile::default();
        let (read_end, write_end) = new_pipe(true);
        epoll.add(3, &read_end, event(libc::EPOLLIN, 0)).unwrap();
        write_to(&write_end, b"x");
        drop(read_end);
        assert!(epoll.collect(8).is_empty());
        assert!(epoll.lock().interests.is_empty());
    }

    #[test]
    fn nesting_refuses_loops_and_long_chains() {
        let instances: Vec<Arc<dyn File>> = (0..6)
            .map(|_| Arc::new(EpollFile::default()) as Arc<dyn File>)
            .collect();
        let of = |i: usize| EpollFile::of(&*instances[i]).unwrap();
        of(0).add(10, &instances[1], event(libc::EPOLLIN, 0)).unwrap();
        assert_eq!(of(1).add(10, &instances[0], event(libc::EPOLLIN, 0)), Err(Errno::ELOOP));
        for i in 1..5 {
            of(i).add(10, &instances[i + 1], event(libc::EPOLLIN, 0)).unwrap();
        }
        // 0 → 1 → … → 5 is six instances, known only below 0: the chain
        // is counted downward.
        let seventh: Arc<dyn File> = Arc::new(EpollFile::default());
        assert_eq!(
            EpollFile::of(&*seventh)
                .unwrap()
                .add(10, &instances[0], event(libc::EPOLLIN, 0)),
            Err(Errno::ELOOP)
        );
    }

    #[test]
    fn nested_instances_pass_readiness_up() {
        let outer = EpollFile::default();
        let inner: Arc<dyn File> = Arc::new(EpollFile::default());
        let counter: Arc<dyn File> = Arc::new(EventFd::new(0, false, true));
        EpollFile::of(&*inner)
            .unwrap()
            .add(4, &counter, event(libc::EPOLLIN, 4))
            .unwrap();
        outer.add(3, &inner, event(libc::EPOLLIN | libc::EPOLLET, 3)).unwrap();
        assert!(outer.collect(8).is_empty());
        let waiter = Waker::new();
        outer.queue().register(&waiter);
        let seen = waiter.sequence();
        write_to(&counter, &1u64.to_ne_bytes());
        assert!(
            waiter.sequence() > seen,
            "a write to the counter woke the outer instance's waiter"
        );
        assert_eq!(outer.collect(8), vec![event(libc::EPOLLIN, 3)]);
        assert!(outer.collect(8).is_empty(), "edge-triggered: once");
    }
}
