//! Pipes (pipe(7)): a 64 KiB buffer, writes of up to PIPE_BUF bytes that
//! are never interleaved, EOF once the last writer is gone, EPIPE (and
//! SIGPIPE, sent by the caller) once the last reader is.
//!
//! Lock order: a FIFO's `pipe` (the pipe its opens share) and a pipe's
//! `state` (buffer and open counts) are never held together, and nothing is
//! taken under either: the pipe's queue is notified after letting go.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use crate::abi::pod::Pod;
use crate::abi::structs::Stat;
use crate::sync::Blocking;
use crate::sync::WaitQueue;
use crate::vfs::File;
use crate::vfs::caller::Caller;

use crate::vfs::Location;

/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// The default capacity of a pipe (16 pages).
const DEFAULT_CAPACITY: usize = 65536;
/// The largest capacity F_SETPIPE_SZ grants (fs.pipe-max-size).
const MAX_CAPACITY: usize = 1 << 20;
/// The device number of pipefs: every pipe's st_dev.
const PIPEFS_DEV: u64 = libc::makedev(0, 12);

/// The inode number of the next pipe ("pipe:[N]" in /proc/PID/fd).
static NEXT_INO: AtomicU64 = AtomicU64::new(1);

struct PipeState {
    buffer: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// How many times a FIFO's read and write sides were opened: an opener
    /// waiting for the other side is satisfied by an open that came and
    /// went while it slept (Linux's r_counter/w_counter).
    reader_opens: u64,
    writer_opens: u64,
}

struct Pipe {
    ino: u64,
    state: Mutex<PipeState>,
    /// Readers wait here for data, writers for room; any change wakes both.
    queue: WaitQueue,
}

/// One end of a pipe (or both, for a FIFO opened O_RDWR), as an open file
/// description.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    reads: bool,
    writes: bool,
    /// O_NONBLOCK and the access mode, as F_GETFL shows them.
    flags: AtomicU32,
    /// The FIFO's name, for a FIFO opened by path.
    location: Option<Location>,
}

/// Creates a pipe; returns its read end and its write end. `nonblock` is
/// pipe2's O_NONBLOCK.
pub fn new_pipe(nonblock: bool) -> (Arc<dyn File>, Arc<dyn File>) {
    let pipe = Arc::new(Pipe {
        ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        state: Mutex::new(PipeState {
            buffer: VecDeque::new(),
            capacity: DEFAULT_CAPACITY,
            readers: 1,
            writers: 1,
            reader_opens: 0,
            writer_opens: 0,
        }),
        queue: WaitQueue::default(),
    });
    let extra = if nonblock { libc::O_NONBLOCK as u32 } else { 0 };
    let read_end = PipeEnd {
        pipe: Arc::clone(&pipe),
        reads: true,
        writes: false,
        flags: AtomicU32::new(libc::O_RDONLY as u32 | extra),
        location: None,
    };
    let write_end = PipeEnd {
        pipe,
        reads: false,
        writes: true,
        flags: AtomicU32::new(libc::O_WRONLY as u32 | extra),
        location: None,
    };
    (Arc::new(read_end), Arc::new(write_end))
}

/// The pipe behind a FIFO's name (fifo(7)): made by the first open, shared
/// by every open while any end is open.
#[derive(Default)]
pub struct Fifo {
    pipe: Mutex<std::sync::Weak<Pipe>>,
}

impl Fifo {
    /// Opens an end of the FIFO named at `location`. A reader waits for a
    /// writer and a writer for a reader, unless O_NONBLOCK (then a writer
    /// without readers gets ENXIO); O_RDWR never waits.
    pub fn open(&self, location: Location, flags: i32, caller: &dyn Caller) -> Result<Arc<dyn File>, Errno> {
        let access = flags & libc::O_ACCMODE;
        let (reads, writes) = (access != libc::O_WRONLY, access != libc::O_RDONLY);
        let nonblock = flags & libc::O_NONBLOCK != 0;
        let pipe = {
            let mut slot = self.pipe.lock().expect("fifo poisoned");
            match slot.upgrade() {
                Some(pipe) => pipe,
                None => {
                    let pipe = Arc::new(Pipe {
                        ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
                        state: Mutex::new(PipeState {
                            buffer: VecDeque::new(),
                            capacity: DEFAULT_CAPACITY,
                            readers: 0,
                            writers: 0,
                            reader_opens: 0,
                            writer_opens: 0,
                        }),
                        queue: WaitQueue::default(),
                    });
                    *slot = Arc::downgrade(&pipe);
                    pipe
                }
            }
        };
        if writes && !reads && nonblock && pipe.state.lock().expect("pipe poisoned").readers == 0 {
            return Err(Errno::ENXIO);
        }
        let others_before = {
            let mut state = pipe.state.lock().expect("pipe poisoned");
            state.readers += usize::from(reads);
            state.writers += usize::from(writes);
            state.reader_opens += u64::from(reads);
            state.writer_opens += u64::from(writes);
            if reads { state.writer_opens } else { state.reader_opens }
        };
        let end = PipeEnd {
            pipe: Arc::clone(&pipe),
            reads,
            writes,
            flags: AtomicU32::new((flags & (libc::O_ACCMODE | libc::O_NONBLOCK)) as u32),
            location: Some(location),
        };
        pipe.queue.notify_all();
        if !nonblock && reads != writes {
            // Wait for the other side; dropping `end` on EINTR undoes the open.
            caller.block_on(Some(&pipe.queue), None, || {
                let state = pipe.state.lock().expect("pipe poisoned");
                let (open, opens) = if reads {
                    (state.writers, state.writer_opens)
                } else {
                    (state.readers, state.reader_opens)
                };
                (open > 0 || opens != others_before).then_some(Ok(()))
            })?;
        }
        Ok(Arc::new(end))
    }
}

