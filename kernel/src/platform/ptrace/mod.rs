//! The ptrace platform: one stub process per address space, one stub thread
//! per task, PTRACE_SYSEMU to stop every system call.
//!
//! The tracer of a stub thread is the task's own OS thread (ptrace is per
//! thread), so every method of a [`StubThread`] runs on that thread.
//! Address-space changes are made by injecting mmap/munmap/mprotect at the
//! stub's injection `syscall`; new threads by injecting clone at its thread
//! `syscall`. Those are the only places its seccomp filter lets calls
//! through.

mod factory;
mod filter;
mod stub;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{AddressSpace, Context, Event, Fault, PlatformError, ThreadHandle, ThreadSeed};
use crate::abi::arch::{PAGE_SIZE, Registers, TASK_SIZE};
use crate::memory::{MemoryFile, Prot};

/// Where the stub's code page sits: the last page of the user address space.
/// Applications get everything below it.
pub const STUB_ADDR: u64 = TASK_SIZE - PAGE_SIZE;
/// The injection `syscall`, and where rip is once it ran (what seccomp
/// sees); an `int3` there stops the stub again.
const INJECT_SITE: u64 = STUB_ADDR;
const INJECT_RETURN: u64 = INJECT_SITE + 2;
/// The thread `syscall`, where rip is after it, and where the calling
/// thread stops (past its `int3`); the new thread spins at `SPIN`.
const THREAD_SITE: u64 = STUB_ADDR + 0x10;
const THREAD_RETURN: u64 = THREAD_SITE + 2;
const THREAD_DONE: u64 = STUB_ADDR + 0x18;
const SPIN: u64 = STUB_ADDR + 0x18;
/// The clone flags of a stub thread: everything shared, as pthreads do.
const THREAD_CLONE_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;
/// The fd number the memory file has inside every stub.
const STUB_MEMORY_FD: i32 = 0;

/// A stub process: an empty address space (its code page, application
/// mappings and the host's `[vsyscall]`). Killed and reaped when its last
/// thread handle goes.
pub struct Stub {
    pid: Pid,
    /// The pid while the stub lives, 0 once it is being killed: interrupters
    /// on other threads must never signal a pid the host has reused.
    live_pid: Arc<AtomicI32>,
}

