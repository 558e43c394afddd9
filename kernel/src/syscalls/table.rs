//! The system-call table: every x86-64 call on one line — its number
//! (libc's `SYS_` constant, so a misspelled name does not compile), its
//! arguments' names and kinds (for `--strace`), how well cordon serves it,
//! and the handler that does — and the compatibility document generated
//! from it (docs/syscalls.md).

use std::sync::LazyLock;

use nix::errno::Errno;

use super::args::Arg::{self, Fd, Hex, Int, Ptr, Signal, Size, Str};
use super::{
    Handler, attr, clone, credentials, epoll, eventfd, file, futex, io, lock, memfd, memory, names, open, path, poll,
    process, ptrace, rlimit, sched, seccomp, signal, signalfd, stat, system, time, timer, timerfd, transfer,
};

/// How cordon serves a system call.
#[derive(Debug, Clone, Copy)]
pub enum Support {
    /// As Linux does.
    Full(Handler),
    /// As Linux does in the cases the note leaves out; the rest return an
    /// errno, as the note says.
    Partial(Handler, &'static str),
    /// Not built yet: ENOSYS, until the area's work lands.
    Missing(Area),
    /// ENOSYS for good, as a Linux without the call answers; the note says
    /// why.
    Absent(&'static str),
    /// The errno Linux answers a container's process (without the privilege
    /// or the feature the call needs); the note says why.
    Answers(Errno, &'static str),
}

/// Where a call that is not built yet belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Network,
    Ipc,
    MessageQueues,
    Privileges,
    Namespaces,
    Scheduling,
    Memory,
    Files,
    AsyncIo,
    Notification,
    Keyrings,
    Processes,
    Futexes,
    Clocks,
}

impl Area {
    /// What the area covers, as the compatibility document names it.
    pub fn description(self) -> &'static str {
        match self {
            Area::Network => "networking (sockets)",
            Area::Ipc => "SysV IPC",
            Area::MessageQueues => "POSIX message queues (the spec's mqueue mount is skipped)",
            Area::Privileges => "the LSM attribute calls",
            Area::Namespaces => "mounts and namespaces inside the sandbox",
            Area::Scheduling => "scheduling policies and priorities",
            Area::Memory => "memory locking, protection keys and barriers",
            Area::Files => "file I/O (vectored positioned I/O, readahead, tee, the *xattrat calls)",
            Area::AsyncIo => "asynchronous I/O (AIO and io_uring)",
            Area::Notification => "file change notification (inotify, fanotify)",
            Area::Keyrings => "kernel keyrings",
            Area::Processes => "process handles and introspection (pidfds, kcmp)",
            Area::Futexes => "the futex2 calls",
            Area::Clocks => "reading and tuning the kernel clock (adjtimex)",
        }
    }
}

/// One system call.
#[derive(Debug, Clone, Copy)]
pub struct SyscallEntry {
    pub number: u64,
    pub name: &'static str,
    /// The arguments the call takes: names and how strace shows them.
    pub args: &'static [(&'static str, Arg)],
    pub support: Support,
}

impl SyscallEntry {
    /// Whether a successful call never returns to the caller.
    pub fn ends_task(&self) -> bool {
        self.number == libc::SYS_exit as u64 || self.number == libc::SYS_exit_group as u64
    }

    /// The handler, for a call cordon serves.
    pub fn handler(&self) -> Option<Handler> {
        match self.support {
            Support::Full(handler) | Support::Partial(handler, _) => Some(handler),
            Support::Missing(_) | Support::Absent(_) | Support::Answers(..) => None,
        }
    }
}

/// The system-call numbers: libc's `SYS_` constants, and the few calls
/// newer than the libc this builds with (from Linux's syscall_64.tbl).
mod nr {
    // Spelled as libc spells the others.
    #![allow(non_upper_case_globals)]

    pub use libc::*;

    pub const SYS_create_module: c_long = 174;
    pub const SYS_get_kernel_syms: c_long = 177;
    pub const SYS_query_module: c_long = 178;
    pub const SYS_io_pgetevents: c_long = 333;
    pub const SYS_cachestat: c_long = 451;
    pub const SYS_map_shadow_stack: c_long = 453;
    pub const SYS_futex_wake: c_long = 454;
    pub const SYS_futex_wait: c_long = 455;
    pub const SYS_futex_requeue: c_long = 456;
    pub const SYS_statmount: c_long = 457;
    pub const SYS_listmount: c_long = 458;
    pub const SYS_lsm_get_self_attr: c_long = 459;
    pub const SYS_lsm_set_self_attr: c_long = 460;
    pub const SYS_lsm_list_modules: c_long = 461;
    pub const SYS_setxattrat: c_long = 463;
    pub const SYS_getxattrat: c_long = 464;
    pub const SYS_listxattrat: c_long = 465;
    pub const SYS_removexattrat: c_long = 466;
    pub const SYS_open_tree_attr: c_long = 467;
}

