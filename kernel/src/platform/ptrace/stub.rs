//! The birth of a stub process, on the child side of a fork.
//!
//! The child is a copy of the sandbox process. It may only make raw system
//! calls (the parent is multi-threaded, so no allocation, no locks) until it
//! parks itself on the stub page's `int3`; the tracer then unmaps the rest.

use std::os::fd::RawFd;

use nix::unistd::Pid;

use super::{STUB_ADDR, STUB_MEMORY_FD, STUB_SYSCALL_RETURN, filter};
use crate::arch::PAGE_SIZE;

/// The stub's code: `syscall` followed by `int3`. The tracer points rip at
/// the `syscall` to inject a call; the `int3` stops the stub afterwards.
const STUB_CODE: [u8; 3] = [0x0f, 0x05, 0xcc];

/// Why a stub child gave up before parking; its exit status.
#[repr(i32)]
enum ChildFailure {
    DeathSignal = 10,
    ParentGone,
    TraceMe,
    MemoryFd,
    CodePage,
    NoNewPrivs,
    Seccomp,
    Rseq,
}

// glibc (2.35+) registers every thread for restartable sequences and
// publishes where; a forked child inherits the registration.
unsafe extern "C" {
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

/// The signature glibc registers rseq areas with on x86 (RSEQ_SIG).
const RSEQ_SIG: u32 = 0x5305_3053;
const RSEQ_FLAG_UNREGISTER: i32 = 1;
/// The original `struct rseq` size, which glibc registers with.
const RSEQ_ORIGINAL_SIZE: u32 = 32;

/// Forks a stub child and returns its pid. The child arranges to be traced
/// by the calling thread, keeps only the memory file (as fd 0), installs the
/// stub seccomp filter and stops on the stub page's `int3`.
pub(super) fn fork_stub(memory_fd: RawFd) -> nix::Result<Pid> {
    let filter = filter::stub_filter();
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: the child runs only `stub_child`, which makes raw system calls
    // and reads memory (the filter, the stub code) allocated before the fork.
    match unsafe { libc::fork() } {
        -1 => Err(nix::Error::last()),
        0 => stub_child(memory_fd, &program, parent),
        pid => Ok(Pid::from_raw(pid)),
    }
}

fn stub_child(memory_fd: RawFd, program: &libc::sock_fprog, parent: libc::pid_t) -> ! {
    // SAFETY: every call below is async-signal-safe and touches only memory
    // inherited from the parent; `exit` uses _exit, which runs no handlers.
    unsafe {
        let exit = |why: ChildFailure| -> ! { libc::_exit(why as i32) };
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            exit(ChildFailure::DeathSignal);
        }
        // The tracer may have died before PDEATHSIG was armed.
        if libc::getppid() != parent {
            exit(ChildFailure::ParentGone);
        }
        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
            exit(ChildFailure::TraceMe);
        }
        // The kernel updates a registered rseq area on every preemption; once
        // the tracer unmaps the sandbox's memory that write would fault.
        if !unregister_rseq() {
            exit(ChildFailure::Rseq);
        }
        if libc::dup2(memory_fd, STUB_MEMORY_FD) != STUB_MEMORY_FD
            || libc::syscall(libc::SYS_close_range, STUB_MEMORY_FD + 1, u32::MAX, 0) != 0
        {
            exit(ChildFailure::MemoryFd);
        }
        // Faults must reach the tracer as signals with their default action,
        // never a handler inherited from the sandbox process.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        for signal in 1..=libc::SIGRTMAX() {
            libc::signal(signal, libc::SIG_DFL);
        }
        let page = libc::mmap(
            STUB_ADDR as *mut libc::c_void,
            PAGE_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
        if page as u64 != STUB_ADDR {
            exit(ChildFailure::CodePage);
        }
        std::ptr::write_bytes(page.cast::<u8>(), 0xcc, PAGE_SIZE as usize);
        std::ptr::copy_nonoverlapping(STUB_CODE.as_ptr(), page.cast::<u8>(), STUB_CODE.len());
        if libc::mprotect(page, PAGE_SIZE as usize, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            exit(ChildFailure::CodePage);
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            exit(ChildFailure::NoNewPrivs);
        }
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, program as *const _) != 0 {
            exit(ChildFailure::Seccomp);
        }
        // From here on no call may come from anywhere but the stub page: jump
        // to its `int3` and wait for the tracer.
        let park: extern "C" fn() -> ! = std::mem::transmute(STUB_SYSCALL_RETURN as usize);
        park()
    }
}

/// Drops the calling thread's rseq registration inherited from glibc.
/// Returns false if it stays registered.
///
/// # Safety
/// Must run in a thread created by glibc (its TCB is at %fs:0).
unsafe fn unregister_rseq() -> bool {
    // SAFETY: glibc defines both symbols; they are plain integers.
    let (offset, size) = unsafe { (__rseq_offset, __rseq_size) };
    if size == 0 {
        // glibc did not register this thread.
        return true;
    }
    let thread_pointer: usize;
    // SAFETY: on x86-64 glibc keeps the TCB's own address at %fs:0.
    unsafe { std::arch::asm!("mov {}, fs:0", out(reg) thread_pointer, options(nostack, readonly, preserves_flags)) };
    let area = thread_pointer.wrapping_add_signed(offset);
    [RSEQ_ORIGINAL_SIZE, size].iter().any(|&len| {
        // SAFETY: unregistering makes the kernel forget the area; it does
        // not touch memory.
        unsafe { libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0 }
    })
}
