//! The seccomp filter the sandbox process puts on itself (DESIGN.md §1):
//! only the host system calls the kernel, its platform and the Rust runtime
//! beneath them actually make. Anything else kills the process.
//!
//! Application system calls are not filtered here: they never execute on
//! the host (PTRACE_SYSEMU stops them). This filter bounds what a bug in
//! the kernel could make the host do. Stub processes, forked from the
//! sandbox process, inherit it and then add their own, stricter one.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

#[derive(Debug, thiserror::Error)]
pub enum HostFilterError {
    #[error("cannot build the sandbox seccomp filter: {0}")]
    Build(#[source] seccompiler::BackendError),
    #[error("cannot install the sandbox seccomp filter: {0}")]
    Install(#[source] seccompiler::Error),
}

/// Host calls allowed with any arguments.
const ALLOWED: &[libc::c_long] = &[
    // Memory: the allocator, thread stacks, the memory file.
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_fallocate,
    libc::SYS_lseek,
    libc::SYS_poll,
    libc::SYS_ppoll,
    // Threads and synchronisation.
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_yield,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_tgkill,
    // Stub processes: ptrace, reaping, and the child's own set-up calls.
    libc::SYS_ptrace,
    libc::SYS_wait4,
    libc::SYS_kill,
    libc::SYS_getppid,
    libc::SYS_dup2,
    libc::SYS_close_range,
    libc::SYS_seccomp,
    // Files the kernel owns: stdio, host files it reads for the VFS.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_fcntl,
    libc::SYS_openat2,
    // Host trees under the VFS: directory listings, symlink targets,
    // statfs, duplicating a root fd handed to the kernel; and writes to host
    // trees mounted directly, always relative to fds the kernel holds.
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_fstatfs,
    libc::SYS_dup,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat2,
    // glibc's renameat2() without flags.
    libc::SYS_renameat,
    libc::SYS_symlinkat,
    libc::SYS_linkat,
    libc::SYS_mknodat,
    libc::SYS_fchmodat2,
    libc::SYS_fchownat,
    libc::SYS_fchmod,
    libc::SYS_fchown,
    libc::SYS_geteuid,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    // Answered with ENOENT by the path-open filter stacked beside this one.
    libc::SYS_open,
    libc::SYS_openat,
    // Time and randomness served to the application.
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrandom,
    libc::SYS_sysinfo,
];

fn arg_equals(index: u8, value: u64) -> SeccompRule {
    let condition =
        SeccompCondition::new(index, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value).expect("argument index below 6");
    SeccompRule::new(vec![condition]).expect("one condition")
}

/// Builds the sandbox process's filter.
pub fn build() -> Result<BpfProgram, HostFilterError> {
    build_with(&[])
}

/// Builds the filter, also allowing the host calls in `extra` with any
/// arguments: what the process around the kernel needs (the control
/// plane's event loop and socket).
pub fn build_with(extra: &[libc::c_long]) -> Result<BpfProgram, HostFilterError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED.iter().chain(extra).map(|&nr| (nr, Vec::new())).collect();
    // Terminal queries on the container's stdio, and the settings the
    // application asks for on a host terminal; nothing else.
    rules.insert(
        libc::SYS_ioctl,
        [
            libc::TCGETS,
            libc::TCSETS,
            libc::TCSETSW,
            libc::TCSETSF,
            libc::TIOCGWINSZ,
        ]
        .into_iter()
        .map(|request| arg_equals(1, request))
        .collect(),
    );
    // Thread names, the stubs' death signal and no_new_privs.
    rules.insert(
        libc::SYS_prctl,
        [libc::PR_SET_NAME, libc::PR_SET_PDEATHSIG, libc::PR_SET_NO_NEW_PRIVS]
            .into_iter()
            .map(|option| arg_equals(0, option as u64))
            .collect(),
    );
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        seccompiler::TargetArch::x86_64,
    )
    .map_err(HostFilterError::Build)?;
    filter.try_into().map_err(HostFilterError::Build)
}

/// Opening files by path: glibc's allocator reads a /proc or /sys file now
/// and then (the CPU count, overcommit_memory). Once confined the sandbox
/// process opens nothing by path, so these fail with ENOENT instead of
/// killing it; the allocator copes.
fn path_open_filter() -> Result<BpfProgram, HostFilterError> {
    let rules = [libc::SYS_open, libc::SYS_openat]
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOENT as u32),
        seccompiler::TargetArch::x86_64,
    )
    .map_err(HostFilterError::Build)?;
    filter.try_into().map_err(HostFilterError::Build)
}

/// Installs the filter on every thread of the calling process. There is no
/// way back: call it once the process has set up everything that needs
/// other host calls.
pub fn install() -> Result<(), HostFilterError> {
    install_with(&[])
}

/// Like [`install`], also allowing the host calls in `extra` (see
/// [`build_with`]).
pub fn install_with(extra: &[libc::c_long]) -> Result<(), HostFilterError> {
    let program = build_with(extra)?;
    let path_opens = path_open_filter()?;
    // Stacked filters: the strictest verdict wins, so opens get ENOENT and
    // everything outside the allow list is still killed.
    seccompiler::apply_filter_all_threads(&path_opens).map_err(HostFilterError::Install)?;
    seccompiler::apply_filter_all_threads(&program).map_err(HostFilterError::Install)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_compile() {
        path_open_filter().expect("path-open filter builds");
        let program = build().expect("filter builds");
        assert!(
            program.len() > ALLOWED.len(),
            "every allowed call needs at least one instruction"
        );
    }
}
