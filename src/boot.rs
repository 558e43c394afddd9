//! `cordon boot`: the sandbox process (DESIGN.md §1), one per sandbox.
//!
//! `create` starts it in the background with two fds: the bound control
//! socket at [`LISTENER_FD`] and the write end of a pipe at [`READY_FD`].
//! It loads the bundle, creates the kernel and the root container (not
//! started), starts the actors and the Controller on that socket, confines
//! itself with its seccomp filter, and then writes [`READY`] on the pipe, or
//! the one-line reason it could not, and closes it. From then on it serves
//! the socket until a `Shutdown` request, and exits.
//!
//! Its own stdio are the container's: the init gets duplicates of fds 0, 1
//! and 2. When the spec asks for a terminal (`process.terminal`), its stdin
//! is that terminal, which becomes all three of the init's: a pty `create`
//! or `run` made (then also this process's controlling terminal, see
//! `crate::terminal`), or the terminal `run` was started in.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;

use cordon_actors::controller::{self, ControllerConfig, SpecResolver, SubcontainerRequest};
use cordon_actors::{ContainerSpec, SandboxConfig, StartError, WatchdogConfig, start_sandbox};
use cordon_kernel::control::KernelControl;
use cordon_kernel::control::handle::{ContainerId, NewProcess, Stdio};
use cordon_kernel::sys::host_filter::{self, HostFilterError};
use cordon_kernel::sys::{fd, process};
use cordon_kernel::{KernelError, RootFs};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::{Pid, dup2_stderr, dup2_stdin, dup2_stdout};
use oci_spec::runtime::Spec;
use tracing::{info, warn};

use crate::bundle::{self, BundleError};
use crate::run::{BootOptions, RunError};

/// The fd the sandbox process finds its bound control socket on.
pub const LISTENER_FD: RawFd = 3;
/// The fd of the pipe it reports its start on.
pub const READY_FD: RawFd = 4;
/// What it writes on that pipe once the container is created.
pub const READY: &str = "ready";

/// Host calls the actor system and the control socket make once the
/// sandbox process is confined, beyond what the kernel itself needs.
const CONTROL_PLANE_CALLS: &[libc::c_long] = &[
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_create1,
    libc::SYS_eventfd2,
    libc::SYS_accept4,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_getsockopt,
    libc::SYS_shutdown,
];

/// How the sandbox's control plane runs: the watchdog and the panic signal.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    pub watchdog: WatchdogConfig,
    pub panic_signal: Option<i32>,
    /// The sandbox process logs to its stderr (no `--log` file), which it
    /// then keeps.
    pub logs_to_stderr: bool,
    /// The process whose end ends the sandbox process (`--die-with`).
    pub die_with: Option<i32>,
}

/// Why the sandbox process could not get the container created.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("the sandbox process was started without its fd {0}; only `cordon create` starts it")]
    MissingFd(RawFd),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("process.terminal is set but the sandbox process's stdin is not a terminal")]
    NoTerminal,
    #[error("cannot watch the process that created the sandbox: {0}")]
    Creator(#[source] std::io::Error),
    #[error("cannot let go of the container's stdio: {0}")]
    Stdio(#[source] std::io::Error),
    #[error("cannot duplicate the root filesystem's fd: {0}")]
    RootFd(#[source] std::io::Error),
    #[error("cannot start the actor system: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Actors(#[from] StartError),
    #[error("cannot serve the control socket: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Seccomp(#[from] HostFilterError),
}

/// Takes over an fd inherited from `create`, marking it close-on-exec.
fn inherited(fd: RawFd) -> Result<OwnedFd, BootError> {
    let owned = fd::take_inherited(fd).map_err(|_| BootError::MissingFd(fd))?;
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|_| BootError::MissingFd(fd))?;
    Ok(owned)
}

/// The init's terminal: a duplicate of this process's stdin, which must be
/// one.
fn terminal_stdin() -> Result<OwnedFd, BootError> {
    let stdin = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| RunError::Stdio {
            stream: "standard input",
            source,
        })?;
    match crate::terminal::is_terminal(&stdin) {
        true => Ok(stdin),
        false => Err(BootError::NoTerminal),
    }
}

/// Ends this process when process `creator` ends: a thread waits on a
/// pidfd of it (poll, which the seccomp filter allows) and exits the whole
/// process, which ends the application too (its stubs are traced with
/// PTRACE_O_EXITKILL). Fails if `creator` is already gone.
fn die_with(creator: i32) -> std::io::Result<()> {
    let pidfd = process::pidfd_open(Pid::from_raw(creator))?;
    std::thread::Builder::new()
        .name("creator-watch".into())
        .spawn(move || {
            let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            while !matches!(poll(&mut fds, PollTimeout::NONE), Ok(ready) if ready > 0) {}
            warn!(
                creator,
                "the process that created the sandbox has ended; so does the sandbox"
            );
            // At once: nothing of this process is left to be cleaned up, and
            // its other threads are still running.
            process::exit_immediately(1)
        })?;
    Ok(())
}

