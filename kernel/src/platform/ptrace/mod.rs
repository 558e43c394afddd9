//! The ptrace platform: one stub process per address space, one stub thread
//! per task, PTRACE_SYSEMU to stop every system call.
//!
//! The tracer of a stub thread is the task's own OS thread (ptrace is per
//! thread), so every method here runs on that thread. Address-space changes
//! are made by injecting mmap/munmap/mprotect at the stub's one `syscall`
//! instruction, the only place its seccomp filter lets a call through.

mod filter;
mod stub;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{AddressSpace, Context, Event, Fault, Interrupt, PlatformError};
use crate::arch::{PAGE_SIZE, Registers, TASK_SIZE};
use crate::memory::{MemoryFile, Prot};

/// Where the stub's code page sits: the last page of the user address space.
/// Applications get everything below it.
pub const STUB_ADDR: u64 = TASK_SIZE - PAGE_SIZE;
/// The stub's `syscall` instruction, at the start of its page.
const STUB_SYSCALL: u64 = STUB_ADDR;
/// Where the instruction pointer is once that `syscall` has run, which is
/// what seccomp sees; an `int3` sits there to stop the stub again.
const STUB_SYSCALL_RETURN: u64 = STUB_SYSCALL + 2;
/// The fd number the memory file has inside every stub.
const STUB_MEMORY_FD: i32 = 0;

/// A stub process: an empty address space (its code page, application
/// mappings and the host's [vsyscall]) traced by the thread that spawned it.
pub struct Stub {
    pid: Pid,
    /// The pid while the stub lives, 0 once it is being killed: interrupters
    /// on other threads must never signal a pid the host has reused.
    live_pid: Arc<std::sync::atomic::AtomicI32>,
    /// Registers as the stub stood at its first stop: the segment selectors
    /// and flags every application thread and injected call starts from.
    initial: Registers,
}

