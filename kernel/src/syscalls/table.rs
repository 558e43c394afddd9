//! The table itself: which numbers have handlers, and how well they work.

use std::sync::LazyLock;

use super::args::Arg;
use super::numbers::SYSCALLS;
use super::{
    Handler, attr, clone, credentials, epoll, eventfd, file, futex, io, lock, memfd, memory, names, open, path, poll,
    process, rlimit, sched, signal, signalfd, stat, system, time, timer, timerfd, transfer,
};

/// How completely a system call is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Full,
    /// Works for the cases the note names; the rest return an errno.
    Partial(&'static str),
    /// Always ENOSYS, for the reason given.
    Unimplemented(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct SyscallEntry {
    pub number: u64,
    pub name: &'static str,
    pub args: &'static [Arg],
    pub support: Support,
    pub handler: Option<Handler>,
}

impl SyscallEntry {
    /// Whether a successful call never returns to the caller.
    pub fn ends_task(&self) -> bool {
        matches!(self.name, "exit" | "exit_group")
    }
}

/// Every x86-64 system call, indexed by number.
pub struct SyscallTable {
    entries: Vec<Option<SyscallEntry>>,
}

pub static TABLE: LazyLock<SyscallTable> = LazyLock::new(SyscallTable::build);

impl SyscallTable {
    fn build() -> Self {
        let size = SYSCALLS.last().map_or(0, |&(number, _, _)| number as usize + 1);
        let mut entries = vec![None; size];
        for &(number, name, args) in SYSCALLS {
            let (support, handler) = match implementation(name) {
                Some((support, handler)) => (support, Some(handler)),
                None => (Support::Unimplemented(unimplemented_reason(name)), None),
            };
            entries[number as usize] = Some(SyscallEntry {
                number: u64::from(number),
                name,
                args,
                support,
                handler,
            });
        }
        SyscallTable { entries }
    }

    pub fn get(&self, number: u64) -> Option<&SyscallEntry> {
        usize::try_from(number)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(Option::as_ref)
    }

    pub fn entries(&self) -> impl Iterator<Item = &SyscallEntry> {
        self.entries.iter().flatten()
    }

    /// The compatibility document: every call with its support status, as
    /// docs/syscalls.md holds it.
    pub fn compatibility_markdown(&self) -> String {
        let mut out = String::from(
            "# System-call compatibility\n\n\
             Generated from cordon-kernel's system-call table \
             (`UPDATE_SYSCALL_DOC=1 cargo test -p cordon-kernel compatibility_document`).\n\n\
             | number | name | status | note |\n|---:|---|---|---|\n",
        );
        let (mut full, mut partial) = (0, 0);
        for entry in self.entries() {
            let (status, note) = match entry.support {
                Support::Full => {
                    full += 1;
                    ("supported", "")
                }
                Support::Partial(note) => {
                    partial += 1;
                    ("partial", note)
                }
                Support::Unimplemented(note) => ("ENOSYS", note),
            };
            out.push_str(&format!("| {} | {} | {status} | {note} |\n", entry.number, entry.name));
        }
        let total = self.entries().count();
        out.push_str(&format!(
            "\n{full} supported, {partial} partial, {} ENOSYS of {total}.\n",
            total - full - partial
        ));
        out
    }
}

/// The handler and support status of each implemented call, by name.
fn implementation(name: &str) -> Option<(Support, Handler)> {
    use Support::{Full, Partial};
    let found: (Support, Handler) = match name {
        // I/O on open files.
        "read" => (Full, io::read),
        "write" => (Full, io::write),
        "readv" => (Full, io::readv),
        "writev" => (Full, io::writev),
        "pread64" => (Full, io::pread64),
        "pwrite64" => (Full, io::pwrite64),
        // The fd table and file queries.
        "close" => (Full, file::close),
        "dup" => (Full, file::dup),
        "dup2" => (Full, file::dup2),
        "dup3" => (Full, file::dup3),
        "fcntl" => (
            Partial(
                "F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETPIPE_SZ, F_SETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS; others ENOSYS",
            ),
            file::fcntl,
        ),
        "pipe" => (Full, file::pipe),
        "lseek" => (Full, file::lseek),
        "poll" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            poll::poll,
        ),
        "ppoll" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            poll::ppoll,
        ),
        "select" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            poll::select,
        ),
        "pselect6" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            poll::pselect6,
        ),
        "pipe2" => (
            Partial("O_DIRECT (packet mode) is accepted but pipes stay byte streams"),
            file::pipe2,
        ),
        "ioctl" => (
            Partial(
                "FIOCLEX, FIONCLEX, FIONBIO; terminals: TCGETS/TCSETS(W/F) and their termios2 forms, \
                 TIOCGWINSZ/TIOCSWINSZ, FIONREAD/TIOCINQ, TIOCOUTQ, TCFLSH, TCSBRK(P), TIOCGETD, \
                 TIOCGPGRP/TIOCSPGRP, TIOCGSID, TIOCSCTTY, TIOCNOTTY; pty masters: TIOCGPTN, \
                 TIOCSPTLCK/TIOCGPTLCK, TIOCGPTPEER. Host terminals forward TCGETS/TCSETS* and \
                 TIOCGWINSZ only. No TIOCSTI, TIOCPKT, TCXONC, TIOCEXCL or TIOCCONS",
            ),
            file::ioctl,
        ),
        "close_range" => (Full, file::close_range),
        "sendfile" => (Full, transfer::sendfile),
        "copy_file_range" => (Full, transfer::copy_file_range),
        "splice" => (
            Partial("copies through a kernel buffer; SPLICE_F_NONBLOCK is not acted on"),
            transfer::splice,
        ),
        "fadvise64" => (Full, transfer::fadvise64),
        "flock" => (
            Partial("regular files and directories; devices, FIFOs, pipes and sockets are EINVAL"),
            lock::flock,
        ),
        // Opening and asking about files.
        "open" => (Partial("FIFOs and sockets opened by path answer ENXIO"), open::open),
        "openat" => (Partial("FIFOs and sockets opened by path answer ENXIO"), open::openat),
        "openat2" => (
            Partial(
                "RESOLVE_IN_ROOT; RESOLVE_BENEATH refuses absolute paths but clamps `..`; RESOLVE_NO_MAGICLINKS is accepted but /proc's magic links are still followed; RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV are EINVAL",
            ),
            open::openat2,
        ),
        "creat" => (Full, open::creat),
        "stat" => (Full, stat::stat),
        "lstat" => (Full, stat::lstat),
        "fstat" => (Full, stat::fstat),
        "newfstatat" => (Full, stat::newfstatat),
        "statx" => (Partial("no birth time (STATX_BTIME); mount ids are zero"), stat::statx),
        "statfs" => (Full, stat::statfs),
        "fstatfs" => (Full, stat::fstatfs),
        "access" => (Full, stat::access),
        "faccessat" => (Full, stat::faccessat),
        "faccessat2" => (Full, stat::faccessat2),
        // Directory entries.
        "getdents64" => (Full, names::getdents64),
        "mkdir" => (Full, names::mkdir),
        "mkdirat" => (Full, names::mkdirat),
        "mknod" => (
            Partial("regular files, FIFOs and (root) character devices; block devices and sockets are EPERM"),
            names::mknod,
        ),
        "mknodat" => (
            Partial("regular files, FIFOs and (root) character devices; block devices and sockets are EPERM"),
            names::mknodat,
        ),
        "rmdir" => (Full, names::rmdir),
        "unlink" => (Full, names::unlink),
        "unlinkat" => (Full, names::unlinkat),
        "rename" => (Full, names::rename),
        "renameat" => (Full, names::renameat),
        "renameat2" => (Partial("RENAME_WHITEOUT is EINVAL"), names::renameat2),
        "link" => (Full, names::link),
        "linkat" => (Full, names::linkat),
        "symlink" => (Full, names::symlink),
        "symlinkat" => (Full, names::symlinkat),
        // Paths.
        "getcwd" => (Full, path::getcwd),
        "chdir" => (Full, path::chdir),
        "fchdir" => (Full, path::fchdir),
        "chroot" => (Full, path::chroot),
        "readlink" => (Full, path::readlink),
        "readlinkat" => (Full, path::readlinkat),
        // Changing files.
        "chmod" => (Full, attr::chmod),
        "fchmod" => (Full, attr::fchmod),
        "fchmodat" => (Full, attr::fchmodat),
        "chown" => (Full, attr::chown),
        "fchown" => (Full, attr::fchown),
        "lchown" => (Full, attr::lchown),
        "fchownat" => (Full, attr::fchownat),
        "utimensat" => (Full, attr::utimensat),
        "utimes" => (Full, attr::utimes),
        "futimesat" => (Full, attr::futimesat),
        "utime" => (Full, attr::utime),
        "truncate" => (Full, attr::truncate),
        "ftruncate" => (Full, attr::ftruncate),
        "fallocate" => (
            Partial("mode 0, FALLOC_FL_KEEP_SIZE and FALLOC_FL_PUNCH_HOLE; other modes are EOPNOTSUPP"),
            attr::fallocate,
        ),
        "fsync" => (Full, attr::fsync),
        "fdatasync" => (Full, attr::fdatasync),
        "sync" => (Full, attr::sync),
        "syncfs" => (Full, attr::syncfs),
        "getxattr" => (
            Partial("tmpfs and the overlay hold user., trusted. and security. names; host files say ENOTSUP"),
            attr::getxattr,
        ),
        "lgetxattr" => (Partial("as getxattr"), attr::lgetxattr),
        "fgetxattr" => (Partial("as getxattr"), attr::fgetxattr),
        "setxattr" => (Partial("as getxattr"), attr::setxattr),
        "lsetxattr" => (Partial("as getxattr"), attr::lsetxattr),
        "fsetxattr" => (Partial("as getxattr"), attr::fsetxattr),
        "listxattr" => (Partial("as getxattr"), attr::listxattr),
        "llistxattr" => (Partial("as getxattr"), attr::llistxattr),
        "flistxattr" => (Partial("as getxattr"), attr::flistxattr),
        "removexattr" => (Partial("as getxattr"), attr::removexattr),
        "lremovexattr" => (Partial("as getxattr"), attr::lremovexattr),
        "fremovexattr" => (Partial("as getxattr"), attr::fremovexattr),
        // Readiness and anonymous files.
        "epoll_create" => (Full, epoll::epoll_create),
        "epoll_create1" => (Full, epoll::epoll_create1),
        "epoll_ctl" => (
            Partial(
                "EPOLLEXCLUSIVE is accepted and wakes every waiter; EPOLLWAKEUP is ignored; nesting depth is counted below the target only",
            ),
            epoll::epoll_ctl,
        ),
        "epoll_wait" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            epoll::epoll_wait,
        ),
        "epoll_pwait" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            epoll::epoll_pwait,
        ),
        "epoll_pwait2" => (
            Partial("host files (stdio) are polled every 10 ms while waiting"),
            epoll::epoll_pwait2,
        ),
        "eventfd" => (Full, eventfd::eventfd),
        "eventfd2" => (Full, eventfd::eventfd2),
        "timerfd_create" => (
            Partial("the _ALARM clocks are EPERM; absolute times are fixed on CLOCK_MONOTONIC when set"),
            timerfd::timerfd_create,
        ),
        "timerfd_settime" => (
            Partial("TFD_TIMER_CANCEL_ON_SET is accepted; reads never end with ECANCELED"),
            timerfd::timerfd_settime,
        ),
        "timerfd_gettime" => (Full, timerfd::timerfd_gettime),
        "signalfd" => (
            Partial("readiness follows the creating process, not the polling thread"),
            signalfd::signalfd,
        ),
        "signalfd4" => (
            Partial("readiness follows the creating process, not the polling thread"),
            signalfd::signalfd4,
        ),
        "memfd_create" => (
            Partial(
                "MFD_HUGETLB is EINVAL; SEEK_HOLE finds no holes; F_SEAL_WRITE is EBUSY while any shared mapping exists",
            ),
            memfd::memfd_create,
        ),
        // Memory.
        "brk" => (Full, memory::brk),
        "mmap" => (
            Partial(
                "MAP_PRIVATE file mappings copy the file at mmap time (later writes to the file are not seen); MAP_SHARED needs a tmpfs, overlay or memfd file (host files are copied up); pages past the end read as zero, no SIGBUS",
            ),
            memory::mmap,
        ),
        "msync" => (Full, memory::msync),
        "mincore" => (Partial("every mapped page reads as resident"), memory::mincore),
        "munmap" => (Full, memory::munmap),
        "mprotect" => (Full, memory::mprotect),
        "mremap" => (
            Partial("old_len 0 (duplicating a shared mapping) is EINVAL"),
            memory::mremap,
        ),
        "madvise" => (
            Partial("DONTNEED and FREE discard private pages; other advice is accepted as a hint"),
            memory::madvise,
        ),
        // The process and its thread.
        "exit" => (Full, process::exit),
        "futex" => (
            Partial("PI operations (LOCK_PI, UNLOCK_PI, …) are ENOSYS"),
            futex::futex,
        ),
        "fork" => (Full, clone::fork),
        "vfork" => (Full, clone::vfork),
        "clone" => (
            Partial("namespace flags are EPERM; CLONE_SIGHAND without CLONE_THREAD is ENOSYS"),
            clone::clone,
        ),
        "clone3" => (Partial("as clone; set_tid and cgroup are EINVAL"), clone::clone3),
        "execve" => (Full, clone::execve),
        "execveat" => (Full, clone::execveat),
        "wait4" => (Full, clone::wait4),
        "waitid" => (Partial("rusage is zero"), clone::waitid),
        "getpgid" => (Full, process::getpgid),
        "getpgrp" => (Full, process::getpgrp),
        "setpgid" => (Full, process::setpgid),
        "getsid" => (Full, process::getsid),
        "setsid" => (Full, process::setsid),
        "prctl" => (
            Partial(
                "PR_SET/GET_NAME, PR_SET/GET_PDEATHSIG (on the parent process's exit), PR_SET/GET_CHILD_SUBREAPER, PR_SET/GET_NO_NEW_PRIVS, PR_GET_DUMPABLE",
            ),
            process::prctl,
        ),
        "exit_group" => (Full, process::exit_group),
        "getpid" => (Full, process::getpid),
        "gettid" => (Full, process::gettid),
        "getppid" => (Full, process::getppid),
        "set_tid_address" => (Full, process::set_tid_address),
        "set_robust_list" => (Full, process::set_robust_list),
        "get_robust_list" => (
            Partial("the calling thread's list only; others are EPERM"),
            process::get_robust_list,
        ),
        "arch_prctl" => (
            Partial("ARCH_SET_FS, ARCH_GET_FS, ARCH_SET_GS, ARCH_GET_GS"),
            process::arch_prctl,
        ),
        "umask" => (Full, process::umask),
        // Credentials.
        "getuid" => (Full, credentials::getuid),
        "geteuid" => (Full, credentials::geteuid),
        "getgid" => (Full, credentials::getgid),
        "getegid" => (Full, credentials::getegid),
        "getgroups" => (Full, credentials::getgroups),
        // Time.
        "clock_gettime" => (Full, time::clock_gettime),
        "clock_getres" => (Full, time::clock_getres),
        "gettimeofday" => (Full, time::gettimeofday),
        "time" => (Full, time::time),
        "nanosleep" => (Full, time::nanosleep),
        "clock_nanosleep" => (Full, time::clock_nanosleep),
        "restart_syscall" => (Full, time::restart_syscall),
        // The system.
        "uname" => (Full, system::uname),
        "getrandom" => (Full, system::getrandom),
        "sched_yield" => (Full, system::sched_yield),
        "sched_getaffinity" => (Full, sched::sched_getaffinity),
        "sched_setaffinity" => (
            Partial("accepted, not applied: the host schedules task threads"),
            sched::sched_setaffinity,
        ),
        "getcpu" => (Full, sched::getcpu),
        "sched_getscheduler" => (Full, sched::sched_getscheduler),
        "sched_getparam" => (Full, sched::sched_getparam),
        "sched_get_priority_max" => (Full, sched::sched_get_priority),
        "sched_get_priority_min" => (Full, sched::sched_get_priority),
        "alarm" => (Full, timer::alarm),
        "timer_create" => (
            Partial("CPU-time clocks are ENOTSUP; SIGEV_THREAD is the C library's"),
            timer::timer_create,
        ),
        "timer_settime" => (
            Partial("overruns count expiries missed while the timer thread was late"),
            timer::timer_settime,
        ),
        "timer_gettime" => (Full, timer::timer_gettime),
        "timer_getoverrun" => (
            Partial("overruns count expiries missed while the timer thread was late"),
            timer::timer_getoverrun,
        ),
        "timer_delete" => (Full, timer::timer_delete),
        "getitimer" => (
            Partial("ITIMER_VIRTUAL and ITIMER_PROF both count the process's CPU time, checked every 10 ms"),
            timer::getitimer,
        ),
        "setitimer" => (
            Partial("ITIMER_VIRTUAL and ITIMER_PROF both count the process's CPU time, checked every 10 ms"),
            timer::setitimer,
        ),
        "times" => (Partial("system time reads as zero"), time::times),
        "getrusage" => (Partial("CPU time only"), time::getrusage),
        "sysinfo" => (Partial("load averages are zero"), system::sysinfo),
        // Resource limits.
        "prlimit64" => (Full, rlimit::prlimit64),
        "getrlimit" => (Full, rlimit::getrlimit),
        "setrlimit" => (Full, rlimit::setrlimit),
        // Signals.
        "rt_sigaction" => (Full, signal::rt_sigaction),
        "rt_sigprocmask" => (Full, signal::rt_sigprocmask),
        "rt_sigpending" => (Full, signal::rt_sigpending),
        "rt_sigsuspend" => (Full, signal::rt_sigsuspend),
        "rt_sigtimedwait" => (Full, signal::rt_sigtimedwait),
        "rt_sigreturn" => (Full, signal::rt_sigreturn),
        "sigaltstack" => (
            Partial("SS_AUTODISARM is accepted and not acted on"),
            signal::sigaltstack,
        ),
        "pause" => (Full, signal::pause),
        "kill" => (Full, signal::kill),
        "rt_sigqueueinfo" => (Full, signal::rt_sigqueueinfo),
        "rt_tgsigqueueinfo" => (Full, signal::rt_tgsigqueueinfo),
        "tkill" => (Full, signal::tkill),
        "tgkill" => (Full, signal::tgkill),
        _ => return None,
    };
    Some(found)
}

