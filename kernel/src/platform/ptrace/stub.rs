//! The birth of a stub process, on the child side of a fork.
//!
//! The child is a copy of the sandbox process. It may only make raw system
//! calls (the parent is multi-threaded, so no allocation, no locks) until it
//! parks itself in the stub page's spin loop; the task thread that will
//! trace it then seizes it and unmaps the rest.

use std::os::fd::RawFd;

use nix::unistd::Pid;

use super::{SPIN, STUB_ADDR, STUB_MEMORY_FD, filter};
use crate::abi::arch::PAGE_SIZE;

/// The stub's code (the rest of the page is `int3`):
///
/// ```text
/// 0x00  syscall            injection site: the tracer points rip here
/// 0x02  int3               and gets the stop after the call
/// 0x10  syscall            thread site: clone(thread flags)
/// 0x12  test rax, rax
/// 0x15  je 0x18            the new thread (rax 0) goes to spin
/// 0x17  int3               the caller stops
/// 0x18  pause; jmp 0x18    spin until a task thread seizes it
/// ```
const STUB_CODE: [(usize, &[u8]); 2] = [
    (0x00, &[0x0f, 0x05, 0xcc]),
    (
        0x10,
        &[0x0f, 0x05, 0x48, 0x85, 0xc0, 0x74, 0x01, 0xcc, 0xf3, 0x90, 0xeb, 0xfc],
    ),
];

/// Why a stub child gave up before parking; its exit status.
#[repr(i32)]
enum ChildFailure {
    DeathSignal = 10,
    ParentGone,
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

/// Forks a stub child and returns its pid. The child keeps only the memory
/// file (as fd 0), installs the stub seccomp filter and spins in the stub
/// page until a tracer seizes it. Its parent is the calling thread, whose
/// exit kills it (PR_SET_PDEATHSIG).
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
        for (offset, code) in STUB_CODE {
            std::ptr::copy_nonoverlapping(code.as_ptr(), page.cast::<u8>().add(offset), code.len());
        }
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
        // to its spin loop and wait for the tracer.
        let park: extern "C" fn() -> ! = std::mem::transmute(SPIN as usize);
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