/// Points this process's fds 0 and 1, and 2 unless it logs there, at
/// /dev/null: the init has its own copies of the container's stdio, and a
/// reader of the container's output (a pipe, a console) sees its end when
/// the container's processes are gone, not when the sandbox process is.
fn release_stdio(logs_to_stderr: bool) -> std::io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    // Each replaces the standard fd atomically; nothing holds those as an
    // OwnedFd (std's stdio handles borrow the numbers).
    dup2_stdin(&null)?;
    dup2_stdout(&null)?;
    if !logs_to_stderr {
        dup2_stderr(&null)?;
    }
    Ok(())
}

/// Runs the sandbox process of container `id` from the bundle in `bundle`.
/// Returns the status it exits with.
pub fn boot(bundle: &Path, id: &str, options: BootOptions, control: ControlOptions) -> u8 {
    // A panic reaches the log too, which is all there is once stderr is
    // /dev/null (with --log).
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(%info, "the sandbox process panicked");
        report(info);
    }));
    let mut ready = match inherited(READY_FD) {
        Ok(fd) => Some(File::from(fd)),
        Err(err) => {
            eprintln!("cordon: {err}");
            return 1;
        }
    };
    match serve(bundle, id, options, control, &mut ready) {
        Ok(()) => 0,
        Err(err) => {
            // `create` prints the reason; nobody else would see it.
            if let Some(mut pipe) = ready {
                let _ = pipe.write_all(err.to_string().as_bytes());
            }
            1
        }
    }
}

fn serve(
    bundle: &Path,
    id: &str,
    options: BootOptions,
    control: ControlOptions,
    ready: &mut Option<File>,
) -> Result<(), BootError> {
    let listener = UnixListener::from(inherited(LISTENER_FD)?);
    if let Some(creator) = control.die_with {
        die_with(creator).map_err(BootError::Creator)?;
    }
    let mut config = bundle::load(bundle)?;
    config.root.overlay = options.overlay;
    let overlay = options.overlay;
    let stdio = match config.terminal {
        true => Stdio::Terminal(terminal_stdin()?),
        false => Stdio::Fds(crate::run::inherit_stdio()?),
    };
    release_stdio(control.logs_to_stderr).map_err(BootError::Stdio)?;
    let container_root = RootFs {
        dir: config.root.dir.try_clone().map_err(BootError::RootFd)?,
        readonly: config.root.readonly,
        overlay: config.root.overlay,
        mounts: Vec::new(),
    };
    let kernel = cordon_kernel::new_kernel(options.kernel_config(config.hostname), config.root)?;
    let kernel = Arc::new(KernelControl::new(kernel));
    let sandbox_config = SandboxConfig {
        root: ContainerId(id.to_owned()),
        watchdog: control.watchdog,
        forward_signals: true,
        panic_signal: control.panic_signal,
    };
    let root_spec = ContainerSpec {
        root: container_root,
        init: NewProcess {
            spec: config.process,
            stdio,
        },
    };
    let system = actix::System::new();
    system.block_on(async move {
        let sandbox = start_sandbox(kernel, sandbox_config, root_spec)?;
        controller::serve(
            listener,
            sandbox.clone(),
            ControllerConfig::default(),
            Arc::new(BundleResolver { overlay }),
        )
        .map_err(BootError::Serve)?;
        if options.seccomp {
            host_filter::install_with(CONTROL_PLANE_CALLS)?;
        } else {
            warn!(
                "--disable-seccomp: the sandbox process runs without its seccomp filter; use this for debugging only"
            );
        }
        info!(container = %sandbox.root(), "sandbox ready");
        if let Some(mut pipe) = ready.take() {
            // A creator that went away does not need the news.
            let _ = pipe.write_all(READY.as_bytes());
        }
        sandbox.shut_down().await;
        Ok(())
    })
}

/// Turns `CreateSubcontainer` requests into containers from their OCI spec;
/// a subcontainer's root is under a memory overlay when the sandbox's is.
struct BundleResolver {
    overlay: bool,
}

impl SpecResolver for BundleResolver {
    fn resolve(&self, request: SubcontainerRequest) -> Result<ContainerSpec, String> {
        let spec: Spec =
            serde_json::from_str(&request.spec_json).map_err(|err| format!("the spec is not valid: {err}"))?;
        let process = crate::spec::process_config(&spec).map_err(|err| err.to_string())?;
        let readonly = spec.root().as_ref().and_then(|root| root.readonly()).unwrap_or(false);
        let mounts = crate::mounts::from_spec(spec.mounts().as_deref().unwrap_or_default(), Path::new(&request.bundle))
            .map_err(|err| err.to_string())?;
        Ok(ContainerSpec {
            root: RootFs {
                dir: request.root,
                readonly,
                overlay: self.overlay,
                mounts,
            },
            init: NewProcess {
                spec: process,
                stdio: request.stdio,
            },
        })
    }
}
