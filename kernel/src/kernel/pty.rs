//! Pseudo-terminals (pty(7)): opening /dev/ptmx makes a master and a
//! replica /dev/pts/N joined by a line discipline. What the master writes
//! is the replica's input; what the replica writes, processed, is what the
//! master reads.
//!
//! As on Linux: the replica cannot be opened while locked (TIOCSPTLCK, set
//! at creation; unlockpt clears it); a master read with no replica open
//! any more is EIO; closing the master hangs the replica up (reads end,
//! writes are EIO) and sends SIGHUP to the session it controlled; the
//! /dev/pts entry goes with the master.
//!
//! Lock order: the pty table's `ptys` (index to pty) before a pty's `state`
//! (line discipline, window size, open counts), which is a leaf: a pty lets
//! go of it before it writes to the caller's memory, notifies its queue or
//! takes the task set's lock (a master's close hangs the terminal up, a
//! signal character signals the foreground group), and reads its `Control`
//! (session and foreground group) without it. The task set's lock comes
//! before `Control` (`vfs::terminal`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use nix::errno::Errno;

use crate::abi::UserAddr;
use crate::abi::pod::Pod;
use crate::abi::structs::{Stat, Timespec, Winsize};
use crate::fsimpl::tty::line::LineDiscipline;
use crate::fsimpl::tty::termios::{KernelTermios, KernelTermios2, SPEED_38400, TOSTOP};
use crate::kernel::Kernel;
use crate::sync::Blocking;
use crate::sync::WaitQueue;
use crate::vfs::File;
use crate::vfs::caller::{Caller, CallerMemory};
use crate::vfs::terminal::{Control, Side, Terminal, job_control_ioctl};

use crate::vfs::Location;

/// The first major number of Unix98 pty replicas (UNIX98_PTY_SLAVE_MAJOR);
/// replicas use majors 136 to 143.
pub const REPLICA_MAJOR: u32 = 136;
/// How many ptys may exist at once (kernel.pty.max's default).
const MAX_PTYS: u32 = 4096;
/// The tty group, which runc's default spec (`gid=5`) and `cordon do` give
/// /dev/pts entries.
pub const TTY_GID: u32 = 5;

/// The device number of replica `index`.
pub fn replica_rdev(index: u32) -> u64 {
    libc::makedev(REPLICA_MAJOR + (index >> 8), index & 0xff)
}

/// The replica index a device number names, if it names one.
pub fn replica_index(rdev: u64) -> Option<u32> {
    let major = libc::major(rdev);
    (REPLICA_MAJOR..REPLICA_MAJOR + 8)
        .contains(&major)
        .then(|| ((major - REPLICA_MAJOR) << 8) | libc::minor(rdev))
}

/// Every pty of the sandbox, by index.
#[derive(Default)]
pub struct PtyTable {
    /// Guards the index map. A pty keeps its index while anything holds it.
    ptys: Mutex<BTreeMap<u32, Weak<Pty>>>,
}

impl PtyTable {
    /// /dev/ptmx: a new pty; returns its master, opened with `flags`.
    pub fn open_master(&self, kernel: &Kernel, uid: u32, gid: u32, flags: i32) -> Result<Arc<dyn File>, Errno> {
        let mut ptys = self.ptys.lock().expect("pty table poisoned");
        ptys.retain(|_, pty| pty.strong_count() > 0);
        let index = (0..MAX_PTYS).find(|i| !ptys.contains_key(i)).ok_or(Errno::ENOSPC)?;
        let pty = Arc::new(Pty {
            index,
            kernel: kernel.weak(),
            owner: (uid, gid),
            created: crate::vfs::now(),
            control: Control::default(),
            queue: WaitQueue::default(),
            state: Mutex::new(PtyState {
                line: LineDiscipline::default(),
                winsize: Winsize {
                    ws_row: 0,
                    ws_col: 0,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                },
                locked: true,
                master_open: true,
                replicas: 0,
                other_closed: false,
            }),
        });
        ptys.insert(index, Arc::downgrade(&pty));
        Ok(Arc::new(MasterFile {
            pty,
            flags: AtomicU32::new(status_flags(flags)),
        }))
    }

