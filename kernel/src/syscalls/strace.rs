//! `--strace`: one log line per system call, with decoded arguments, the
//! result and the errno name.

use std::fmt::Write;

use super::args::Arg;
use super::context::TaskCtx;
use super::table::SyscallEntry;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;

/// Longest string argument shown before it is cut with "...".
const MAX_SHOWN: usize = 64;

/// Logs a call that does not return (exit, exit_group), before it runs.
pub(super) fn log_entry(task: &TaskCtx, entry: &SyscallEntry, args: &SyscallArgs) {
    let line = format!(
        "{}({}) = ?",
        entry.name,
        format_args(task, entry.args.iter().map(|&(_, kind)| kind), args)
    );
    tracing::info!(target: "strace", pid = task.tid(), "{line}");
}

/// Logs a call with its result.
pub(super) fn log_exit(task: &TaskCtx, entry: Option<&SyscallEntry>, args: &SyscallArgs, result: &SyscallResult) {
    let (name, shown) = match entry {
        Some(entry) => (
            entry.name.to_string(),
            format_args(task, entry.args.iter().map(|&(_, kind)| kind), args),
        ),
        None => (
            format!("syscall_{}", args.number),
            format_args(task, [Arg::Hex; 6].into_iter(), args),
        ),
    };
    let outcome = match result {
        Ok(value) if *value > 0xffff_ffff => format!("{value:#x}"),
        Ok(value) => value.to_string(),
        Err(errno) => format!("-1 {} ({})", crate::abi::errno::name(*errno), errno.desc()),
    };
    tracing::info!(target: "strace", pid = task.tid(), "{name}({shown}) = {outcome}");
}

fn format_args(task: &TaskCtx, kinds: impl Iterator<Item = Arg>, args: &SyscallArgs) -> String {
    let mut out = String::new();
    for (i, kind) in kinds.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let value = args.args[i];
        let _ = match kind {
            Arg::Int => write!(out, "{}", args.long(i)),
            Arg::Hex => write!(out, "{value:#x}"),
            Arg::Size => write!(out, "{value}"),
            Arg::Fd if args.int(i) == libc::AT_FDCWD => write!(out, "AT_FDCWD"),
            Arg::Fd => write!(out, "{}", args.int(i)),
            Arg::Ptr if value == 0 => write!(out, "NULL"),
            Arg::Ptr => write!(out, "{value:#x}"),
            Arg::Str => write!(out, "{}", show_string(task, UserAddr::new(value))),
            Arg::Signal => write!(out, "{}", signal_name(args.int(i))),
        };
    }
    out
}

fn show_string(task: &TaskCtx, addr: UserAddr) -> String {
    if addr.is_null() {
        return "NULL".to_string();
    }
    match task.mm().read_cstring(addr, 4096) {
        Ok(bytes) => {
            let cut = bytes.len() > MAX_SHOWN;
            let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_SHOWN)])
                .escape_debug()
                .collect();
            format!("\"{shown}\"{}", if cut { "..." } else { "" })
        }
        Err(_) => format!("{addr:#x}"),
    }
}

fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(sig) => sig.as_str().to_string(),
        Err(_) if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal) => format!("SIGRT{}", signal - 32),
        Err(_) => signal.to_string(),
    }
}
