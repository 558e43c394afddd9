//! Creating processes and replacing programs: fork, vfork, clone, clone3,
//! execve, execveat; and waiting for them: wait4, waitid.

use nix::errno::Errno;
use zerocopy::IntoBytes;

use super::context::TaskCtx;
use super::int_result;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::abi::structs::Timeval;
use crate::sync::Blocking;
use crate::task::loader;
use crate::task::{ForkRequest, Restart, Task, WaitEvent, WaitOptions, WaitTarget};

/// Namespace flags: the sandbox has one namespace of each kind.
const NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;
/// The longest argument or environment string (MAX_ARG_STRLEN).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// The most argv or envp entries (MAX_ARG_STRINGS).
const MAX_ARG_STRINGS: usize = 0x7fff_ffff;

/// The arguments of clone(2) and clone3(2), decoded.
struct CloneArgs {
    flags: u64,
    exit_signal: i32,
    stack: Option<u64>,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
}

/// Creates the task the clone arguments describe, with Linux's rules on
/// flag combinations (clone(2), EINVAL).
fn do_clone(task: &mut TaskCtx, clone: CloneArgs) -> SyscallResult {
    let flags = clone.flags;
    let has = |flag: i32| flags & u64::from(crate::abi::flags::bits(flag)) != 0;
    if flags & NAMESPACES != 0 {
        return Err(Errno::EPERM);
    }
    if (has(libc::CLONE_THREAD) && !has(libc::CLONE_SIGHAND))
        || (has(libc::CLONE_SIGHAND) && !has(libc::CLONE_VM))
        || (has(libc::CLONE_FS) && has(libc::CLONE_NEWNS))
    {
        return Err(Errno::EINVAL);
    }
    if has(libc::CLONE_SIGHAND) && !has(libc::CLONE_THREAD) {
        // Separate processes sharing one handler table: not supported.
        return Err(Errno::ENOSYS);
    }
    if !(0..=crate::abi::signal::NSIG).contains(&clone.exit_signal) {
        return Err(Errno::EINVAL);
    }
    let request = ForkRequest {
        thread: has(libc::CLONE_THREAD),
        share_vm: has(libc::CLONE_VM),
        share_files: has(libc::CLONE_FILES),
        share_fs: has(libc::CLONE_FS),
        exit_signal: if has(libc::CLONE_THREAD) { 0 } else { clone.exit_signal },
        same_parent: has(libc::CLONE_PARENT),
        vfork: has(libc::CLONE_VFORK),
        stack: clone.stack,
        tls: has(libc::CLONE_SETTLS).then_some(clone.tls),
        child_clear_tid: has(libc::CLONE_CHILD_CLEARTID).then_some(UserAddr::new(clone.child_tid)),
        child_set_tid: has(libc::CLONE_CHILD_SETTID).then_some(UserAddr::new(clone.child_tid)),
        parent_set_tid: has(libc::CLONE_PARENT_SETTID).then_some(UserAddr::new(clone.parent_tid)),
    };
    let tid = task.clone_task(request)?;
    Ok(int_result(tid))
}

/// Implements fork(2).
pub fn fork(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    do_clone(
        task,
        CloneArgs {
            flags: 0,
            exit_signal: libc::SIGCHLD,
            stack: None,
            parent_tid: 0,
            child_tid: 0,
            tls: 0,
        },
    )
}

/// Implements vfork(2): the child borrows the parent's memory until it
/// execs or exits; the parent waits until then.
pub fn vfork(task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    let flags = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    do_clone(
        task,
        CloneArgs {
            flags,
            exit_signal: libc::SIGCHLD,
            stack: None,
            parent_tid: 0,
            child_tid: 0,
            tls: 0,
        },
    )
}

/// Implements clone(2) (x86-64 order: flags, stack, parent_tid, child_tid,
/// tls) for new processes.
pub fn clone(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = args.u64(0);
    let stack = (args.u64(1) != 0).then_some(args.u64(1));
    do_clone(
        task,
        CloneArgs {
            flags: flags & !0xff,
            exit_signal: i32::try_from(flags & 0xff).expect("masked to 8 bits"),
            stack,
            parent_tid: args.u64(2),
            child_tid: args.u64(3),
            tls: args.u64(4),
        },
    )
}