    /// /dev/pts/N: a new open file description of replica `index`. EIO
    /// while locked or once its master is gone.
    pub fn open_replica(&self, index: u32, location: Option<Location>, flags: i32) -> Result<Arc<dyn File>, Errno> {
        let pty = self.live(index).ok_or(Errno::EIO)?;
        pty.open_replica(location, flags)
    }

    /// The pty at `index` whose master is open.
    pub fn live(&self, index: u32) -> Option<Arc<Pty>> {
        let ptys = self.ptys.lock().expect("pty table poisoned");
        ptys.get(&index)
            .and_then(Weak::upgrade)
            .filter(|pty| pty.lock().master_open)
    }

    /// The indices of the ptys whose master is open, in order (/dev/pts).
    pub fn live_indices(&self) -> Vec<u32> {
        let ptys = self.ptys.lock().expect("pty table poisoned");
        ptys.iter()
            .filter(|(_, pty)| pty.upgrade().is_some_and(|pty| pty.lock().master_open))
            .map(|(&index, _)| index)
            .collect()
    }
}

/// The part of a pty that changes.
struct PtyState {
    line: LineDiscipline,
    winsize: Winsize,
    /// TIOCSPTLCK: the replica cannot be opened.
    locked: bool,
    master_open: bool,
    /// Open file descriptions of the replica.
    replicas: usize,
    /// The replica was opened and every description of it is closed
    /// (Linux's TTY_OTHER_CLOSED on the master): master reads are EIO.
    other_closed: bool,
}

/// One master/replica pair.
pub struct Pty {
    index: u32,
    /// For the signals the pty raises outside any system call (SIGHUP when
    /// the master closes).
    kernel: Weak<Kernel>,
    /// The uid and gid of whoever opened /dev/ptmx: /dev/pts/N's owner.
    owner: (u32, u32),
    created: Timespec,
    control: Control,
    /// Guards the line discipline and the open counts.
    state: Mutex<PtyState>,
    /// Readers and writers of both sides wait here; any change wakes all.
    queue: WaitQueue,
}

impl Pty {
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The owner (uid, gid) of the replica's /dev/pts entry.
    pub fn owner(&self) -> (u32, u32) {
        self.owner
    }

    /// When the pty was made (the /dev/pts entry's times).
    pub fn created(&self) -> Timespec {
        self.created
    }

