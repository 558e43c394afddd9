//! Booting a sandbox's kernel in this process and running its first process
//! to the end.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use cordon_kernel::sys::host_filter::{self, HostFilterError};
use cordon_kernel::{ExitStatus, KernelConfig, KernelError, PlatformKind};
use tracing::{debug, warn};

use crate::config::SandboxConfig;

/// How the kernel runs, whatever the sandbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootOptions {
    pub platform: PlatformKind,
    pub pin_cpu: bool,
    pub strace: bool,
    /// Confine cordon itself with its seccomp filter before the application
    /// runs (off only with --disable-seccomp).
    pub seccomp: bool,
    /// Keep the application's writes to the root in sandbox memory
    /// (`--overlay=memory`); else the root directory itself is used.
    pub overlay: bool,
}

impl BootOptions {
    /// The kernel's configuration for a sandbox named `hostname`.
    pub fn kernel_config(&self, hostname: String) -> KernelConfig {
        KernelConfig {
            hostname,
            platform: self.platform,
            pin_cpu: self.pin_cpu,
            strace: self.strace,
        }
    }
}

/// Why a sandbox's first process did not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("failed to duplicate the {stream} of cordon: {source}")]
    Stdio {
        stream: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Seccomp(#[from] HostFilterError),
}

impl RunError {
    /// The status `cordon` exits with: what a shell reports for a command it
    /// could not run (127 not found, 126 found but not runnable), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Kernel(err @ KernelError::Load(_)) if err.is_not_found() => 127,
            RunError::Kernel(KernelError::Load(_)) => 126,
            RunError::Kernel(_) | RunError::Stdio { .. } | RunError::Seccomp(_) => 1,
        }
    }
}

/// Boots a kernel for `config`, runs its first process with cordon's own
/// stdio, and returns how that process ended. On error nothing is left
/// running.
pub fn run(config: SandboxConfig, options: BootOptions) -> Result<ExitStatus, RunError> {
    let stdio = inherit_stdio()?;
    debug!(
        platform = %options.platform,
        pin_cpu = options.pin_cpu,
        strace = options.strace,
        hostname = %config.hostname,
        argv = ?config.process.argv,
        "booting the kernel"
    );
    let kernel = cordon_kernel::new_kernel(options.kernel_config(config.hostname), config.root)?;
    if options.seccomp {
        host_filter::install()?;
    } else {
        warn!("--disable-seccomp: cordon runs without its own seccomp filter; use this for debugging only");
    }
    let init = kernel.start_init(config.process, stdio)?;
    let status = init.wait();
    debug!(?status, "the first process exited");
    Ok(status)
}

/// Duplicates cordon's fds 0, 1 and 2 for the first process. std duplicates
/// with F_DUPFD_CLOEXEC, so no host process cordon starts inherits them.
pub(crate) fn inherit_stdio() -> Result<[OwnedFd; 3], RunError> {
    let dup = |stream, fd: BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map_err(|source| RunError::Stdio { stream, source })
    };
    Ok([
        dup("standard input", io::stdin().as_fd())?,
        dup("standard output", io::stdout().as_fd())?,
        dup("standard error", io::stderr().as_fd())?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn stdio_is_duplicated_above_the_standard_fds() {
        let stdio = inherit_stdio().expect("the test has fds 0, 1 and 2");
        for fd in &stdio {
            assert!(fd.as_raw_fd() > 2);
        }
    }

    #[test]
    fn kernel_failures_other_than_loading_exit_1() {
        assert_eq!(RunError::Kernel(KernelError::TaskVanished).exit_code(), 1);
    }
}