impl Stub {
    /// Kills the stub process (every thread of it); interrupters stop
    /// signalling it first.
    fn kill(&self) {
        self.live_pid.store(0, Ordering::SeqCst);
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.kill();
        // The stub is a child of this process (of its factory thread); any
        // thread of the process may reap it.
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// One thread of a stub process, traced by the OS thread that seized it.
pub struct StubThread {
    stub: Arc<Stub>,
    tid: Pid,
    /// The tid while the thread lives; 0 once it is ending.
    live_tid: Arc<AtomicI32>,
    /// Registers as the thread stood when seized: the segment selectors and
    /// flags every application thread and injected call starts from.
    initial: Registers,
    cpu_clock: Arc<CpuClock>,
}

impl StubThread {
    /// Creates an address space: a new stub process, seized by the calling
    /// thread and stripped to its code page.
    pub fn new_process(memory_file: &Arc<MemoryFile>, pin_cpu: bool) -> Result<StubThread, PlatformError> {
        let pid = factory::new_stub(memory_file.raw_fd()).map_err(PlatformError::StubCreate)?;
        let stub = Arc::new(Stub {
            pid,
            live_pid: Arc::new(AtomicI32::new(pid.as_raw())),
        });
        let thread = StubThread::seize(stub, pid, pin_cpu.then_some(Placement::Stay))?;
        // The stub still holds a copy of the sandbox process: drop it all
        // but the code page. Nothing lies above the stub page.
        thread.unmap(0, STUB_ADDR)?;
        Ok(thread)
    }

    /// Makes the calling thread the tracer of `tid`, which spins in the stub
    /// page. With `pin_cpu`, both are first bound to one CPU.
    fn seize(stub: Arc<Stub>, tid: Pid, placement: Option<Placement>) -> Result<StubThread, PlatformError> {
        if let Some(placement) = placement {
            pin_together(tid, placement);
        }
        let options = ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD;
        let error = |op, source| PlatformError::Ptrace {
            op,
            pid: tid.as_raw(),
            source,
        };
        if let Err(source) = ptrace::seize(tid, options) {
            // A stub that failed its set-up has exited with a reason.
            if let Ok(WaitStatus::Exited(_, code)) = waitpid(tid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
                return Err(PlatformError::StubStart(code));
            }
            return Err(error("seize", source));
        }
        // The thread may still be on its way to the spin loop (a new stub
        // sets itself up first): stop it, and let it run on until it is there.
        let regs = loop {
            ptrace::interrupt(tid).map_err(|source| error("interrupt", source))?;
            match waitpid(tid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::PtraceEvent(..) | WaitStatus::Stopped(..)) => {}
                Ok(WaitStatus::Exited(_, code)) => return Err(PlatformError::StubStart(code)),
                Ok(other) => {
                    return Err(PlatformError::UnexpectedStop {
                        pid: tid.as_raw(),
                        what: format!("{other:?}"),
                    });
                }
                Err(source) => return Err(error("waitpid", source)),
            }
            let regs = ptrace::getregs(tid).map_err(|source| error("getregs", source))?;
            if (SPIN..SPIN + 4).contains(&regs.rip) {
                break regs;
            }
            ptrace::cont(tid, None).map_err(|source| error("cont", source))?;
            std::thread::sleep(std::time::Duration::from_micros(50));
        };
        let initial = Registers {
            cs: regs.cs,
            ss: regs.ss,
            ds: regs.ds,
            es: regs.es,
            fs: regs.fs,
            gs: regs.gs,
            // Keep the reserved bit and interrupts on; drop the trap flag and
            // anything else the forking thread had.
            eflags: 0x202,
            ..zeroed_registers()
        };
        let cpu_clock = Arc::new(CpuClock::open(tid.as_raw()));
        Ok(StubThread {
            stub,
            tid,
            live_tid: Arc::new(AtomicI32::new(tid.as_raw())),
            initial,
            cpu_clock,
        })
    }

    /// The host pid of the stub process.
    pub fn pid(&self) -> i32 {
        self.stub.pid.as_raw()
    }

    fn ptrace_error(&self, op: &'static str, source: nix::Error) -> PlatformError {
        PlatformError::Ptrace {
            op,
            pid: self.tid.as_raw(),
            source,
        }
    }

    /// Makes the stub thread execute one host system call at `site` and
    /// returns the result; `done` is where rip stands after the `int3`.
    fn inject_at(
        &self,
        site: u64,
        done: u64,
        call: &'static str,
        nr: libc::c_long,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        let regs = Registers {
            rax: nr as u64,
            // Not a restartable call in progress.
            orig_rax: u64::MAX,
            rdi: args[0],
            rsi: args[1],
            rdx: args[2],
            r10: args[3],
            r8: args[4],
            r9: args[5],
            rip: site,
            ..self.initial
        };
        ptrace::setregs(self.tid, regs).map_err(|source| self.ptrace_error("setregs", source))?;
        ptrace::cont(self.tid, None).map_err(|source| self.ptrace_error("cont", source))?;
        loop {
            match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Stopped(_, Signal::SIGTRAP)) => break,
                // An interrupt kick: the task is in the kernel already, so
                // it has done its job; let the injected call go on.
                Ok(WaitStatus::Stopped(_, Signal::SIGSTOP) | WaitStatus::PtraceEvent(..)) => {
                    ptrace::cont(self.tid, None).map_err(|source| self.ptrace_error("cont", source))?;
                }
                Ok(status) => return Err(self.died_or_stopped(status)),
                Err(source) => return Err(self.ptrace_error("waitpid", source)),
            }
        }
        let after = ptrace::getregs(self.tid).map_err(|source| self.ptrace_error("getregs", source))?;
        if after.rip != done {
            return Err(PlatformError::UnexpectedStop {
                pid: self.tid.as_raw(),
                what: format!("injected {call} stopped at {:#x}", after.rip),
            });
        }
        let ret = after.rax as i64;
        if (-4095..0).contains(&ret) {
            return Err(PlatformError::Injected {
                call,
                pid: self.tid.as_raw(),
                errno: nix::errno::Errno::from_raw(-ret as i32),
            });
        }
        Ok(after.rax)
    }

    fn inject(&self, call: &'static str, nr: libc::c_long, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.inject_at(INJECT_SITE, INJECT_RETURN + 1, call, nr, args)
    }

    fn died_or_stopped(&self, status: WaitStatus) -> PlatformError {
        let pid = self.tid.as_raw();
        match status {
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => PlatformError::StubDied {
                pid,
                what: format!("{status:?}"),
            },
            other => {
                let rip = ptrace::getregs(self.tid).map_or(0, |regs| regs.rip);
                PlatformError::UnexpectedStop {
                    pid,
                    what: format!("{other:?} at rip {rip:#x}"),
                }
            }
        }
    }
}