impl Stub {
    /// Spawns a stub and strips its address space. With `pin_cpu`, the
    /// calling thread (and so the stub, which inherits it) is first bound to
    /// one CPU, chosen round-robin.
    pub fn spawn(memory_file: &Arc<MemoryFile>, pin_cpu: bool) -> Result<Stub, PlatformError> {
        if pin_cpu {
            pin_to_next_cpu();
        }
        let pid = stub::fork_stub(memory_file.raw_fd()).map_err(PlatformError::StubCreate)?;
        let live_pid = Arc::new(std::sync::atomic::AtomicI32::new(pid.as_raw()));
        let mut stub = Stub {
            pid,
            live_pid,
            initial: zeroed_registers(),
        };
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Stopped(_, Signal::SIGTRAP)) => {}
            Ok(WaitStatus::Exited(_, code)) => return Err(PlatformError::StubStart(code)),
            Ok(other) => {
                return Err(PlatformError::UnexpectedStop {
                    pid: pid.as_raw(),
                    what: format!("{other:?}"),
                });
            }
            Err(source) => {
                return Err(PlatformError::Ptrace {
                    op: "waitpid",
                    pid: pid.as_raw(),
                    source,
                });
            }
        }
        let options = ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD;
        ptrace::setoptions(pid, options).map_err(|source| stub.ptrace_error("setoptions", source))?;
        let regs = ptrace::getregs(pid).map_err(|source| stub.ptrace_error("getregs", source))?;
        stub.initial = Registers {
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
        // The stub still holds a copy of the sandbox process: drop it all
        // but the code page. Nothing lies above the stub page.
        stub.unmap(0, STUB_ADDR)?;
        Ok(stub)
    }

    /// The host pid of the stub process.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    fn ptrace_error(&self, op: &'static str, source: nix::Error) -> PlatformError {
        PlatformError::Ptrace {
            op,
            pid: self.pid.as_raw(),
            source,
        }
    }

    /// Makes the stub execute one host system call at its `syscall`
    /// instruction and returns the result.
    fn inject(&self, call: &'static str, nr: libc::c_long, args: [u64; 6]) -> Result<u64, PlatformError> {
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
            rip: STUB_SYSCALL,
            ..self.initial
        };
        ptrace::setregs(self.pid, regs).map_err(|source| self.ptrace_error("setregs", source))?;
        ptrace::cont(self.pid, None).map_err(|source| self.ptrace_error("cont", source))?;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Stopped(_, Signal::SIGTRAP)) => break,
                // An interrupt kick: the task is in the kernel already, so
                // it has done its job; let the injected call go on.
                Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => {
                    ptrace::cont(self.pid, None).map_err(|source| self.ptrace_error("cont", source))?;
                }
                Ok(status) => return Err(self.died_or_stopped(status)),
                Err(source) => return Err(self.ptrace_error("waitpid", source)),
            }
        }
        let after = ptrace::getregs(self.pid).map_err(|source| self.ptrace_error("getregs", source))?;
        if after.rip != STUB_SYSCALL_RETURN + 1 {
            return Err(PlatformError::UnexpectedStop {
                pid: self.pid.as_raw(),
                what: format!("injected {call} stopped at {:#x}", after.rip),
            });
        }
        let ret = after.rax as i64;
        if (-4095..0).contains(&ret) {
            return Err(PlatformError::Injected {
                call,
                pid: self.pid.as_raw(),
                errno: nix::errno::Errno::from_raw(-ret as i32),
            });
        }
        Ok(after.rax)
    }

    fn died_or_stopped(&self, status: WaitStatus) -> PlatformError {
        let pid = self.pid.as_raw();
        match status {
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => PlatformError::StubDied {
                pid,
                what: format!("{status:?}"),
            },
            other => PlatformError::UnexpectedStop {
                pid,
                what: format!("{other:?}"),
            },
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        // The stub is our child: kill it and reap it so no zombie remains.
        self.live_pid.store(0, Ordering::SeqCst);
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

impl AddressSpace for Stub {
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

/// Runs one application thread: the stub's thread, under PTRACE_SYSEMU.
pub struct StubContext {
    stub: Arc<Stub>,
}

impl StubContext {
    pub fn new(stub: Arc<Stub>) -> Self {
        StubContext { stub }
    }
}

impl Context for StubContext {
    fn switch(&mut self, regs: &mut Registers) -> Result<Event, PlatformError> {
        let stub = &self.stub;
        let pid = stub.pid;
        ptrace::setregs(pid, *regs).map_err(|source| stub.ptrace_error("setregs", source))?;
        ptrace::sysemu(pid, None).map_err(|source| stub.ptrace_error("sysemu", source))?;
        let status = waitpid(pid, Some(WaitPidFlag::__WALL)).map_err(|source| stub.ptrace_error("waitpid", source))?;
        let event = match status {
            WaitStatus::PtraceSyscall(_) => Event::Syscall,
            WaitStatus::Stopped(_, signal) => match synchronous_fault(stub, signal)? {
                Some(fault) => Event::Fault(fault),
                // A kick from the kernel, or a signal sent to the stub from
                // outside the sandbox: either way it is not the
                // application's, so it is dropped.
                None => Event::Interrupted,
            },
            other => return Err(stub.died_or_stopped(other)),
        };
        *regs = ptrace::getregs(pid).map_err(|source| stub.ptrace_error("getregs", source))?;
        Ok(event)
    }

    fn initial_registers(&self) -> Registers {
        self.stub.initial
    }

    fn fp_state(&self) -> Result<Vec<u8>, PlatformError> {
        let mut buf = vec![0u8; XSTATE_BUFFER];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: PTRACE_GETREGSET writes at most iov_len bytes into buf and
        // shrinks iov_len to what it wrote.
        let ret = unsafe { libc::ptrace(libc::PTRACE_GETREGSET, self.stub.pid.as_raw(), NT_X86_XSTATE, &mut iov) };
        if ret < 0 {
            return Err(self.stub.ptrace_error("getregset", nix::Error::last()));
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
        let ret = unsafe { libc::ptrace(libc::PTRACE_SETREGSET, self.stub.pid.as_raw(), NT_X86_XSTATE, &mut iov) };
        if ret < 0 {
            return Err(self.stub.ptrace_error("setregset", nix::Error::last()));
        }
        Ok(())
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        Arc::new(StubInterrupter {
            pid: Arc::clone(&self.stub.live_pid),
        })
    }

    fn cpu_time(&self) -> std::time::Duration {
        // The CPU clock of the stub thread: MAKE_THREAD_CPUCLOCK(pid,
        // CPUCLOCK_SCHED) in include/linux/posix-timers.h.
        let clock = (!self.stub.pid.as_raw() << 3) | 2 | 4;
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec.
        if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }
}

/// The regset note type of the XSAVE area (elf.h).
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Larger than any XSAVE area x86-64 CPUs have today (AMX makes it ~11 KiB).
const XSTATE_BUFFER: usize = 16 << 10;

/// Interrupts a stub thread by sending it a signal the tracer swallows.
struct StubInterrupter {
    pid: Arc<std::sync::atomic::AtomicI32>,
}

impl Interrupt for StubInterrupter {
    fn interrupt(&self) {
        // SIGSTOP cannot be blocked; the tracer sees a signal-delivery-stop
        // and resumes the stub without it. If the stub is already stopped
        // in the kernel, the stop shows up right after the next resume.
        let pid = self.pid.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: tgkill on the stub, our child, which is still alive.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGSTOP) };
        }
    }
}

/// Returns the fault when `signal` was raised by the CPU for the stub's own
/// instructions (si_code > 0), rather than sent by another process.
fn synchronous_fault(stub: &Stub, signal: Signal) -> Result<Option<Fault>, PlatformError> {
    if !matches!(
        signal,
        Signal::SIGSEGV | Signal::SIGBUS | Signal::SIGFPE | Signal::SIGILL | Signal::SIGTRAP
    ) {
        return Ok(None);
    }
    let info = ptrace::getsiginfo(stub.pid).map_err(|source| stub.ptrace_error("getsiginfo", source))?;
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

/// Binds the calling thread to the next CPU it may run on, round-robin, so
/// that it and the stub it is about to fork share one CPU.
fn pin_to_next_cpu() {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let Ok(allowed) = nix::sched::sched_getaffinity(Pid::from_raw(0)) else {
        return;
    };
    let cpus: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .collect();
    if cpus.is_empty() {
        return;
    }
    let cpu = cpus[NEXT.fetch_add(1, Ordering::Relaxed) % cpus.len()];
    let mut one = nix::sched::CpuSet::new();
    if one.set(cpu).is_ok() {
        if let Err(err) = nix::sched::sched_setaffinity(Pid::from_raw(0), &one) {
            tracing::warn!(cpu, %err, "cannot pin the task thread");
        }
    }
}