/// Implements clone3(2) for new processes.
pub fn clone3(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // struct clone_args, version 0: eight u64 fields.
    const VER0: usize = 64;
    let size = args.size(1);
    if !(VER0..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; size];
    task.mm().copy_in(args.addr(0), &mut raw)?;
    let field = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    // Fields past version 0 (set_tid, cgroup, …) must be unused.
    if raw[VER0..].iter().any(|&b| b != 0) {
        return Err(Errno::EINVAL);
    }
    let (flags, exit_signal, stack, stack_size) = (field(0), field(4), field(5), field(6));
    if exit_signal > crate::abi::signal::NSIG as u64 || (stack == 0) != (stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let stack = (stack != 0).then(|| stack + stack_size);
    do_clone(
        task,
        CloneArgs {
            flags,
            exit_signal: i32::try_from(exit_signal).expect("at most NSIG, checked above"),
            stack,
            parent_tid: field(3),
            child_tid: field(2),
            tls: field(7),
        },
    )
}

/// Reads a NULL-terminated array of string pointers (argv or envp).
fn read_strings(task: &TaskCtx, array: UserAddr) -> Result<Vec<String>, Errno> {
    let mut out = Vec::new();
    if array.is_null() {
        return Ok(out);
    }
    let mut total = 0usize;
    for i in 0..MAX_ARG_STRINGS as u64 {
        let ptr = UserAddr::new(task.mm().read_pod(array + i * 8)?);
        if ptr.is_null() {
            return Ok(out);
        }
        let bytes = task
            .mm()
            .read_cstring(ptr, MAX_ARG_STRLEN)
            .map_err(|errno| match errno {
                Errno::ENAMETOOLONG => Errno::E2BIG,
                errno => errno,
            })?;
        total += bytes.len() + 1;
        if total > MAX_ARG_STRLEN * 64 {
            return Err(Errno::E2BIG);
        }
        out.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    Err(Errno::E2BIG)
}

/// Runs the program at `path` (relative to `dirfd`) in place of the caller's.
fn execute(task: &mut TaskCtx, dirfd: i32, path: Vec<u8>, argv: UserAddr, envp: UserAddr) -> SyscallResult {
    let path = String::from_utf8(path).map_err(|_| Errno::ENOENT)?;
    let argv = read_strings(task, argv)?;
    let env = read_strings(task, envp)?;
    let (exe, argv) = {
        let resolver = task.resolver_at(dirfd)?;
        let exe = loader::open_for_exec(&resolver, &path).map_err(|err| err.errno())?;
        loader::resolve_interpreter(&resolver, exe, argv).map_err(|err| err.errno())?
    };
    task.exec(exe, argv, env, &path)?;
    Ok(0)
}

/// Implements execve(2).
pub fn execve(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let path = task.mm().read_cstring(args.addr(0), libc::PATH_MAX as usize)?;
    execute(task, libc::AT_FDCWD, path, args.addr(1), args.addr(2))
}

/// Implements execveat(2). AT_EMPTY_PATH runs the file `dirfd` names;
/// AT_SYMLINK_NOFOLLOW refuses a final symlink with ELOOP.
pub fn execveat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let dirfd = args.int(0);
    let mut path = task.mm().read_cstring(args.addr(1), libc::PATH_MAX as usize)?;
    let flags = args.int(4);
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        let file = task.fds().get(dirfd)?;
        let location = file.location().ok_or(Errno::EACCES)?;
        path = location.path_from(&task.fs().root);
        return execute(task, libc::AT_FDCWD, path, args.addr(2), args.addr(3));
    }
    if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
        let resolver = task.resolver_at(dirfd)?;
        let location = resolver.resolve(&path, crate::vfs::lookup::Follow::NotLast)?;
        if location.stat()?.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(Errno::ELOOP);
        }
    }
    execute(task, dirfd, path, args.addr(2), args.addr(3))
}

/// Writes a struct rusage with the child's CPU time as user time.
fn write_rusage(task: &TaskCtx, addr: UserAddr, cpu: std::time::Duration) -> Result<(), Errno> {
    let mut rusage = [0u8; 144];
    rusage[..16].copy_from_slice(Timeval::from_duration(cpu).as_bytes());
    task.mm().copy_out(addr, &rusage)
}