/// `read` of `SYS_read`: the name a table line's constant stands for.
const fn call_name(constant: &'static str) -> &'static str {
    let Some((prefix, name)) = constant.as_bytes().split_first_chunk::<4>() else {
        panic!("a system-call constant is SYS_ and a name");
    };
    assert!(matches!(prefix, b"SYS_"), "a system-call constant starts with SYS_");
    match std::str::from_utf8(name) {
        Ok(name) => name,
        Err(_) => panic!("a system-call name is ASCII"),
    }
}

/// One [`SyscallEntry`] per line: `SYS_name(arg: Kind, ...) => support;`.
macro_rules! syscall_table {
    ($( $sys:ident ( $( $arg:ident : $kind:ident ),* ) => $support:expr ; )*) => {
        /// Every x86-64 system call, in number order.
        pub static SYSCALLS: &[SyscallEntry] = &[
            $(
                SyscallEntry {
                    number: nr::$sys as u64,
                    name: call_name(stringify!($sys)),
                    args: &[$( (stringify!($arg), $kind) ),*],
                    support: $support,
                },
            )*
        ];
    };
}

use Area::*;
use Support::{Absent, Answers, Full, Missing, Partial};
const EPERM: Errno = Errno::EPERM;
const ENODEV: Errno = Errno::ENODEV;
const EOPNOTSUPP: Errno = Errno::EOPNOTSUPP;

syscall_table! {
    SYS_read(fd: Fd, buf: Ptr, count: Size) => Full(io::read);
    SYS_write(fd: Fd, buf: Ptr, count: Size) => Full(io::write);
    SYS_open(pathname: Str, flags: Hex, mode: Hex) => Partial(open::open, "FIFOs and sockets opened by path answer ENXIO");
    SYS_close(fd: Fd) => Full(file::close);
    SYS_stat(pathname: Str, statbuf: Ptr) => Full(stat::stat);
    SYS_fstat(fd: Fd, statbuf: Ptr) => Full(stat::fstat);
    SYS_lstat(pathname: Str, statbuf: Ptr) => Full(stat::lstat);
    SYS_poll(fds: Ptr, nfds: Int, timeout: Int) => Partial(poll::poll, "host files (stdio) are polled every 10 ms while waiting");
    SYS_lseek(fd: Fd, offset: Int, whence: Int) => Full(file::lseek);
    SYS_mmap(addr: Ptr, length: Size, prot: Hex, flags: Hex, fd: Fd, offset: Int) => Partial(memory::mmap, "MAP_PRIVATE file mappings copy the file at mmap time (later writes to the file are not seen); MAP_SHARED needs a tmpfs, overlay or memfd file (host files are copied up); pages past the end read as zero, no SIGBUS");
    SYS_mprotect(addr: Ptr, len: Size, prot: Hex) => Full(memory::mprotect);
    SYS_munmap(addr: Ptr, length: Size) => Full(memory::munmap);
    SYS_brk(addr: Ptr) => Full(memory::brk);
    SYS_rt_sigaction(signum: Signal, act: Ptr, oldact: Ptr, sigsetsize: Size) => Full(signal::rt_sigaction);
    SYS_rt_sigprocmask(how: Int, set: Ptr, oldset: Ptr, sigsetsize: Size) => Full(signal::rt_sigprocmask);
    SYS_rt_sigreturn() => Full(signal::rt_sigreturn);
    SYS_ioctl(fd: Fd, request: Hex, arg: Hex) => Partial(file::ioctl, "FIOCLEX, FIONCLEX, FIONBIO; terminals: TCGETS/TCSETS(W/F) and their termios2 forms, TIOCGWINSZ/TIOCSWINSZ, FIONREAD/TIOCINQ, TIOCOUTQ, TCFLSH, TCSBRK(P), TIOCGETD, TIOCGPGRP/TIOCSPGRP, TIOCGSID, TIOCSCTTY, TIOCNOTTY; pty masters: TIOCGPTN, TIOCSPTLCK/TIOCGPTLCK, TIOCGPTPEER. Host terminals forward TCGETS/TCSETS* and TIOCGWINSZ only. No TIOCSTI, TIOCPKT, TCXONC, TIOCEXCL or TIOCCONS");
    SYS_pread64(fd: Fd, buf: Ptr, count: Size, offset: Int) => Full(io::pread64);
    SYS_pwrite64(fd: Fd, buf: Ptr, count: Size, offset: Int) => Full(io::pwrite64);
    SYS_readv(fd: Fd, iov: Ptr, iovcnt: Int) => Full(io::readv);
    SYS_writev(fd: Fd, iov: Ptr, iovcnt: Int) => Full(io::writev);
    SYS_access(pathname: Str, mode: Hex) => Full(stat::access);
    SYS_pipe(pipefd: Ptr) => Full(file::pipe);
    SYS_select(nfds: Int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr, timeout: Ptr) => Partial(poll::select, "host files (stdio) are polled every 10 ms while waiting");
    SYS_sched_yield() => Full(system::sched_yield);
    SYS_mremap(old_address: Ptr, old_size: Size, new_size: Size, flags: Hex, new_address: Ptr) => Partial(memory::mremap, "old_len 0 (duplicating a shared mapping) is EINVAL");
    SYS_msync(addr: Ptr, length: Size, flags: Hex) => Full(memory::msync);
    SYS_mincore(addr: Ptr, length: Size, vec: Ptr) => Partial(memory::mincore, "every mapped page reads as resident");
    SYS_madvise(addr: Ptr, length: Size, advice: Int) => Partial(memory::madvise, "DONTNEED and FREE discard private pages; other advice is accepted as a hint");
    SYS_shmget(key: Int, size: Size, shmflg: Hex) => Missing(Ipc);
    SYS_shmat(shmid: Int, shmaddr: Ptr, shmflg: Hex) => Missing(Ipc);
    SYS_shmctl(shmid: Int, cmd: Int, buf: Ptr) => Missing(Ipc);
    SYS_dup(oldfd: Fd) => Full(file::dup);
    SYS_dup2(oldfd: Fd, newfd: Fd) => Full(file::dup2);
    SYS_pause() => Full(signal::pause);
    SYS_nanosleep(req: Ptr, rem: Ptr) => Full(time::nanosleep);
    SYS_getitimer(which: Int, curr_value: Ptr) => Partial(timer::getitimer, "ITIMER_VIRTUAL and ITIMER_PROF both count the process's CPU time, checked every 10 ms");
    SYS_alarm(seconds: Int) => Full(timer::alarm);
    SYS_setitimer(which: Int, new_value: Ptr, old_value: Ptr) => Partial(timer::setitimer, "ITIMER_VIRTUAL and ITIMER_PROF both count the process's CPU time, checked every 10 ms");
    SYS_getpid() => Full(process::getpid);
    SYS_sendfile(out_fd: Fd, in_fd: Fd, offset: Ptr, count: Size) => Full(transfer::sendfile);
    SYS_socket(domain: Int, kind: Hex, protocol: Int) => Missing(Network);
    SYS_connect(sockfd: Fd, addr: Ptr, addrlen: Size) => Missing(Network);
    SYS_accept(sockfd: Fd, addr: Ptr, addrlen: Ptr) => Missing(Network);
    SYS_sendto(sockfd: Fd, buf: Ptr, len: Size, flags: Hex, dest_addr: Ptr, addrlen: Size) => Missing(Network);
    SYS_recvfrom(sockfd: Fd, buf: Ptr, len: Size, flags: Hex, src_addr: Ptr, addrlen: Ptr) => Missing(Network);
    SYS_sendmsg(sockfd: Fd, msg: Ptr, flags: Hex) => Missing(Network);
    SYS_recvmsg(sockfd: Fd, msg: Ptr, flags: Hex) => Missing(Network);
    SYS_shutdown(sockfd: Fd, how: Int) => Missing(Network);
    SYS_bind(sockfd: Fd, addr: Ptr, addrlen: Size) => Missing(Network);
    SYS_listen(sockfd: Fd, backlog: Int) => Missing(Network);
    SYS_getsockname(sockfd: Fd, addr: Ptr, addrlen: Ptr) => Missing(Network);
    SYS_getpeername(sockfd: Fd, addr: Ptr, addrlen: Ptr) => Missing(Network);
    SYS_socketpair(domain: Int, kind: Hex, protocol: Int, sv: Ptr) => Missing(Network);
    SYS_setsockopt(sockfd: Fd, level: Int, optname: Int, optval: Ptr, optlen: Size) => Missing(Network);
    SYS_getsockopt(sockfd: Fd, level: Int, optname: Int, optval: Ptr, optlen: Ptr) => Missing(Network);
    SYS_clone(flags: Hex, stack: Ptr, parent_tid: Ptr, child_tid: Ptr, tls: Ptr) => Partial(clone::clone, "namespace flags are EPERM; CLONE_SIGHAND without CLONE_THREAD is ENOSYS");
    SYS_fork() => Full(clone::fork);
    SYS_vfork() => Full(clone::vfork);
    SYS_execve(pathname: Str, argv: Ptr, envp: Ptr) => Full(clone::execve);
    SYS_exit(status: Int) => Full(process::exit);
    SYS_wait4(pid: Int, wstatus: Ptr, options: Hex, rusage: Ptr) => Full(clone::wait4);
    SYS_kill(pid: Int, sig: Signal) => Full(signal::kill);
    SYS_uname(buf: Ptr) => Full(system::uname);
    SYS_semget(key: Int, nsems: Int, semflg: Hex) => Missing(Ipc);
    SYS_semop(semid: Int, sops: Ptr, nsops: Int) => Missing(Ipc);
    SYS_semctl(semid: Int, semnum: Int, cmd: Int, arg: Hex) => Missing(Ipc);
    SYS_shmdt(shmaddr: Ptr) => Missing(Ipc);
    SYS_msgget(key: Int, msgflg: Hex) => Missing(Ipc);
    SYS_msgsnd(msqid: Int, msgp: Ptr, msgsz: Size, msgflg: Hex) => Missing(Ipc);
    SYS_msgrcv(msqid: Int, msgp: Ptr, msgsz: Size, msgtyp: Int, msgflg: Hex) => Missing(Ipc);
    SYS_msgctl(msqid: Int, cmd: Int, buf: Ptr) => Missing(Ipc);
    SYS_fcntl(fd: Fd, cmd: Hex, arg: Hex) => Partial(file::fcntl, "F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETPIPE_SZ, F_SETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS; others ENOSYS");
    SYS_flock(fd: Fd, operation: Hex) => Partial(lock::flock, "regular files and directories; devices, FIFOs, pipes and sockets are EINVAL");
    SYS_fsync(fd: Fd) => Full(attr::fsync);
    SYS_fdatasync(fd: Fd) => Full(attr::fdatasync);
    SYS_truncate(path: Str, length: Int) => Full(attr::truncate);
    SYS_ftruncate(fd: Fd, length: Int) => Full(attr::ftruncate);
    SYS_getdents(fd: Fd, dirp: Ptr, count: Size) => Missing(Files);
    SYS_getcwd(buf: Ptr, size: Size) => Full(path::getcwd);
    SYS_chdir(path: Str) => Full(path::chdir);
    SYS_fchdir(fd: Fd) => Full(path::fchdir);
    SYS_rename(oldpath: Str, newpath: Str) => Full(names::rename);
    SYS_mkdir(pathname: Str, mode: Hex) => Full(names::mkdir);
    SYS_rmdir(pathname: Str) => Full(names::rmdir);
    SYS_creat(pathname: Str, mode: Hex) => Full(open::creat);
    SYS_link(oldpath: Str, newpath: Str) => Full(names::link);
    SYS_unlink(pathname: Str) => Full(names::unlink);
    SYS_symlink(target: Str, linkpath: Str) => Full(names::symlink);
    SYS_readlink(pathname: Str, buf: Ptr, bufsiz: Size) => Full(path::readlink);
    SYS_chmod(pathname: Str, mode: Hex) => Full(attr::chmod);
    SYS_fchmod(fd: Fd, mode: Hex) => Full(attr::fchmod);
    SYS_chown(pathname: Str, owner: Int, group: Int) => Full(attr::chown);
    SYS_fchown(fd: Fd, owner: Int, group: Int) => Full(attr::fchown);
    SYS_lchown(pathname: Str, owner: Int, group: Int) => Full(attr::lchown);
    SYS_umask(mask: Hex) => Full(process::umask);
    SYS_gettimeofday(tv: Ptr, tz: Ptr) => Full(time::gettimeofday);
    SYS_getrlimit(resource: Int, rlim: Ptr) => Full(rlimit::getrlimit);
    SYS_getrusage(who: Int, usage: Ptr) => Partial(time::getrusage, "CPU time only");
    SYS_sysinfo(info: Ptr) => Partial(system::sysinfo, "load averages are zero");
    SYS_times(buf: Ptr) => Partial(time::times, "system time reads as zero");
    SYS_ptrace(request: Hex, pid: Int, addr: Ptr, data: Ptr) => Partial(ptrace::ptrace, "a tracer is a process (any of its threads may make requests); no hardware breakpoints (debug registers read 0); PTRACE_LISTEN keeps a group-stop until the next resume; no PEEKSIGINFO, ARCH_PRCTL, SECCOMP_GET_FILTER");
    SYS_getuid() => Full(credentials::getuid);
    SYS_syslog(kind: Int, bufp: Ptr, len: Size) => Answers(EPERM, "Linux asks CAP_SYSLOG; the sandbox refuses whatever the caller holds, as it has no kernel log");
    SYS_getgid() => Full(credentials::getgid);
    SYS_setuid(uid: Int) => Full(credentials::setuid);
    SYS_setgid(gid: Int) => Full(credentials::setgid);
    SYS_geteuid() => Full(credentials::geteuid);
    SYS_getegid() => Full(credentials::getegid);
    SYS_setpgid(pid: Int, pgid: Int) => Full(process::setpgid);
    SYS_getppid() => Full(process::getppid);
    SYS_getpgrp() => Full(process::getpgrp);
    SYS_setsid() => Full(process::setsid);
    SYS_setreuid(ruid: Int, euid: Int) => Full(credentials::setreuid);
    SYS_setregid(rgid: Int, egid: Int) => Full(credentials::setregid);
    SYS_getgroups(size: Int, list: Ptr) => Full(credentials::getgroups);
    SYS_setgroups(size: Int, list: Ptr) => Full(credentials::setgroups);
    SYS_setresuid(ruid: Int, euid: Int, suid: Int) => Full(credentials::setresuid);
    SYS_getresuid(ruid: Ptr, euid: Ptr, suid: Ptr) => Full(credentials::getresuid);
    SYS_setresgid(rgid: Int, egid: Int, sgid: Int) => Full(credentials::setresgid);
    SYS_getresgid(rgid: Ptr, egid: Ptr, sgid: Ptr) => Full(credentials::getresgid);
    SYS_getpgid(pid: Int) => Full(process::getpgid);
    SYS_setfsuid(fsuid: Int) => Full(credentials::setfsuid);
    SYS_setfsgid(fsgid: Int) => Full(credentials::setfsgid);
    SYS_getsid(pid: Int) => Full(process::getsid);
    SYS_capget(hdrp: Ptr, datap: Ptr) => Full(credentials::capget);
    SYS_capset(hdrp: Ptr, datap: Ptr) => Partial(credentials::capset, "no file capabilities: execve grants capabilities by uid 0 and the ambient set alone");
    SYS_rt_sigpending(set: Ptr, sigsetsize: Size) => Full(signal::rt_sigpending);
    SYS_rt_sigtimedwait(set: Ptr, info: Ptr, timeout: Ptr, sigsetsize: Size) => Full(signal::rt_sigtimedwait);
    SYS_rt_sigqueueinfo(tgid: Int, sig: Signal, info: Ptr) => Full(signal::rt_sigqueueinfo);
    SYS_rt_sigsuspend(mask: Ptr, sigsetsize: Size) => Full(signal::rt_sigsuspend);
    SYS_sigaltstack(ss: Ptr, old_ss: Ptr) => Partial(signal::sigaltstack, "SS_AUTODISARM is accepted and not acted on");
    SYS_utime(filename: Str, times: Ptr) => Full(attr::utime);
    SYS_mknod(pathname: Str, mode: Hex, dev: Hex) => Partial(names::mknod, "regular files, FIFOs and (root) character devices; block devices and sockets are EPERM");
    SYS_uselib(library: Str) => Absent("a.out shared libraries: Linux built without CONFIG_USELIB answers ENOSYS");
    SYS_personality(persona: Hex) => Partial(process::personality, "the persona is kept, inherited and reported; none of its flags changes anything (the sandbox never randomizes the address space, so ADDR_NO_RANDOMIZE holds anyway)");
    SYS_ustat(dev: Hex, ubuf: Ptr) => Missing(Files);
    SYS_statfs(path: Str, buf: Ptr) => Full(stat::statfs);
    SYS_fstatfs(fd: Fd, buf: Ptr) => Full(stat::fstatfs);
    SYS_sysfs(option: Int, arg1: Hex, arg2: Hex) => Absent("Linux built without CONFIG_SYSFS_SYSCALL (the default) answers ENOSYS");
    SYS_getpriority(which: Int, who: Int) => Missing(Scheduling);
    SYS_setpriority(which: Int, who: Int, prio: Int) => Missing(Scheduling);
    SYS_sched_setparam(pid: Int, param: Ptr) => Missing(Scheduling);
    SYS_sched_getparam(pid: Int, param: Ptr) => Full(sched::sched_getparam);
    SYS_sched_setscheduler(pid: Int, policy: Int, param: Ptr) => Missing(Scheduling);
    SYS_sched_getscheduler(pid: Int) => Full(sched::sched_getscheduler);
    SYS_sched_get_priority_max(policy: Int) => Full(sched::sched_get_priority);
    SYS_sched_get_priority_min(policy: Int) => Full(sched::sched_get_priority);
    SYS_sched_rr_get_interval(pid: Int, tp: Ptr) => Missing(Scheduling);
    SYS_mlock(addr: Ptr, len: Size) => Missing(Memory);
    SYS_munlock(addr: Ptr, len: Size) => Missing(Memory);
    SYS_mlockall(flags: Hex) => Missing(Memory);
    SYS_munlockall() => Missing(Memory);
    SYS_vhangup() => Answers(EPERM, "Linux asks CAP_SYS_TTY_CONFIG; the sandbox refuses whatever the caller holds, as it does not hang up terminals for a caller");
    SYS_modify_ldt(func: Int, ptr: Ptr, bytecount: Size) => Absent("local descriptor tables (16-bit segments) are not offered; gVisor answers the same");
    SYS_pivot_root(new_root: Str, put_old: Str) => Answers(EPERM, "Linux asks CAP_SYS_ADMIN; the sandbox refuses whatever the caller holds: mounts inside the sandbox are not built yet");
    SYS__sysctl(args: Ptr) => Absent("removed from Linux in 5.5");
    SYS_prctl(option: Hex, arg2: Hex, arg3: Hex, arg4: Hex, arg5: Hex) => Partial(process::prctl, "PR_SET/GET_NAME, PR_SET/GET_PDEATHSIG (on the parent process's exit), PR_SET/GET_CHILD_SUBREAPER, PR_SET/GET_NO_NEW_PRIVS, PR_CAPBSET_READ/DROP, PR_CAP_AMBIENT, PR_SET/GET_SECUREBITS, PR_SET/GET_KEEPCAPS, PR_SET/GET_DUMPABLE, PR_SET/GET_SECCOMP");
    SYS_arch_prctl(code: Hex, addr: Ptr) => Partial(process::arch_prctl, "ARCH_SET_FS, ARCH_GET_FS, ARCH_SET_GS, ARCH_GET_GS");
    SYS_adjtimex(buf: Ptr) => Missing(Clocks);
    SYS_setrlimit(resource: Int, rlim: Ptr) => Full(rlimit::setrlimit);
    SYS_chroot(path: Str) => Full(path::chroot);
    SYS_sync() => Full(attr::sync);
    SYS_acct(filename: Str) => Answers(EPERM, "Linux asks CAP_SYS_PACCT; the sandbox refuses whatever the caller holds, as it keeps no process accounting");
    SYS_settimeofday(tv: Ptr, tz: Ptr) => Answers(EPERM, "Linux asks CAP_SYS_TIME; the sandbox refuses whatever the caller holds: the clock is the host's");
    SYS_mount(source: Str, target: Str, fstype: Str, mountflags: Hex, data: Ptr) => Answers(EPERM, "Linux asks CAP_SYS_ADMIN; the sandbox refuses whatever the caller holds: mounts inside the sandbox are not built yet");
    SYS_umount2(target: Str, flags: Hex) => Answers(EPERM, "Linux asks CAP_SYS_ADMIN; the sandbox refuses whatever the caller holds: mounts inside the sandbox are not built yet");
    SYS_swapon(path: Str, swapflags: Hex) => Answers(EPERM, "Linux asks CAP_SYS_ADMIN; the sandbox refuses whatever the caller holds, as it has no swap");
    SYS_swapoff(path: Str) => Answers(EPERM, "Linux asks CAP_SYS_ADMIN; the sandbox refuses whatever the caller holds, as it has no swap");
    SYS_reboot(magic: Hex, magic2: Hex, cmd: Hex, arg: Ptr) => Full(system::reboot);
    SYS_sethostname(name: Ptr, len: Size) => Full(system::sethostname);
    SYS_setdomainname(name: Ptr, len: Size) => Full(system::setdomainname);
    SYS_iopl(level: Int) => Answers(EPERM, "Linux asks CAP_SYS_RAWIO; the sandbox refuses whatever the caller holds, as it gives no port I/O");
    SYS_ioperm(from: Hex, num: Int, turn_on: Int) => Answers(EPERM, "Linux asks CAP_SYS_RAWIO; the sandbox refuses whatever the caller holds, as it gives no port I/O");
    SYS_create_module(name: Str, size: Size) => Absent("removed from Linux in 2.6");
    SYS_init_module(module_image: Ptr, len: Size, param_values: Str) => Answers(EPERM, "Linux asks CAP_SYS_MODULE; the sandbox refuses whatever the caller holds, as it loads no kernel modules");
    SYS_delete_module(name: Str, flags: Hex) => Answers(EPERM, "Linux asks CAP_SYS_MODULE; the sandbox refuses whatever the caller holds, as it loads no kernel modules");
    SYS_get_kernel_syms(table: Ptr) => Absent("removed from Linux in 2.6");
    SYS_query_module(name: Str, which: Int, buf: Ptr, bufsize: Size, ret: Ptr) => Absent("removed from Linux in 2.6");
    SYS_quotactl(cmd: Int, special: Str, id: Int, addr: Ptr) => Absent("no filesystem of the sandbox keeps disk quotas");
    SYS_nfsservctl(cmd: Int, argp: Ptr, resp: Ptr) => Absent("removed from Linux in 3.1");
    SYS_getpmsg(fd: Fd, ctlptr: Ptr, dataptr: Ptr, bandp: Ptr, flagsp: Ptr) => Absent("never implemented by Linux on x86-64");
    SYS_putpmsg(fd: Fd, ctlptr: Ptr, dataptr: Ptr, band: Int, flags: Hex) => Absent("never implemented by Linux on x86-64");
    SYS_afs_syscall() => Absent("never implemented by Linux on x86-64");
    SYS_tuxcall() => Absent("never implemented by Linux on x86-64");
    SYS_security() => Absent("never implemented by Linux on x86-64");
    SYS_gettid() => Full(process::gettid);
    SYS_readahead(fd: Fd, offset: Int, count: Size) => Missing(Files);
    SYS_setxattr(path: Str, name: Str, value: Ptr, size: Size, flags: Hex) => Partial(attr::setxattr, "as getxattr");
    SYS_lsetxattr(path: Str, name: Str, value: Ptr, size: Size, flags: Hex) => Partial(attr::lsetxattr, "as getxattr");
    SYS_fsetxattr(fd: Fd, name: Str, value: Ptr, size: Size, flags: Hex) => Partial(attr::fsetxattr, "as getxattr");
    SYS_getxattr(path: Str, name: Str, value: Ptr, size: Size) => Partial(attr::getxattr, "tmpfs and the overlay hold user., trusted. and security. names; host files say ENOTSUP");
    SYS_lgetxattr(path: Str, name: Str, value: Ptr, size: Size) => Partial(attr::lgetxattr, "as getxattr");
    SYS_fgetxattr(fd: Fd, name: Str, value: Ptr, size: Size) => Partial(attr::fgetxattr, "as getxattr");
    SYS_listxattr(path: Str, list: Ptr, size: Size) => Partial(attr::listxattr, "as getxattr");
    SYS_llistxattr(path: Str, list: Ptr, size: Size) => Partial(attr::llistxattr, "as getxattr");
    SYS_flistxattr(fd: Fd, list: Ptr, size: Size) => Partial(attr::flistxattr, "as getxattr");
    SYS_removexattr(path: Str, name: Str) => Partial(attr::removexattr, "as getxattr");
    SYS_lremovexattr(path: Str, name: Str) => Partial(attr::lremovexattr, "as getxattr");
    SYS_fremovexattr(fd: Fd, name: Str) => Partial(attr::fremovexattr, "as getxattr");
    SYS_tkill(tid: Int, sig: Signal) => Full(signal::tkill);
    SYS_time(tloc: Ptr) => Full(time::time);
    SYS_futex(uaddr: Ptr, futex_op: Hex, val: Int, timeout: Ptr, uaddr2: Ptr, val3: Int) => Partial(futex::futex, "PI operations (LOCK_PI, UNLOCK_PI, …) are ENOSYS");
    SYS_sched_setaffinity(pid: Int, cpusetsize: Size, mask: Ptr) => Partial(sched::sched_setaffinity, "accepted, not applied: the host schedules task threads");
    SYS_sched_getaffinity(pid: Int, cpusetsize: Size, mask: Ptr) => Full(sched::sched_getaffinity);
    SYS_set_thread_area(u_info: Ptr) => Absent("32-bit TLS descriptors, which 64-bit programs do not use (arch_prctl sets theirs); gVisor answers the same");
    SYS_io_setup(nr_events: Int, ctx_idp: Ptr) => Missing(AsyncIo);
    SYS_io_destroy(ctx_id: Hex) => Missing(AsyncIo);
    SYS_io_getevents(ctx_id: Hex, min_nr: Int, nr: Int, events: Ptr, timeout: Ptr) => Missing(AsyncIo);
    SYS_io_submit(ctx_id: Hex, nr: Int, iocbpp: Ptr) => Missing(AsyncIo);
    SYS_io_cancel(ctx_id: Hex, iocb: Ptr, result: Ptr) => Missing(AsyncIo);
    SYS_get_thread_area(u_info: Ptr) => Absent("32-bit TLS descriptors, which 64-bit programs do not use (arch_prctl sets theirs); gVisor answers the same");
    SYS_lookup_dcookie(cookie: Hex, buffer: Ptr, len: Size) => Absent("removed from Linux in 6.9");
    SYS_epoll_create(size: Int) => Full(epoll::epoll_create);
    SYS_epoll_ctl_old(epfd: Fd, op: Int, fd: Fd, event: Ptr) => Absent("never implemented by Linux on x86-64");
    SYS_epoll_wait_old(epfd: Fd, events: Ptr, maxevents: Int, timeout: Int) => Absent("never implemented by Linux on x86-64");
    SYS_remap_file_pages(addr: Ptr, size: Size, prot: Hex, pgoff: Int, flags: Hex) => Missing(Memory);
    SYS_getdents64(fd: Fd, dirp: Ptr, count: Size) => Full(names::getdents64);
    SYS_set_tid_address(tidptr: Ptr) => Full(process::set_tid_address);
    SYS_restart_syscall() => Full(time::restart_syscall);
    SYS_semtimedop(semid: Int, sops: Ptr, nsops: Int, timeout: Ptr) => Missing(Ipc);
    SYS_fadvise64(fd: Fd, offset: Int, len: Size, advice: Int) => Full(transfer::fadvise64);
    SYS_timer_create(clockid: Int, sevp: Ptr, timerid: Ptr) => Partial(timer::timer_create, "CPU-time clocks are ENOTSUP; SIGEV_THREAD is the C library's");
    SYS_timer_settime(timerid: Int, flags: Hex, new_value: Ptr, old_value: Ptr) => Partial(timer::timer_settime, "overruns count expiries missed while the timer thread was late");
    SYS_timer_gettime(timerid: Int, curr_value: Ptr) => Full(timer::timer_gettime);
    SYS_timer_getoverrun(timerid: Int) => Partial(timer::timer_getoverrun, "overruns count expiries missed while the timer thread was late");
    SYS_timer_delete(timerid: Int) => Full(timer::timer_delete);
    SYS_clock_settime(clockid: Int, tp: Ptr) => Answers(EPERM, "Linux asks CAP_SYS_TIME; the sandbox refuses whatever the caller holds: the clock is the host's");
    SYS_clock_gettime(clockid: Int, tp: Ptr) => Full(time::clock_gettime);
    SYS_clock_getres(clockid: Int, res: Ptr) => Full(time::clock_getres);
    SYS_clock_nanosleep(clockid: Int, flags: Hex, request: Ptr, remain: Ptr) => Full(time::clock_nanosleep);
    SYS_exit_group(status: Int) => Full(process::exit_group);
    SYS_epoll_wait(epfd: Fd, events: Ptr, maxevents: Int, timeout: Int) => Partial(epoll::epoll_wait, "host files (stdio) are polled every 10 ms while waiting");
    SYS_epoll_ctl(epfd: Fd, op: Int, fd: Fd, event: Ptr) => Partial(epoll::epoll_ctl, "EPOLLEXCLUSIVE is accepted and wakes every waiter; EPOLLWAKEUP is ignored; nesting depth is counted below the target only");
    SYS_tgkill(tgid: Int, tid: Int, sig: Signal) => Full(signal::tgkill);
    SYS_utimes(filename: Str, times: Ptr) => Full(attr::utimes);
    SYS_vserver() => Absent("never implemented by Linux on x86-64");
    SYS_mbind(addr: Ptr, len: Size, mode: Hex, nodemask: Ptr, maxnode: Int, flags: Hex) => Absent("a kernel without NUMA support answers ENOSYS: the sandbox has one memory node");
    SYS_set_mempolicy(mode: Hex, nodemask: Ptr, maxnode: Int) => Absent("a kernel without NUMA support answers ENOSYS: the sandbox has one memory node");
    SYS_get_mempolicy(mode: Ptr, nodemask: Ptr, maxnode: Int, addr: Ptr, flags: Hex) => Absent("a kernel without NUMA support answers ENOSYS: the sandbox has one memory node");
    SYS_mq_open(name: Str, oflag: Hex, mode: Hex, attr: Ptr) => Missing(MessageQueues);
    SYS_mq_unlink(name: Str) => Missing(MessageQueues);
    SYS_mq_timedsend(mqdes: Fd, msg_ptr: Ptr, msg_len: Size, msg_prio: Int, abs_timeout: Ptr) => Missing(MessageQueues);
    SYS_mq_timedreceive(mqdes: Fd, msg_ptr: Ptr, msg_len: Size, msg_prio: Ptr, abs_timeout: Ptr) => Missing(MessageQueues);
    SYS_mq_notify(mqdes: Fd, sevp: Ptr) => Missing(MessageQueues);
    SYS_mq_getsetattr(mqdes: Fd, newattr: Ptr, oldattr: Ptr) => Missing(MessageQueues);
    SYS_kexec_load(entry: Ptr, nr_segments: Int, segments: Ptr, flags: Hex) => Answers(EPERM, "Linux asks CAP_SYS_BOOT; the sandbox refuses whatever the caller holds, as it loads no other kernel");
    SYS_waitid(idtype: Int, id: Int, infop: Ptr, options: Hex, rusage: Ptr) => Partial(clone::waitid, "rusage is zero");
    SYS_add_key(key_type: Str, description: Str, payload: Ptr, plen: Size, keyring: Int) => Missing(Keyrings);
    SYS_request_key(key_type: Str, description: Str, callout_info: Str, dest_keyring: Int) => Missing(Keyrings);
    SYS_keyctl(operation: Int, arg2: Hex, arg3: Hex, arg4: Hex, arg5: Hex) => Missing(Keyrings);
    SYS_ioprio_set(which: Int, who: Int, ioprio: Int) => Missing(Scheduling);
    SYS_ioprio_get(which: Int, who: Int) => Missing(Scheduling);
    SYS_inotify_init() => Missing(Notification);
    SYS_inotify_add_watch(fd: Fd, pathname: Str, mask: Hex) => Missing(Notification);
    SYS_inotify_rm_watch(fd: Fd, wd: Int) => Missing(Notification);
    SYS_migrate_pages(pid: Int, maxnode: Int, old_nodes: Ptr, new_nodes: Ptr) => Absent("a kernel without NUMA support answers ENOSYS: the sandbox has one memory node");
    SYS_openat(dirfd: Fd, pathname: Str, flags: Hex, mode: Hex) => Partial(open::openat, "FIFOs and sockets opened by path answer ENXIO");
    SYS_mkdirat(dirfd: Fd, pathname: Str, mode: Hex) => Full(names::mkdirat);
    SYS_mknodat(dirfd: Fd, pathname: Str, mode: Hex, dev: Hex) => Partial(names::mknodat, "regular files, FIFOs and (root) character devices; block devices and sockets are EPERM");
    SYS_fchownat(dirfd: Fd, pathname: Str, owner: Int, group: Int, flags: Hex) => Full(attr::fchownat);
    SYS_futimesat(dirfd: Fd, pathname: Str, times: Ptr) => Full(attr::futimesat);
    SYS_newfstatat(dirfd: Fd, pathname: Str, statbuf: Ptr, flags: Hex) => Full(stat::newfstatat);
    SYS_unlinkat(dirfd: Fd, pathname: Str, flags: Hex) => Full(names::unlinkat);
    SYS_renameat(olddirfd: Fd, oldpath: Str, newdirfd: Fd, newpath: Str) => Full(names::renameat);
    SYS_linkat(olddirfd: Fd, oldpath: Str, newdirfd: Fd, newpath: Str, flags: Hex) => Full(names::linkat);
    SYS_symlinkat(target: Str, newdirfd: Fd, linkpath: Str) => Full(names::symlinkat);
    SYS_readlinkat(dirfd: Fd, pathname: Str, buf: Ptr, bufsiz: Size) => Full(path::readlinkat);
    SYS_fchmodat(dirfd: Fd, pathname: Str, mode: Hex) => Full(attr::fchmodat);
    SYS_faccessat(dirfd: Fd, pathname: Str, mode: Hex) => Full(stat::faccessat);
    SYS_pselect6(nfds: Int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr, timeout: Ptr, sigmask: Ptr) => Partial(poll::pselect6, "host files (stdio) are polled every 10 ms while waiting");
    SYS_ppoll(fds: Ptr, nfds: Int, tmo_p: Ptr, sigmask: Ptr, sigsetsize: Size) => Partial(poll::ppoll, "host files (stdio) are polled every 10 ms while waiting");
    SYS_unshare(flags: Hex) => Missing(Namespaces);
    SYS_set_robust_list(head: Ptr, len: Size) => Full(process::set_robust_list);
    SYS_get_robust_list(pid: Int, head_ptr: Ptr, len_ptr: Ptr) => Partial(process::get_robust_list, "the calling thread's list only; others are EPERM");
    SYS_splice(fd_in: Fd, off_in: Ptr, fd_out: Fd, off_out: Ptr, len: Size, flags: Hex) => Partial(transfer::splice, "copies through a kernel buffer; SPLICE_F_NONBLOCK is not acted on");
    SYS_tee(fd_in: Fd, fd_out: Fd, len: Size, flags: Hex) => Missing(Files);
    SYS_sync_file_range(fd: Fd, offset: Int, nbytes: Size, flags: Hex) => Missing(Files);
    SYS_vmsplice(fd: Fd, iov: Ptr, nr_segs: Int, flags: Hex) => Missing(Files);
    SYS_move_pages(pid: Int, count: Int, pages: Ptr, nodes: Ptr, status: Ptr, flags: Hex) => Absent("a kernel without NUMA support answers ENOSYS: the sandbox has one memory node");
    SYS_utimensat(dirfd: Fd, pathname: Str, times: Ptr, flags: Hex) => Full(attr::utimensat);
    SYS_epoll_pwait(epfd: Fd, events: Ptr, maxevents: Int, timeout: Int, sigmask: Ptr, sigsetsize: Size) => Partial(epoll::epoll_pwait, "host files (stdio) are polled every 10 ms while waiting");
    SYS_signalfd(fd: Fd, mask: Ptr, sizemask: Size) => Partial(signalfd::signalfd, "readiness follows the creating process, not the polling thread");
    SYS_timerfd_create(clockid: Int, flags: Hex) => Partial(timerfd::timerfd_create, "the _ALARM clocks are EPERM; absolute times are fixed on CLOCK_MONOTONIC when set");
    SYS_eventfd(initval: Int) => Full(eventfd::eventfd);
    SYS_fallocate(fd: Fd, mode: Hex, offset: Int, len: Size) => Partial(attr::fallocate, "mode 0, FALLOC_FL_KEEP_SIZE and FALLOC_FL_PUNCH_HOLE; other modes are EOPNOTSUPP");
    SYS_timerfd_settime(fd: Fd, flags: Hex, new_value: Ptr, old_value: Ptr) => Partial(timerfd::timerfd_settime, "TFD_TIMER_CANCEL_ON_SET is accepted; reads never end with ECANCELED");
    SYS_timerfd_gettime(fd: Fd, curr_value: Ptr) => Full(timerfd::timerfd_gettime);
    SYS_accept4(sockfd: Fd, addr: Ptr, addrlen: Ptr, flags: Hex) => Missing(Network);
    SYS_signalfd4(fd: Fd, mask: Ptr, sizemask: Size, flags: Hex) => Partial(signalfd::signalfd4, "readiness follows the creating process, not the polling thread");
    SYS_eventfd2(initval: Int, flags: Hex) => Full(eventfd::eventfd2);
    SYS_epoll_create1(flags: Hex) => Full(epoll::epoll_create1);
    SYS_dup3(oldfd: Fd, newfd: Fd, flags: Hex) => Full(file::dup3);
    SYS_pipe2(pipefd: Ptr, flags: Hex) => Partial(file::pipe2, "O_DIRECT (packet mode) is accepted but pipes stay byte streams");
    SYS_inotify_init1(flags: Hex) => Missing(Notification);
    SYS_preadv(fd: Fd, iov: Ptr, iovcnt: Int, pos_l: Int, pos_h: Int) => Missing(Files);
    SYS_pwritev(fd: Fd, iov: Ptr, iovcnt: Int, pos_l: Int, pos_h: Int) => Missing(Files);
    SYS_rt_tgsigqueueinfo(tgid: Int, tid: Int, sig: Signal, info: Ptr) => Full(signal::rt_tgsigqueueinfo);
    SYS_perf_event_open(attr: Ptr, pid: Int, cpu: Int, group_fd: Fd, flags: Hex) => Answers(ENODEV, "the sandbox has no performance counters, as a kernel without perf events; gVisor answers the same");
    SYS_recvmmsg(sockfd: Fd, msgvec: Ptr, vlen: Int, flags: Hex, timeout: Ptr) => Missing(Network);
    SYS_fanotify_init(flags: Hex, event_f_flags: Hex) => Missing(Notification);
    SYS_fanotify_mark(fanotify_fd: Fd, flags: Hex, mask: Hex, dirfd: Fd, pathname: Str) => Missing(Notification);
    SYS_prlimit64(pid: Int, resource: Int, new_limit: Ptr, old_limit: Ptr) => Full(rlimit::prlimit64);
    SYS_name_to_handle_at(dirfd: Fd, pathname: Str, handle: Ptr, mount_id: Ptr, flags: Hex) => Answers(EOPNOTSUPP, "no filesystem of the sandbox exports file handles");
    SYS_open_by_handle_at(mount_fd: Fd, handle: Ptr, flags: Hex) => Answers(EPERM, "Linux asks CAP_DAC_READ_SEARCH; the sandbox refuses whatever the caller holds: a handle would name a host file");
    SYS_clock_adjtime(clk_id: Int, buf: Ptr) => Missing(Clocks);
    SYS_syncfs(fd: Fd) => Full(attr::syncfs);
    SYS_sendmmsg(sockfd: Fd, msgvec: Ptr, vlen: Int, flags: Hex) => Missing(Network);
    SYS_setns(fd: Fd, nstype: Hex) => Missing(Namespaces);
    SYS_getcpu(cpu: Ptr, node: Ptr, tcache: Ptr) => Full(sched::getcpu);
    SYS_process_vm_readv(pid: Int, local_iov: Ptr, liovcnt: Int, remote_iov: Ptr, riovcnt: Int, flags: Hex) => Full(ptrace::process_vm_readv);
    SYS_process_vm_writev(pid: Int, local_iov: Ptr, liovcnt: Int, remote_iov: Ptr, riovcnt: Int, flags: Hex) => Full(ptrace::process_vm_writev);
    SYS_kcmp(pid1: Int, pid2: Int, kind: Int, idx1: Int, idx2: Int) => Missing(Processes);
    SYS_finit_module(fd: Fd, param_values: Str, flags: Hex) => Answers(EPERM, "Linux asks CAP_SYS_MODULE; the sandbox refuses whatever the caller holds, as it loads no kernel modules");
    SYS_sched_setattr(pid: Int, attr: Ptr, flags: Hex) => Missing(Scheduling);
    SYS_sched_getattr(pid: Int, attr: Ptr, size: Size, flags: Hex) => Missing(Scheduling);
    SYS_renameat2(olddirfd: Fd, oldpath: Str, newdirfd: Fd, newpath: Str, flags: Hex) => Partial(names::renameat2, "RENAME_WHITEOUT is EINVAL");
    SYS_seccomp(operation: Int, flags: Hex, args: Ptr) => Partial(seccomp::seccomp, "no user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER and SECCOMP_GET_NOTIF_SIZES answer EINVAL, a USER_NOTIF result ENOSYS); after a TRACE result's PTRACE_EVENT_SECCOMP stop the filters are not run again");
    SYS_getrandom(buf: Ptr, buflen: Size, flags: Hex) => Full(system::getrandom);
    SYS_memfd_create(name: Str, flags: Hex) => Partial(memfd::memfd_create, "MFD_HUGETLB is EINVAL; SEEK_HOLE finds no holes; F_SEAL_WRITE is EBUSY while any shared mapping exists");
    SYS_kexec_file_load(kernel_fd: Fd, initrd_fd: Fd, cmdline_len: Size, cmdline: Str, flags: Hex) => Answers(EPERM, "Linux asks CAP_SYS_BOOT; the sandbox refuses whatever the caller holds, as it loads no other kernel");
    SYS_bpf(cmd: Int, attr: Ptr, size: Size) => Answers(EPERM, "Linux asks CAP_BPF or CAP_SYS_ADMIN; the sandbox refuses whatever the caller holds, as it runs no eBPF programs");
    SYS_execveat(dirfd: Fd, pathname: Str, argv: Ptr, envp: Ptr, flags: Hex) => Full(clone::execveat);
    SYS_userfaultfd(flags: Hex) => Answers(EPERM, "vm.unprivileged_userfaultfd is 0 and a container's processes do not hold CAP_SYS_PTRACE");
    SYS_membarrier(cmd: Hex, flags: Hex, cpu_id: Int) => Missing(Memory);
    SYS_mlock2(addr: Ptr, len: Size, flags: Hex) => Missing(Memory);
    SYS_copy_file_range(fd_in: Fd, off_in: Ptr, fd_out: Fd, off_out: Ptr, len: Size, flags: Hex) => Full(transfer::copy_file_range);
    SYS_preadv2(fd: Fd, iov: Ptr, iovcnt: Int, pos_l: Int, pos_h: Int, flags: Hex) => Missing(Files);
    SYS_pwritev2(fd: Fd, iov: Ptr, iovcnt: Int, pos_l: Int, pos_h: Int, flags: Hex) => Missing(Files);
    SYS_pkey_mprotect(addr: Ptr, len: Size, prot: Hex, pkey: Int) => Missing(Memory);
    SYS_pkey_alloc(flags: Hex, access_rights: Hex) => Missing(Memory);
    SYS_pkey_free(pkey: Int) => Missing(Memory);
    SYS_statx(dirfd: Fd, pathname: Str, flags: Hex, mask: Hex, statxbuf: Ptr) => Partial(stat::statx, "no birth time (STATX_BTIME); mount ids are zero");
    SYS_io_pgetevents(ctx_id: Hex, min_nr: Int, nr: Int, events: Ptr, timeout: Ptr, usig: Ptr) => Missing(AsyncIo);
    SYS_rseq(rseq: Ptr, rseq_len: Size, flags: Hex, sig: Hex) => Absent("restartable sequences need preemption notice from the platform; C libraries do without them");
    SYS_pidfd_send_signal(pidfd: Fd, sig: Signal, info: Ptr, flags: Hex) => Missing(Processes);
    SYS_io_uring_setup(entries: Int, params: Ptr) => Missing(AsyncIo);
    SYS_io_uring_enter(fd: Fd, to_submit: Int, min_complete: Int, flags: Hex, argp: Ptr, argsz: Size) => Missing(AsyncIo);
    SYS_io_uring_register(fd: Fd, opcode: Int, arg: Ptr, nr_args: Int) => Missing(AsyncIo);
    SYS_open_tree(dfd: Fd, filename: Str, flags: Hex) => Missing(Namespaces);
    SYS_move_mount(from_dfd: Fd, from_pathname: Str, to_dfd: Fd, to_pathname: Str, flags: Hex) => Missing(Namespaces);
    SYS_fsopen(fs_name: Str, flags: Hex) => Missing(Namespaces);
    SYS_fsconfig(fd: Fd, cmd: Int, key: Str, value: Ptr, aux: Int) => Missing(Namespaces);
    SYS_fsmount(fs_fd: Fd, flags: Hex, attr_flags: Hex) => Missing(Namespaces);
    SYS_fspick(dfd: Fd, path: Str, flags: Hex) => Missing(Namespaces);
    SYS_pidfd_open(pid: Int, flags: Hex) => Missing(Processes);
    SYS_clone3(cl_args: Ptr, size: Size) => Partial(clone::clone3, "as clone; set_tid and cgroup are EINVAL");
    SYS_close_range(first: Fd, last: Fd, flags: Hex) => Full(file::close_range);
    SYS_openat2(dirfd: Fd, pathname: Str, how: Ptr, size: Size) => Partial(open::openat2, "RESOLVE_IN_ROOT; RESOLVE_BENEATH refuses absolute paths but clamps `..`; RESOLVE_NO_MAGICLINKS is accepted but /proc's magic links are still followed; RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV are EINVAL");
    SYS_pidfd_getfd(pidfd: Fd, targetfd: Fd, flags: Hex) => Missing(Processes);
    SYS_faccessat2(dirfd: Fd, pathname: Str, mode: Hex, flags: Hex) => Full(stat::faccessat2);
    SYS_process_madvise(pidfd: Fd, iovec: Ptr, vlen: Int, advice: Int, flags: Hex) => Missing(Processes);
    SYS_epoll_pwait2(epfd: Fd, events: Ptr, maxevents: Int, timeout: Ptr, sigmask: Ptr, sigsetsize: Size) => Partial(epoll::epoll_pwait2, "host files (stdio) are polled every 10 ms while waiting");
    SYS_mount_setattr(dirfd: Fd, pathname: Str, flags: Hex, attr: Ptr, size: Size) => Missing(Namespaces);
    SYS_quotactl_fd(fd: Fd, cmd: Int, id: Int, addr: Ptr) => Absent("no filesystem of the sandbox keeps disk quotas");
    SYS_landlock_create_ruleset(attr: Ptr, size: Size, flags: Hex) => Answers(EOPNOTSUPP, "Landlock is off inside the sandbox, as on a kernel booted without it");
    SYS_landlock_add_rule(ruleset_fd: Fd, rule_type: Int, rule_attr: Ptr, flags: Hex) => Answers(EOPNOTSUPP, "Landlock is off inside the sandbox, as on a kernel booted without it");
    SYS_landlock_restrict_self(ruleset_fd: Fd, flags: Hex) => Answers(EOPNOTSUPP, "Landlock is off inside the sandbox, as on a kernel booted without it");
    SYS_memfd_secret(flags: Hex) => Absent("secret memory is off, as in Linux unless booted with secretmem.enable");
    SYS_process_mrelease(pidfd: Fd, flags: Hex) => Missing(Processes);
    SYS_futex_waitv(waiters: Ptr, nr_futexes: Int, flags: Hex, timeout: Ptr, clockid: Int) => Missing(Futexes);
    SYS_set_mempolicy_home_node(start: Ptr, len: Size, home_node: Int, flags: Hex) => Absent("a kernel without NUMA support answers ENOSYS: the sandbox has one memory node");
    SYS_cachestat(fd: Fd, cstat_range: Ptr, cstat: Ptr, flags: Hex) => Missing(Files);
    SYS_fchmodat2(dfd: Fd, filename: Str, mode: Hex, flags: Hex) => Missing(Files);
    SYS_map_shadow_stack(addr: Ptr, size: Size, flags: Hex) => Absent("user shadow stacks are off, as in Linux built without CONFIG_X86_USER_SHADOW_STACK");
    SYS_futex_wake(uaddr: Ptr, mask: Hex, nr: Int, flags: Hex) => Missing(Futexes);
    SYS_futex_wait(uaddr: Ptr, val: Int, mask: Hex, flags: Hex, timeout: Ptr, clockid: Int) => Missing(Futexes);
    SYS_futex_requeue(waiters: Ptr, flags: Hex, nr_wake: Int, nr_requeue: Int) => Missing(Futexes);
    SYS_statmount(req: Ptr, buf: Ptr, bufsize: Size, flags: Hex) => Missing(Namespaces);
    SYS_listmount(req: Ptr, mnt_ids: Ptr, nr_mnt_ids: Int, flags: Hex) => Missing(Namespaces);
    SYS_lsm_get_self_attr(attr: Int, ctx: Ptr, size: Ptr, flags: Hex) => Missing(Privileges);
    SYS_lsm_set_self_attr(attr: Int, ctx: Ptr, size: Size, flags: Hex) => Missing(Privileges);
    SYS_lsm_list_modules(ids: Ptr, size: Ptr, flags: Hex) => Missing(Privileges);
    SYS_mseal(start: Ptr, len: Size, flags: Hex) => Missing(Memory);
    SYS_setxattrat(dfd: Fd, pathname: Str, at_flags: Hex, name: Str, uargs: Ptr, usize: Size) => Missing(Files);
    SYS_getxattrat(dfd: Fd, pathname: Str, at_flags: Hex, name: Str, uargs: Ptr, usize: Size) => Missing(Files);
    SYS_listxattrat(dfd: Fd, pathname: Str, at_flags: Hex, list: Ptr, size: Size) => Missing(Files);
    SYS_removexattrat(dfd: Fd, pathname: Str, at_flags: Hex, name: Str) => Missing(Files);
    SYS_open_tree_attr(dfd: Fd, filename: Str, flags: Hex, uattr: Ptr, usize: Size) => Missing(Namespaces);
}

/// The table by number.
pub struct SyscallTable {
    by_number: Vec<Option<&'static SyscallEntry>>,
}

pub static TABLE: LazyLock<SyscallTable> = LazyLock::new(|| {
    let index = |entry: &SyscallEntry| usize::try_from(entry.number).expect("system-call numbers are small");
    let size = SYSCALLS.last().map_or(0, |entry| index(entry) + 1);
    let mut by_number = vec![None; size];
    for entry in SYSCALLS {
        by_number[index(entry)] = Some(entry);
    }
    SyscallTable { by_number }
});

impl SyscallTable {
    pub fn get(&self, number: u64) -> Option<&'static SyscallEntry> {
        usize::try_from(number)
            .ok()
            .and_then(|i| self.by_number.get(i).copied().flatten())
    }

    pub fn entries(&self) -> impl Iterator<Item = &'static SyscallEntry> + '_ {
        self.by_number.iter().copied().flatten()
    }

    /// The compatibility document: every call with its support status, as
    /// docs/syscalls.md holds it.
    pub fn compatibility_markdown(&self) -> String {
        let mut out = String::from(
            "# System-call compatibility\n\n\
             Generated from cordon-kernel's system-call table \
             (`UPDATE_SYSCALL_DOC=1 cargo test -p cordon-kernel compatibility_document`).\n\n\
             | number | name | arguments | status | note |\n|---:|---|---|---|---|\n",
        );
        let (mut full, mut partial, mut missing, mut absent, mut answered) = (0, 0, 0, 0, 0);
        for entry in self.entries() {
            let (status, note) = match entry.support {
                Support::Full(_) => {
                    full += 1;
                    ("supported".to_string(), String::new())
                }
                Support::Partial(_, note) => {
                    partial += 1;
                    ("partial".to_string(), note.to_string())
                }
                Support::Missing(area) => {
                    missing += 1;
                    ("ENOSYS".to_string(), format!("not built yet: {}", area.description()))
                }
                Support::Absent(note) => {
                    absent += 1;
                    ("ENOSYS".to_string(), note.to_string())
                }
                Support::Answers(errno, note) => {
                    answered += 1;
                    (crate::abi::errno::name(errno), note.to_string())
                }
            };
            let args: Vec<&str> = entry.args.iter().map(|(name, _)| *name).collect();
            out.push_str(&format!(
                "| {} | {} | {} | {status} | {note} |\n",
                entry.number,
                entry.name,
                args.join(", ")
            ));
        }
        let total = self.entries().count();
        out.push_str(&format!(
            "\n{full} supported, {partial} partial, {missing} not built yet (ENOSYS), {absent} absent as from \
             Linux (ENOSYS), {answered} answered as Linux answers a container (errno in the status column); \
             {total} in all.\n"
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn lines_are_in_number_order_with_unique_names() {
        for pair in SYSCALLS.windows(2) {
            assert!(
                pair[0].number < pair[1].number,
                "{} not before {}",
                pair[0].name,
                pair[1].name
            );
        }
        let mut names = HashSet::new();
        for entry in SYSCALLS {
            assert!(names.insert(entry.name), "{} twice", entry.name);
            assert!(entry.args.len() <= 6, "{} has more than 6 arguments", entry.name);
            let mut args = HashSet::new();
            assert!(
                entry.args.iter().all(|(arg, _)| args.insert(*arg)),
                "{} names an argument twice",
                entry.name
            );
        }
    }

    #[test]
    fn numbers_resolve_to_their_entries() {
        assert_eq!(TABLE.get(0).map(|entry| entry.name), Some("read"));
        assert_eq!(TABLE.get(39).map(|entry| entry.name), Some("getpid"));
        assert!(TABLE.get(39).unwrap().handler().is_some());
        assert_eq!(TABLE.get(231).map(|entry| entry.name), Some("exit_group"));
        assert!(TABLE.get(334).unwrap().handler().is_none(), "rseq is ENOSYS");
        assert_eq!(TABLE.get(435).map(|entry| entry.name), Some("clone3"));
        assert!(TABLE.get(335).is_none(), "335-423 are not x86-64 numbers");
        assert!(TABLE.get(500).is_none());
        assert!(TABLE.get(u64::MAX).is_none());
        assert_eq!(TABLE.entries().count(), SYSCALLS.len());
    }

    /// The numbers of the calls newer than libc, against Linux's table.
    #[test]
    fn numbers_libc_lacks_are_linux_numbers() {
        let name_of = |number: u64| TABLE.get(number).map(|entry| entry.name);
        assert_eq!(name_of(174), Some("create_module"));
        assert_eq!(name_of(333), Some("io_pgetevents"));
        assert_eq!(name_of(451), Some("cachestat"));
        assert_eq!(name_of(462), Some("mseal"));
        assert_eq!(name_of(467), Some("open_tree_attr"));
    }

    /// docs/syscalls.md must match the table; regenerate it with
    /// UPDATE_SYSCALL_DOC=1.
    #[test]
    fn compatibility_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/syscalls.md");
        let generated = TABLE.compatibility_markdown();
        if std::env::var_os("UPDATE_SYSCALL_DOC").is_some() {
            std::fs::write(&path, &generated).expect("write docs/syscalls.md");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/syscalls.md is stale: run UPDATE_SYSCALL_DOC=1 cargo test -p cordon-kernel"
        );
    }
}