impl Drop for StubThread {
    /// With other threads left in the stub, ends just this one: the kill of
    /// the tracer's exit (PTRACE_O_EXITKILL) would take the whole process.
    fn drop(&mut self) {
        self.live_tid.store(0, Ordering::SeqCst);
        if Arc::strong_count(&self.stub) == 1 {
            // The last thread: the stub dies with it (`Stub::drop`). A
            // traced thread other than the leader is reported to its tracer,
            // this thread, alone; until reaped here it keeps the leader from
            // being reapable, and the wait for the leader would never end.
            if self.tid != self.stub.pid {
                self.stub.kill();
                loop {
                    match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => break,
                        Ok(_) => continue,
                    }
                }
            }
            return;
        }
        let _ = ptrace::setoptions(self.tid, ptrace::Options::PTRACE_O_TRACESYSGOOD);
        let regs = Registers {
            rax: libc::SYS_exit as u64,
            orig_rax: u64::MAX,
            rdi: 0,
            rip: INJECT_SITE,
            ..self.initial
        };
        if ptrace::setregs(self.tid, regs).is_err() || ptrace::cont(self.tid, None).is_err() {
            return;
        }
        // A leader's exit is reported only once the whole group is gone;
        // any other thread is reaped here.
        if self.tid != self.stub.pid {
            loop {
                match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                    Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => break,
                    Ok(_) => {
                        let _ = ptrace::cont(self.tid, None);
                    }
                }
            }
        }
    }
}

impl AddressSpace for StubThread {
    fn map(&self, addr: u64, len: u64, prot: Prot, file_offset: u64) -> Result<(), PlatformError> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let args = [addr, len, prot.bits(), flags, STUB_MEMORY_FD as u64, file_offset];
        self.inject("mmap", libc::SYS_mmap, args)?;
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.inject("munmap", libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?;
        Ok(())
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.inject("mprotect", libc::SYS_mprotect, [addr, len, prot.bits(), 0, 0, 0])?;
        Ok(())
    }
}

impl Context for StubThread {
    fn switch(&mut self, regs: &mut Registers) -> Result<Event, PlatformError> {
        let tid = self.tid;
        ptrace::setregs(tid, *regs).map_err(|source| self.ptrace_error("setregs", source))?;
        ptrace::sysemu(tid, None).map_err(|source| self.ptrace_error("sysemu", source))?;
        let status = waitpid(tid, Some(WaitPidFlag::__WALL)).map_err(|source| self.ptrace_error("waitpid", source))?;
        let event = match status {
            WaitStatus::PtraceSyscall(_) => Event::Syscall,
            WaitStatus::Stopped(_, signal) => match synchronous_fault(self, signal)? {
                Some(fault) => Event::Fault(fault),
                // A kick from the kernel, or a signal sent to the stub from
                // outside the sandbox: either way it is not the
                // application's, so it is dropped.
                None => Event::Interrupted,
            },
            WaitStatus::PtraceEvent(..) => Event::Interrupted,
            other => return Err(self.died_or_stopped(other)),
        };
        *regs = ptrace::getregs(tid).map_err(|source| self.ptrace_error("getregs", source))?;
        Ok(event)
    }

    fn initial_registers(&self) -> Registers {
        self.initial
    }

