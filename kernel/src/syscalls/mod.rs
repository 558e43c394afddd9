//! The system-call table and its handlers (DESIGN.md §3.6).
//!
//! One table (`table.rs`, a line per call) gives every x86-64 number its
//! name, its arguments' names and kinds for strace, a support status and,
//! when implemented, a handler. Handlers share one shape, `fn(&mut TaskCtx,
//! &SyscallArgs) -> Result<u64, Errno>`, and live in one module per family.
//! The kernel is made with [`dispatch`], so the layers below never name the
//! table.

#![deny(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap)]

mod args;
mod attr;
mod clone;
mod context;
mod credentials;
mod epoll;
mod eventfd;
mod file;
mod futex;
mod io;
mod lock;
mod memfd;
mod memory;
mod names;
mod open;
mod path;
mod poll;
mod process;
mod ptrace;
mod rlimit;
mod sched;
mod seccomp;
mod signal;
mod signalfd;
mod stat;
mod strace;
mod system;
mod table;
mod time;
mod timer;
mod timerfd;
mod transfer;

pub use args::Arg;
pub use context::TaskCtx;
pub use table::{Area, SYSCALLS, Support, SyscallEntry, SyscallTable, TABLE};

use crate::abi::arch::{self, SyscallArgs};
use crate::abi::errno::SyscallResult;
use crate::kernel::Kernel;
use crate::task::Task;

/// The common shape of every handler.
pub type Handler = fn(&mut TaskCtx, &SyscallArgs) -> SyscallResult;

/// Linux's MAX_RW_COUNT: the most one read or write transfers.
pub(crate) const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Serves the system call the task's registers hold and sets the result:
/// the [`crate::kernel::SyscallDispatch`] the kernel is made with.
pub fn dispatch(kernel: &Kernel, task: &mut Task) {
    let task = &mut TaskCtx::new(task, kernel);
    let args = SyscallArgs::from_registers(task.regs());
    if !seccomp::enforce(task, &args) {
        return;
    }
    // A tracer stopping the call for its seccomp event may have changed it.
    let args = SyscallArgs::from_registers(task.regs());
    let entry = TABLE.get(args.number);
    let strace = task.kernel.config.strace;
    if let Some(entry) = entry.filter(|entry| strace && entry.ends_task()) {
        strace::log_entry(task, entry, &args);
    }
    task.clear_restart();
    task.syscall_clock().enter(args.number);
    let result = match entry.map(|entry| entry.support) {
        Some(Support::Full(handler) | Support::Partial(handler, _)) => handler(task, &args),
        // What Linux answers a container's process: nothing to report.
        Some(Support::Answers(errno, _)) => Err(errno),
        Some(Support::Missing(_) | Support::Absent(_)) | None => {
            report_unimplemented(task, entry, &args);
            Err(nix::errno::Errno::ENOSYS)
        }
    };
    task.syscall_clock().leave();
    if strace && !entry.is_some_and(|entry| entry.ends_task()) {
        strace::log_exit(task, entry, &args, &result);
    }
    arch::set_result(task.regs_mut(), result);
}

/// A descriptor, id or signal number as a handler's result. The kernel
/// hands out none that is negative; a negative one here is a bug, not an
/// errno to report.
fn int_result(value: i32) -> u64 {
    u64::try_from(value).expect("descriptors, ids and signal numbers are non-negative")
}

/// The part of a `len`-byte request one buffer of at most `max` bytes
/// takes.
fn buffer_len(len: u64, max: usize) -> usize {
    usize::try_from(len).map_or(max, |len| len.min(max))
}

/// Unimplemented calls that C libraries probe for at start-up and do well
/// without; their absence is logged at debug level only.
const PROBED_AT_STARTUP: &[&str] = &["rseq"];

/// Logs the first use of an unimplemented call in this sandbox.
fn report_unimplemented(task: &TaskCtx, entry: Option<&SyscallEntry>, args: &SyscallArgs) {
    let first = task
        .kernel
        .reported_unimplemented
        .lock()
        .expect("unimplemented set poisoned")
        .insert(args.number);
    if !first {
        return;
    }
    let name = entry.map_or("unknown", |entry| entry.name);
    let tag = task.tasks().container(task.pid()).unwrap_or_default();
    task.kernel.report(tag, |watcher, container| {
        watcher.unimplemented_syscall(container, task.pid(), args.number, name);
    });
    let reason = entry.and_then(|entry| match entry.support {
        Support::Missing(area) => Some(area.description()),
        Support::Absent(reason) => Some(reason),
        Support::Full(_) | Support::Partial(..) | Support::Answers(..) => None,
    });
    if PROBED_AT_STARTUP.contains(&name) {
        tracing::debug!(
            pid = task.tid(),
            syscall = name,
            number = args.number,
            reason,
            "unimplemented system call: ENOSYS"
        );
    } else {
        tracing::warn!(
            pid = task.tid(),
            syscall = name,
            number = args.number,
            reason,
            "unimplemented system call: ENOSYS"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_takes_at_most_its_size() {
        assert_eq!(buffer_len(3, 4), 3);
        assert_eq!(buffer_len(10, 4), 4);
        assert_eq!(buffer_len(u64::MAX, 4), 4);
        assert_eq!(int_result(7), 7);
    }
}
