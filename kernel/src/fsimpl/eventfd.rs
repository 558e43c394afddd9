//! eventfd(2): a 64-bit counter as a file. A write adds to it, a read takes
//! all of it (or one, in semaphore mode); a read of zero and a write that
//! would pass the largest value wait, or fail with EAGAIN when nonblocking.
//!
//! Lock order: the counter's lock is a leaf, let go of before the queue is
//! notified.

use std::sync::Mutex;

use nix::errno::Errno;

use crate::sync::Blocking;
use crate::sync::WaitQueue;
use crate::vfs::File;
use crate::vfs::anon_inode;
use crate::vfs::caller::Caller;
use crate::vfs::status_flags::StatusFlags;

/// The largest value the counter holds; a write of u64::MAX is EINVAL.
const MAX_COUNT: u64 = u64::MAX - 1;

/// An eventfd.
pub struct EventFd {
    count: Mutex<u64>,
    /// EFD_SEMAPHORE: a read takes one.
    semaphore: bool,
    flags: StatusFlags,
    /// Readers wait here for a count, writers for room; every change wakes
    /// both (and epoll interests).
    queue: WaitQueue,
}

impl EventFd {
    pub fn new(initial: u32, semaphore: bool, nonblock: bool) -> Self {
        EventFd {
            count: Mutex::new(u64::from(initial)),
            semaphore,
            flags: StatusFlags::read_write(nonblock),
            queue: WaitQueue::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.count.lock().expect("eventfd poisoned")
    }
}

impl File for EventFd {
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let nonblocking = self.flags.nonblocking();
        let value = caller.block_on(Some(&self.queue), None, || {
            let mut count = self.lock();
            if *count == 0 {
                return nonblocking.then_some(Err(Errno::EAGAIN));
            }
            let taken = if self.semaphore { 1 } else { *count };
            *count -= taken;
            Some(Ok(taken))
        })?;
        buf[..8].copy_from_slice(&value.to_ne_bytes());
        self.queue.notify_all();
        Ok(8)
    }

    fn write(&self, caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        let Some(bytes) = data.first_chunk::<8>() else {
            return Err(Errno::EINVAL);
        };
        let value = u64::from_ne_bytes(*bytes);
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let nonblocking = self.flags.nonblocking();
        caller.block_on(Some(&self.queue), None, || {
            let mut count = self.lock();
            if MAX_COUNT - *count >= value {
                *count += value;
                return Some(Ok(()));
            }
            nonblocking.then_some(Err(Errno::EAGAIN))
        })?;
        // Even a write of zero wakes waiters, as on Linux: edge-triggered
        // epoll interests see it.
        self.queue.notify_all();
        Ok(8)
    }

    fn poll(&self) -> u16 {
        let count = *self.lock();
        let mut ready = 0;
        if count > 0 {
            ready |= (libc::POLLIN | libc::POLLRDNORM) as u16;
        }
        if count < MAX_COUNT {
            ready |= (libc::POLLOUT | libc::POLLWRNORM) as u16;
        }
        ready
    }

    anon_inode::anon_file_methods!("eventfd", queue);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::vfs::caller::test_caller;

    fn with_caller<T>(f: impl FnOnce(&dyn Caller) -> T) -> T {
        f(&test_caller())
    }

    fn read(file: &EventFd, caller: &dyn Caller) -> Result<u64, Errno> {
        let mut buf = [0u8; 8];
        file.read(caller, &mut buf, None)?;
        Ok(u64::from_ne_bytes(buf))
    }

    #[test]
    fn a_read_takes_the_count_or_one() {
        with_caller(|caller| {
            let counter = EventFd::new(2, false, true);
            counter.write(caller, &5u64.to_ne_bytes(), None).unwrap();
            assert_eq!(read(&counter, caller), Ok(7));
            assert_eq!(read(&counter, caller), Err(Errno::EAGAIN));
            let semaphore = EventFd::new(2, true, true);
            assert_eq!(read(&semaphore, caller), Ok(1));
            assert_eq!(read(&semaphore, caller), Ok(1));
            assert_eq!(read(&semaphore, caller), Err(Errno::EAGAIN));
        });
    }

    #[test]
    fn the_counter_stops_short_of_u64_max() {
        with_caller(|caller| {
            let counter = EventFd::new(0, false, true);
            let write = |value: u64| counter.write(caller, &value.to_ne_bytes(), None);
            assert_eq!(write(u64::MAX), Err(Errno::EINVAL));
            assert_eq!(write(u64::MAX - 1), Ok(8));
            assert_eq!(counter.poll(), (libc::POLLIN | libc::POLLRDNORM) as u16);
            assert_eq!(write(1), Err(Errno::EAGAIN));
            assert_eq!(counter.write(caller, &[0u8; 4], None), Err(Errno::EINVAL));
        });
    }
}