impl PipeEnd {
    fn nonblocking(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & libc::O_NONBLOCK as u32 != 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PipeState> {
        self.pipe.state.lock().expect("pipe poisoned")
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut state = self.lock();
            state.writers -= usize::from(self.writes);
            state.readers -= usize::from(self.reads);
        }
        self.pipe.queue.notify_all();
    }
}

impl File for PipeEnd {
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        // A pipe has no positions: pread and preadv are ESPIPE, as on Linux.
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if !self.reads {
            return Err(Errno::EBADF);
        }
        let wanted = buf.len();
        if wanted == 0 {
            return Ok(0);
        }
        let nonblocking = self.nonblocking();
        let done = caller.block_on(Some(&self.pipe.queue), None, || {
            let mut state = self.lock();
            if !state.buffer.is_empty() {
                let n = wanted.min(state.buffer.len());
                for (slot, byte) in buf.iter_mut().zip(state.buffer.drain(..n)) {
                    *slot = byte;
                }
                return Some(Ok(n));
            }
            if state.writers == 0 {
                return Some(Ok(0));
            }
            nonblocking.then_some(Err(Errno::EAGAIN))
        })?;
        self.pipe.queue.notify_all();
        Ok(done)
    }

    fn write(&self, caller: &dyn Caller, data: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if !self.writes {
            return Err(Errno::EBADF);
        }
        let total = data.len();
        if total == 0 {
            return Ok(0);
        }
        let atomic = total <= PIPE_BUF;
        let nonblocking = self.nonblocking();
        let mut written = 0;
        while written < total {
            let result = caller.block_on(Some(&self.pipe.queue), None, || {
                let mut state = self.lock();
                if state.readers == 0 {
                    return Some(Err(Errno::EPIPE));
                }
                let room = state.capacity.saturating_sub(state.buffer.len());
                let needed = if atomic { total } else { 1 };
                if room >= needed {
                    let chunk = &data[written..written + room.min(total - written)];
                    state.buffer.extend(chunk);
                    return Some(Ok(chunk.len()));
                }
                nonblocking.then_some(Err(Errno::EAGAIN))
            });
            match result {
                Ok(n) => {
                    written += n;
                    self.pipe.queue.notify_all();
                }
                // What was written stays written: report it, as Linux does.
                Err(_) if written > 0 => break,
                Err(errno) => return Err(errno),
            }
        }
        Ok(written)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        if let Some(location) = &self.location {
            return location.stat();
        }
        let mut stat = <Stat as Pod>::zeroed();
        stat.st_mode = libc::S_IFIFO | 0o600;
        stat.st_dev = PIPEFS_DEV;
        stat.st_ino = self.pipe.ino;
        stat.st_nlink = 1;
        stat.st_blksize = PIPE_BUF as i64;
        Ok(stat)
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.load(Ordering::Relaxed))
    }

    fn poll(&self) -> u16 {
        let state = self.lock();
        let mut ready = 0;
        if self.writes {
            if state.readers == 0 {
                ready |= libc::POLLERR as u16;
            } else if state.capacity.saturating_sub(state.buffer.len()) >= PIPE_BUF {
                ready |= (libc::POLLOUT | libc::POLLWRNORM) as u16;
            }
        }
        if self.reads {
            if !state.buffer.is_empty() {
                ready |= (libc::POLLIN | libc::POLLRDNORM) as u16;
            }
            if state.writers == 0 {
                ready |= libc::POLLHUP as u16;
            }
        }
        ready
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pipe.queue)
    }

    fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    fn pipe_size(&self) -> Result<usize, Errno> {
        Ok(self.lock().capacity)
    }

    /// Rounds up to a power-of-two number of pages, from one page to
    /// pipe-max-size (1 MiB); smaller than the data held is EBUSY.
    fn set_pipe_size(&self, size: usize) -> Result<usize, Errno> {
        if size > MAX_CAPACITY {
            return Err(Errno::EPERM);
        }
        let capacity = size.max(PIPE_BUF).next_power_of_two();
        let mut state = self.lock();
        if capacity < state.buffer.len() {
            return Err(Errno::EBUSY);
        }
        state.capacity = capacity;
        drop(state);
        self.pipe.queue.notify_all();
        Ok(capacity)
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        let changeable = libc::O_NONBLOCK as u32;
        let old = self.flags.load(Ordering::Relaxed);
        self.flags
            .store((old & !changeable) | (flags & changeable), Ordering::Relaxed);
        Ok(())
    }
}