    fn fp_state(&self) -> Result<Vec<u8>, PlatformError> {
        let mut buf = vec![0u8; XSTATE_BUFFER];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: PTRACE_GETREGSET writes at most iov_len bytes into buf and
        // shrinks iov_len to what it wrote.
        let ret = unsafe { libc::ptrace(libc::PTRACE_GETREGSET, self.tid.as_raw(), NT_X86_XSTATE, &mut iov) };
        if ret < 0 {
            return Err(self.ptrace_error("getregset", nix::Error::last()));
        }
        buf.truncate(iov.iov_len);
        Ok(buf)
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError> {
        let mut iov = libc::iovec {
            iov_base: state.as_ptr().cast_mut().cast(),
            iov_len: state.len(),
        };
        // SAFETY: PTRACE_SETREGSET only reads iov_len bytes from the buffer.
        let ret = unsafe { libc::ptrace(libc::PTRACE_SETREGSET, self.tid.as_raw(), NT_X86_XSTATE, &mut iov) };
        if ret < 0 {
            return Err(self.ptrace_error("setregset", nix::Error::last()));
        }
        Ok(())
    }

    fn handle(&self) -> Arc<dyn ThreadHandle> {
        Arc::new(StubThreadHandle {
            pid: Arc::clone(&self.stub.live_pid),
            tid: Arc::clone(&self.live_tid),
            cpu_clock: Arc::clone(&self.cpu_clock),
        })
    }

    fn cpu_time(&self) -> std::time::Duration {
        self.cpu_clock.read()
    }

    fn spawn_thread(&self) -> Result<Box<dyn ThreadSeed>, PlatformError> {
        let tid = self.inject_at(
            THREAD_SITE,
            THREAD_DONE,
            "clone",
            libc::SYS_clone,
            [THREAD_CLONE_FLAGS, 0, 0, 0, 0, 0],
        )?;
        Ok(Box::new(StubThreadSeed {
            stub: Some(Arc::clone(&self.stub)),
            tid: Pid::from_raw(tid as i32),
        }))
    }

    fn address_space(&self) -> &dyn AddressSpace {
        self
    }
}

/// A new stub thread, spinning until the OS thread that will trace it
/// seizes it.
struct StubThreadSeed {
    stub: Option<Arc<Stub>>,
    tid: Pid,
}

impl ThreadSeed for StubThreadSeed {
    fn start(mut self: Box<Self>, pin_cpu: bool) -> Result<Box<dyn Context>, PlatformError> {
        let stub = self.stub.take().expect("a seed starts once");
        Ok(Box::new(StubThread::seize(
            stub,
            self.tid,
            pin_cpu.then_some(Placement::Spread),
        )?))
    }
}

impl Drop for StubThreadSeed {
    /// A seed never started still spins in the stub: seize it to end it.
    fn drop(&mut self) {
        if let Some(stub) = self.stub.take() {
            drop(StubThread::seize(stub, self.tid, None));
        }
    }
}

/// A host thread's CPU time, read from /proc/<tid>/schedstat: the host's
/// CPU clocks of another process's threads are not readable (clock_gettime
/// gives EINVAL), the schedstat file is.
struct CpuClock {
    schedstat: Option<std::fs::File>,
}

impl CpuClock {
    /// Opens the clock of host thread `tid`. openat2 is the one path open
    /// the sandbox filter lets through.
    fn open(tid: i32) -> CpuClock {
        let path = std::ffi::CString::new(format!("/proc/{tid}/schedstat")).expect("no NUL in a path");
        // SAFETY: open_how is plain integers; zero is a valid start.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
        // SAFETY: openat2 reads the path and the struct for the call; the fd
        // it returns is owned below.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                path.as_ptr(),
                &how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        let schedstat = (fd >= 0).then(|| {
            use std::os::fd::FromRawFd;
            // SAFETY: fd was just returned by openat2 and is owned by nobody else.
            unsafe { std::fs::File::from_raw_fd(fd as i32) }
        });
        CpuClock { schedstat }
    }