    fn lock(&self) -> MutexGuard<'_, PtyState> {
        self.state.lock().expect("pty poisoned")
    }

    fn open_replica(self: &Arc<Self>, location: Option<Location>, flags: i32) -> Result<Arc<dyn File>, Errno> {
        {
            let mut state = self.lock();
            if state.locked || !state.master_open {
                return Err(Errno::EIO);
            }
            state.replicas += 1;
            state.other_closed = false;
        }
        Ok(Arc::new(ReplicaFile {
            pty: Arc::clone(self),
            location,
            flags: AtomicU32::new(status_flags(flags)),
        }))
    }

    /// Sends `signo` to the foreground group, if there is one.
    fn signal_foreground(&self, signo: i32) {
        let foreground = self.control.lock().foreground;
        if let (Some(pgrp), Some(kernel)) = (foreground, self.kernel.upgrade()) {
            kernel.core.tasks.signal_group(pgrp, signo);
        }
    }

    /// The terminal ioctls both sides share (on the replica's settings, as
    /// Linux's tty_mode_ioctl does for a master); None for others.
    fn terminal_ioctl(
        self: &Arc<Self>,
        caller: &dyn Caller,
        side: Side,
        request: u64,
        arg: u64,
    ) -> Option<Result<u64, Errno>> {
        let result = match request {
            libc::TCGETS => {
                let termios = self.lock().line.termios();
                caller.write_pod(UserAddr::new(arg), &termios).map(|()| 0)
            }
            libc::TCGETS2 => {
                let termios = KernelTermios2 {
                    termios: self.lock().line.termios(),
                    c_ispeed: SPEED_38400,
                    c_ospeed: SPEED_38400,
                };
                caller.write_pod(UserAddr::new(arg), &termios).map(|()| 0)
            }
            libc::TCSETS | libc::TCSETSW | libc::TCSETSF => caller
                .read_pod::<KernelTermios>(UserAddr::new(arg))
                .and_then(|termios| self.set_termios(caller, side, termios, request == libc::TCSETSF)),
            libc::TCSETS2 | libc::TCSETSW2 | libc::TCSETSF2 => caller
                .read_pod::<KernelTermios2>(UserAddr::new(arg))
                .and_then(|termios| self.set_termios(caller, side, termios.termios, request == libc::TCSETSF2)),
            libc::TIOCGWINSZ => {
                let size = self.lock().winsize;
                caller.write_pod(UserAddr::new(arg), &size).map(|()| 0)
            }
            libc::TIOCSWINSZ => caller.read_pod::<Winsize>(UserAddr::new(arg)).map(|size| {
                let changed = {
                    let mut state = self.lock();
                    let old = state.winsize;
                    state.winsize = size;
                    (old.ws_row, old.ws_col, old.ws_xpixel, old.ws_ypixel)
                        != (size.ws_row, size.ws_col, size.ws_xpixel, size.ws_ypixel)
                };
                if changed {
                    self.signal_foreground(libc::SIGWINCH);
                }
                0
            }),
            libc::TCFLSH => {
                let mut state = self.lock();
                // The master's input is the replica's output, and the
                // other way round.
                let (input, output) = match (arg as i32, side) {
                    (libc::TCIFLUSH, Side::Terminal) | (libc::TCOFLUSH, Side::Master) => (true, false),
                    (libc::TCOFLUSH, Side::Terminal) | (libc::TCIFLUSH, Side::Master) => (false, true),
                    (libc::TCIOFLUSH, _) => (true, true),
                    _ => return Some(Err(Errno::EINVAL)),
                };
                if input {
                    state.line.flush_input();
                }
                if output {
                    state.line.flush_output();
                }
                drop(state);
                self.queue.notify_all();
                Ok(0)
            }
            // tcdrain and tcsendbreak: output reaches the master at once,
            // and a pty has no line to break.
            libc::TCSBRK | libc::TCSBRKP => Ok(0),
            libc::TIOCGETD => caller.write_pod(UserAddr::new(arg), &0i32).map(|()| 0),
            _ => return None,
        };
        Some(result)
    }

    /// TCSETS*: a background process of the terminal's session is first
    /// subject to SIGTTOU, as Linux's set_termios.
    fn set_termios(&self, caller: &dyn Caller, side: Side, termios: KernelTermios, flush: bool) -> Result<u64, Errno> {
        if side == Side::Terminal {
            caller.check_terminal_access(self, libc::SIGTTOU)?;
        }
        let mut state = self.lock();
        if flush {
            state.line.flush_input();
        }
        state.line.set_termios(termios);
        drop(state);
        self.queue.notify_all();
        Ok(0)
    }
}

impl Terminal for Pty {
    fn control(&self) -> &Control {
        &self.control
    }

    fn device(&self) -> u64 {
        replica_rdev(self.index)
    }

    fn reopen(&self, location: Location, flags: i32) -> Result<Arc<dyn File>, Errno> {
        let kernel = self.kernel.upgrade().ok_or(Errno::EIO)?;
        let pty = kernel.ptys.live(self.index).ok_or(Errno::EIO)?;
        pty.open_replica(Some(location), flags)
    }

    fn stops_background_writes(&self) -> bool {
        self.lock().line.termios().lflag(TOSTOP)
    }
}

/// The flags F_GETFL shows, from open's flags.
fn status_flags(flags: i32) -> u32 {
    (flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_TRUNC | libc::O_CLOEXEC)) as u32
}

/// F_SETFL on a terminal: O_APPEND and O_NONBLOCK.
fn set_flags(flags: &AtomicU32, new: u32) {
    let changeable = (libc::O_APPEND | libc::O_NONBLOCK) as u32;
    let old = flags.load(Ordering::Relaxed);
    flags.store((old & !changeable) | (new & changeable), Ordering::Relaxed);
}