/// Why a call is not implemented, for the table and the once-per-call log.
fn unimplemented_reason(name: &str) -> &'static str {
    match name {
        "rseq" => "restartable sequences need preemption notice from the platform",
        "inotify_init" | "inotify_init1" | "inotify_add_watch" | "inotify_rm_watch" | "fanotify_init"
        | "fanotify_mark" => "file change notification is not implemented yet",
        "tee" => "duplicating pipe contents without consuming them is not implemented",
        "mq_open" | "mq_unlink" | "mq_timedsend" | "mq_timedreceive" | "mq_notify" | "mq_getsetattr" => {
            "POSIX message queues are not implemented (the spec's mqueue mount is skipped)"
        }
        "open_by_handle_at" | "name_to_handle_at" => "file handles would name host files: refused",
        _ => "not implemented",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_name_exists_in_the_number_list() {
        let names: Vec<&str> = SYSCALLS.iter().map(|&(_, name, _)| name).collect();
        let implemented = TABLE.entries().filter(|entry| entry.handler.is_some()).count();
        let expected = names.iter().filter(|name| implementation(name).is_some()).count();
        assert_eq!(implemented, expected);
        assert!(implemented >= 50, "only {implemented} handlers");
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

    #[test]
    fn numbers_resolve_to_their_entries() {
        assert_eq!(TABLE.get(39).map(|entry| entry.name), Some("getpid"));
        assert!(TABLE.get(39).unwrap().handler.is_some());
        assert!(TABLE.get(334).unwrap().handler.is_none(), "rseq is ENOSYS");
        assert!(TABLE.get(500).is_none());
        assert!(TABLE.get(u64::MAX).is_none());
    }
}