    /// The first field of schedstat: time spent on a CPU, in nanoseconds.
    fn read(&self) -> std::time::Duration {
        use std::os::unix::fs::FileExt;
        let Some(file) = &self.schedstat else {
            return std::time::Duration::ZERO;
        };
        let mut buf = [0u8; 128];
        let n = file.read_at(&mut buf, 0).unwrap_or(0);
        let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
        let nanos = text
            .split_whitespace()
            .next()
            .and_then(|field| field.parse::<u64>().ok())
            .unwrap_or(0);
        std::time::Duration::from_nanos(nanos)
    }
}

/// The regset note type of the XSAVE area (elf.h).
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Larger than any XSAVE area x86-64 CPUs have today (AMX makes it ~11 KiB).
const XSTATE_BUFFER: usize = 16 << 10;

/// Reaches a stub thread from other threads: interrupts it with a signal
/// the tracer swallows, reads its CPU clock.
struct StubThreadHandle {
    pid: Arc<AtomicI32>,
    tid: Arc<AtomicI32>,
    cpu_clock: Arc<CpuClock>,
}

impl ThreadHandle for StubThreadHandle {
    fn cpu_time(&self) -> std::time::Duration {
        match self.tid.load(Ordering::SeqCst) {
            0 => std::time::Duration::ZERO,
            _ => self.cpu_clock.read(),
        }
    }

    fn interrupt(&self) {
        let (pid, tid) = (self.pid.load(Ordering::SeqCst), self.tid.load(Ordering::SeqCst));
        if pid > 0 && tid > 0 {
            // SIGSTOP cannot be blocked; the tracer sees a signal-delivery-stop
            // and resumes the stub without it. If the stub is already stopped
            // in the kernel, the stop shows up right after the next resume.
            // SAFETY: tgkill on a thread of our own live stub.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGSTOP) };
        }
    }
}

/// Returns the fault when `signal` was raised by the CPU for the stub's own
/// instructions (si_code > 0), rather than sent by another process.
fn synchronous_fault(thread: &StubThread, signal: Signal) -> Result<Option<Fault>, PlatformError> {
    if !matches!(
        signal,
        Signal::SIGSEGV | Signal::SIGBUS | Signal::SIGFPE | Signal::SIGILL | Signal::SIGTRAP
    ) {
        return Ok(None);
    }
    let info = ptrace::getsiginfo(thread.tid).map_err(|source| thread.ptrace_error("getsiginfo", source))?;
    if info.si_code <= 0 {
        return Ok(None);
    }
    // SAFETY: for the fault signals with a kernel si_code, the kernel fills
    // the si_addr member of the union.
    let addr = unsafe { info.si_addr() } as u64;
    Ok(Some(Fault {
        signal: signal as i32,
        code: info.si_code,
        addr,
    }))
}

fn zeroed_registers() -> Registers {
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Where a task thread and its stub thread go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Stay on the CPU the calling thread is bound to, if it is bound to
    /// one: a forked child starts beside the parent that usually just waits
    /// for it, and exec keeps its CPU. Otherwise as `Spread`.
    Stay,
    /// The next CPU round-robin: threads of one process run in parallel.
    Spread,
}

/// Binds the calling thread and the stub thread `tid` to one CPU, chosen
/// per `placement`.
fn pin_together(tid: Pid, placement: Placement) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // The CPUs the sandbox may use, read before any thread is pinned (task
    // threads inherit their creator's binding).
    static ALLOWED: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    let cpus = ALLOWED.get_or_init(|| match nix::sched::sched_getaffinity(Pid::from_raw(0)) {
        Ok(allowed) => (0..nix::sched::CpuSet::count())
            .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    });
    if cpus.is_empty() {
        return;
    }
    let bound = nix::sched::sched_getaffinity(Pid::from_raw(0)).ok().and_then(|set| {
        let mut set_cpus = cpus.iter().copied().filter(|&cpu| set.is_set(cpu).unwrap_or(false));
        match (set_cpus.next(), set_cpus.next()) {
            (Some(cpu), None) => Some(cpu),
            _ => None,
        }
    });
    let cpu = match (placement, bound) {
        (Placement::Stay, Some(cpu)) => cpu,
        _ => cpus[NEXT.fetch_add(1, Ordering::Relaxed) % cpus.len()],
    };
    let mut one = nix::sched::CpuSet::new();
    if one.set(cpu).is_err() {
        return;
    }
    for target in [Pid::from_raw(0), tid] {
        if let Err(err) = nix::sched::sched_setaffinity(target, &one) {
            tracing::warn!(cpu, %err, "cannot pin a task thread or its stub");
        }
    }
}