fn nonblocking(flags: &AtomicU32) -> bool {
    flags.load(Ordering::Relaxed) & libc::O_NONBLOCK as u32 != 0
}

/// A character device's stat with no node behind it.
fn device_stat(rdev: u64, owner: (u32, u32), mode: u32) -> Stat {
    let mut st = <Stat as Pod>::zeroed();
    st.st_mode = libc::S_IFCHR | mode;
    st.st_rdev = rdev;
    st.st_nlink = 1;
    st.st_uid = owner.0;
    st.st_gid = owner.1;
    st.st_blksize = 1024;
    st
}

/// The master side: one per /dev/ptmx open.
pub struct MasterFile {
    pty: Arc<Pty>,
    flags: AtomicU32,
}

/// Closing the master hangs the replica up. This takes the task set's
/// lock, so no open file may be dropped while it is held (the task set
/// drops replaced views outside it for that reason).
impl Drop for MasterFile {
    fn drop(&mut self) {
        self.pty.lock().master_open = false;
        if let Some(kernel) = self.pty.kernel.upgrade() {
            kernel.core.tasks.hang_up(self.pty.as_ref());
        }
        self.pty.queue.notify_all();
    }
}

impl File for MasterFile {
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], _offset: Option<u64>) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let nonblocking = nonblocking(&self.flags);
        let n = caller.block_on(Some(&self.pty.queue), None, || {
            let mut state = self.pty.lock();
            let n = state.line.take_output(buf);
            if n > 0 {
                return Some(Ok(n));
            }
            if state.other_closed {
                return Some(Err(Errno::EIO));
            }
            nonblocking.then_some(Err(Errno::EAGAIN))
        })?;
        self.pty.queue.notify_all();
        Ok(n)
    }

    /// The replica's input: echoes and signals happen here.
    fn write(&self, caller: &dyn Caller, data: &[u8], _offset: Option<u64>) -> Result<usize, Errno> {
        let nonblocking = nonblocking(&self.flags);
        let mut written = 0;
        while written < data.len() {
            let result = caller.block_on(Some(&self.pty.queue), None, || {
                let mut state = self.pty.lock();
                if state.other_closed {
                    return Some(Err(Errno::EIO));
                }
                let outcome = state.line.receive(&data[written..]);
                if outcome.consumed > 0 {
                    return Some(Ok(outcome));
                }
                nonblocking.then_some(Err(Errno::EAGAIN))
            });
            match result {
                Ok(outcome) => {
                    written += outcome.consumed;
                    self.pty.queue.notify_all();
                    for signo in outcome.signals {
                        self.pty.signal_foreground(signo);
                    }
                }
                Err(_) if written > 0 => break,
                Err(errno) => return Err(errno),
            }
        }
        Ok(written)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(device_stat(libc::makedev(5, 2), (0, 0), 0o666))
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.load(Ordering::Relaxed))
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        set_flags(&self.flags, flags);
        Ok(())
    }

    fn poll(&self) -> u16 {
        let state = self.pty.lock();
        let mut ready = 0;
        if state.line.output_queued() > 0 {
            ready |= libc::POLLIN | libc::POLLRDNORM;
        }
        if state.line.input_room() {
            ready |= libc::POLLOUT | libc::POLLWRNORM;
        }
        if state.other_closed {
            ready |= libc::POLLHUP;
        }
        ready as u16
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.queue)
    }

    fn link_name(&self) -> Option<String> {
        Some("/dev/ptmx".into())
    }

    fn ioctl(&self, caller: &dyn Caller, request: u64, arg: u64) -> Result<u64, Errno> {
        match request {
            libc::TIOCGPTN => return caller.write_pod(UserAddr::new(arg), &self.pty.index).map(|()| 0),
            libc::TIOCSPTLCK => {
                let lock = caller.read_pod::<i32>(UserAddr::new(arg))?;
                self.pty.lock().locked = lock != 0;
                return Ok(0);
            }
            libc::TIOCGPTLCK => {
                let locked = i32::from(self.pty.lock().locked);
                return caller.write_pod(UserAddr::new(arg), &locked).map(|()| 0);
            }
            libc::TIOCGPTPEER => {
                let flags = arg as i32;
                if flags & !(libc::O_ACCMODE | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC) != 0 {
                    return Err(Errno::EINVAL);
                }
                let replica = self.pty.open_replica(None, flags)?;
                let fd = caller.install_fd(replica, flags & libc::O_CLOEXEC != 0)?;
                return Ok(fd as u64);
            }
            libc::FIONREAD => {
                let queued = self.pty.lock().line.output_queued() as i32;
                return caller.write_pod(UserAddr::new(arg), &queued).map(|()| 0);
            }
            libc::TIOCOUTQ => {
                let queued = self.pty.lock().line.input_queued() as i32;
                return caller.write_pod(UserAddr::new(arg), &queued).map(|()| 0);
            }
            _ => {}
        }
        if let Some(result) = self.pty.terminal_ioctl(caller, Side::Master, request, arg) {
            return result;
        }
        let terminal: Arc<dyn Terminal> = self.pty.clone();
        job_control_ioctl(caller, &terminal, Side::Master, true, request, arg).unwrap_or(Err(Errno::ENOTTY))
    }
}