/// Blocks until a child matching `target` has news, per `options`.
fn wait_for_child(
    task: &mut TaskCtx,
    target: WaitTarget,
    options: WaitOptions,
    nohang: bool,
) -> Result<Option<crate::task::WaitResult>, Errno> {
    let (pid, tasks) = (task.pid(), &task.tasks());
    let blocker: &Task = task;
    let result = blocker.block_on(None, None, || match tasks.wait(pid, target, options) {
        Ok(Some(found)) => Some(Ok(Some(found))),
        Ok(None) if nohang => Some(Ok(None)),
        Ok(None) => None,
        Err(errno) => Some(Err(errno)),
    });
    if result == Err(Errno::EINTR) {
        task.set_restart(Restart::UnlessHandled);
    }
    result
}

/// Implements wait4(2).
pub fn wait4(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (pid, status, options, rusage) = (args.int(0), args.addr(1), args.int(2), args.addr(3));
    let known = libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED | libc::__WALL | libc::__WCLONE | libc::__WNOTHREAD;
    if options & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let target = match pid {
        -1 => WaitTarget::Any,
        0 => WaitTarget::Group(0),
        p if p > 0 => WaitTarget::Pid(p),
        p => WaitTarget::Group(-p),
    };
    let wait_options = WaitOptions {
        exited: true,
        stopped: options & libc::WUNTRACED != 0,
        continued: options & libc::WCONTINUED != 0,
        keep: false,
        all: options & libc::__WALL != 0,
        clone_only: options & libc::__WCLONE != 0,
    };
    let Some(found) = wait_for_child(task, target, wait_options, options & libc::WNOHANG != 0)? else {
        return Ok(0);
    };
    if !status.is_null() {
        task.mm().write_pod(status, &found.event.status_word())?;
    }
    if !rusage.is_null() {
        let cpu = match found.event {
            WaitEvent::Exited { cpu, .. } => cpu,
            _ => std::time::Duration::ZERO,
        };
        write_rusage(task, rusage, cpu)?;
    }
    Ok(int_result(found.pid))
}

/// Implements waitid(2).
pub fn waitid(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (idtype, id, infop, options, rusage) = (args.u32(0), args.int(1), args.addr(2), args.int(3), args.addr(4));
    let known = libc::WNOHANG
        | libc::WEXITED
        | libc::WSTOPPED
        | libc::WCONTINUED
        | libc::WNOWAIT
        | libc::__WALL
        | libc::__WCLONE;
    if options & !known != 0 || options & (libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let target = match idtype {
        libc::P_ALL => WaitTarget::Any,
        libc::P_PID if id > 0 => WaitTarget::Pid(id),
        libc::P_PGID if id >= 0 => WaitTarget::Group(id),
        _ => return Err(Errno::EINVAL),
    };
    let wait_options = WaitOptions {
        exited: options & libc::WEXITED != 0,
        stopped: options & libc::WSTOPPED != 0,
        continued: options & libc::WCONTINUED != 0,
        keep: options & libc::WNOWAIT != 0,
        all: options & libc::__WALL != 0,
        clone_only: options & libc::__WCLONE != 0,
    };
    let found = wait_for_child(task, target, wait_options, options & libc::WNOHANG != 0)?;
    if !infop.is_null() {
        // With WNOHANG and nothing to report, si_pid (and the rest) is 0.
        let info = found.map(|found| {
            let (code, status) = match found.event {
                WaitEvent::Exited {
                    status: crate::abi::ExitStatus::Exited(code),
                    ..
                } => (crate::abi::signal::CLD_EXITED, i32::from(code)),
                WaitEvent::Exited {
                    status: crate::abi::ExitStatus::Signaled(signal),
                    ..
                } => (crate::abi::signal::CLD_KILLED, signal),
                WaitEvent::Stopped(signal) => (5, signal),
                // CLD_TRAPPED, with the stop's signal.
                WaitEvent::Trapped(status) => (4, status & 0xff),
                WaitEvent::Continued => (6, libc::SIGCONT),
            };
            crate::abi::signal::SigInfo {
                signo: libc::SIGCHLD,
                code,
                pid: found.pid,
                uid: found.uid,
                status,
                ..Default::default()
            }
        });
        task.mm().copy_out(infop, &info.unwrap_or_default().to_bytes())?;
    }
    if !rusage.is_null() {
        write_rusage(task, rusage, std::time::Duration::ZERO)?;
    }
    Ok(0)
}