/// One open file description of a replica.
pub struct ReplicaFile {
    pty: Arc<Pty>,
    /// Where it was opened (/dev/pts/N, /dev/tty); None from TIOCGPTPEER.
    location: Option<Location>,
    flags: AtomicU32,
}

impl ReplicaFile {
    fn hung_up(&self) -> bool {
        !self.pty.lock().master_open
    }

    fn readable(&self) -> bool {
        self.flags.load(Ordering::Relaxed) as i32 & libc::O_ACCMODE != libc::O_WRONLY
    }

    /// A non-canonical read, as termios(3) describes VMIN and VTIME.
    fn read_raw(&self, caller: &dyn Caller, buf: &mut [u8]) -> Result<usize, Errno> {
        let nonblocking = nonblocking(&self.flags);
        let rule = self.pty.lock().line.raw_read_rule(buf.len());
        let mut done = 0;
        // VMIN 0: VTIME bounds the whole wait; otherwise it runs from the
        // latest byte, once there is one.
        let mut deadline = match (rule.minimum, rule.timeout) {
            (0, Some(timeout)) => Some(Instant::now() + timeout),
            _ => None,
        };
        loop {
            let result = caller.block_on(Some(&self.pty.queue), deadline, || {
                let mut state = self.pty.lock();
                if !state.master_open {
                    return Some(Ok(0));
                }
                let n = state.line.read_raw(&mut buf[done..]);
                if n > 0 || (rule.minimum == 0 && rule.timeout.is_none()) {
                    return Some(Ok(n));
                }
                nonblocking.then_some(Err(Errno::EAGAIN))
            });
            match result {
                Ok(0) => return Ok(done),
                Ok(n) => {
                    done += n;
                    self.pty.queue.notify_all();
                    if done >= rule.minimum.max(1) || done == buf.len() || rule.minimum == 0 {
                        return Ok(done);
                    }
                    deadline = rule.timeout.map(|timeout| Instant::now() + timeout);
                }
                Err(Errno::ETIMEDOUT) => return Ok(done),
                Err(_) if done > 0 => return Ok(done),
                Err(errno) => return Err(errno),
            }
        }
    }
}

impl Drop for ReplicaFile {
    fn drop(&mut self) {
        {
            let mut state = self.pty.lock();
            state.replicas -= 1;
            if state.replicas == 0 {
                state.other_closed = true;
            }
        }
        self.pty.queue.notify_all();
    }
}

impl File for ReplicaFile {
    /// Background readers get SIGTTIN; a hung-up replica reads end of file.
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], _offset: Option<u64>) -> Result<usize, Errno> {
        if self.hung_up() {
            return Ok(0);
        }
        caller.check_terminal_access(self.pty.as_ref(), libc::SIGTTIN)?;
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.pty.lock().line.is_canonical() {
            return self.read_raw(caller, buf);
        }
        let nonblocking = nonblocking(&self.flags);
        let n = caller.block_on(Some(&self.pty.queue), None, || {
            let mut state = self.pty.lock();
            if !state.master_open {
                return Some(Ok(0));
            }
            if let Some(n) = state.line.read_line(buf) {
                return Some(Ok(n));
            }
            if !state.line.is_canonical() {
                // TCSETS from another thread switched modes meanwhile.
                return Some(Ok(state.line.read_raw(buf)));
            }
            nonblocking.then_some(Err(Errno::EAGAIN))
        })?;
        self.pty.queue.notify_all();
        Ok(n)
    }

    /// Through output processing to the master; with TOSTOP, background
    /// writers get SIGTTOU. A hung-up replica says EIO.
    fn write(&self, caller: &dyn Caller, data: &[u8], _offset: Option<u64>) -> Result<usize, Errno> {
        if self.hung_up() {
            return Err(Errno::EIO);
        }
        if self.pty.stops_background_writes() {
            caller.check_terminal_access(self.pty.as_ref(), libc::SIGTTOU)?;
        }
        let nonblocking = nonblocking(&self.flags);
        let mut written = 0;
        while written < data.len() {
            let result = caller.block_on(Some(&self.pty.queue), None, || {
                let mut state = self.pty.lock();
                if !state.master_open {
                    return Some(Err(Errno::EIO));
                }
                let n = state.line.write(&data[written..]);
                if n > 0 {
                    return Some(Ok(n));
                }
                nonblocking.then_some(Err(Errno::EAGAIN))
            });
            match result {
                Ok(n) => {
                    written += n;
                    self.pty.queue.notify_all();
                }
                Err(_) if written > 0 => break,
                Err(errno) => return Err(errno),
            }
        }
        Ok(written)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        match &self.location {
            Some(location) => location.stat(),
            None => Ok(device_stat(replica_rdev(self.pty.index), self.pty.owner, 0o620)),
        }
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags.load(Ordering::Relaxed))
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        set_flags(&self.flags, flags);
        Ok(())
    }

    fn poll(&self) -> u16 {
        let state = self.pty.lock();
        let ready = if !state.master_open {
            libc::POLLIN | libc::POLLOUT | libc::POLLERR | libc::POLLHUP | libc::POLLRDNORM | libc::POLLWRNORM
        } else {
            let mut ready = 0;
            if state.line.readable() {
                ready |= libc::POLLIN | libc::POLLRDNORM;
            }
            if state.line.output_room() {
                ready |= libc::POLLOUT | libc::POLLWRNORM;
            }
            ready
        };
        ready as u16
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.queue)
    }

    fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// A replica from TIOCGPTPEER has no place in the tree but a name.
    fn link_name(&self) -> Option<String> {
        Some(format!("/dev/pts/{}", self.pty.index))
    }

    fn terminal(&self) -> Option<Arc<dyn Terminal>> {
        Some(self.pty.clone())
    }

    fn ioctl(&self, caller: &dyn Caller, request: u64, arg: u64) -> Result<u64, Errno> {
        if self.hung_up() {
            // hung_up_tty_ioctl.
            return Err(if request == libc::TIOCSPGRP {
                Errno::ENOTTY
            } else {
                Errno::EIO
            });
        }
        match request {
            libc::FIONREAD => {
                let queued = self.pty.lock().line.input_queued() as i32;
                return caller.write_pod(UserAddr::new(arg), &queued).map(|()| 0);
            }
            // Output reaches the master at once: nothing is ever queued.
            libc::TIOCOUTQ => return caller.write_pod(UserAddr::new(arg), &0i32).map(|()| 0),
            _ => {}
        }
        if let Some(result) = self.pty.terminal_ioctl(caller, Side::Terminal, request, arg) {
            return result;
        }
        let terminal: Arc<dyn Terminal> = self.pty.clone();
        job_control_ioctl(caller, &terminal, Side::Terminal, self.readable(), request, arg)
            .unwrap_or(Err(Errno::ENOTTY))
    }
}
