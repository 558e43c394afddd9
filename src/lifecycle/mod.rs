//! The runc-compatible life-cycle verbs: each is a client of the sandbox
//! process `create` starts (`cordon boot`), through the control socket in
//! the container's state directory.
//!
//! - [`create`]: the sandbox process and the state directory; returns once
//!   the container is created.
//! - [`run`]: create, start, wait and delete through that same path.
//! - [`manage`]: start, kill, pause, resume, wait, delete.
//! - [`exec`]: a new process in a running container.
//! - [`inspect`]: state, ps, list, events.
//! - [`subcontainer`]: a pod's container, created by its sandbox's process.
//! - [`stdio`] and [`monitor`]: what every create shares, whichever
//!   sandbox process serves the container: its init's stdio, and the
//!   monitor a `--pid-file` names.
//!
//! When the sandbox process is gone, every verb says so at once (a pending
//! request sees its connection close, a new one is refused); `state` then
//! reports the container stopped and `delete` removes what is left.

pub mod create;
pub mod exec;
pub mod inspect;
pub mod manage;
pub mod monitor;
pub mod run;
pub mod stdio;
pub mod subcontainer;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use cordon_actors::ControlError;
use cordon_actors::client::ClientError;
use cordon_actors::protocol::ContainerStatus;
use cordon_kernel::ExitStatus;

use crate::bundle::BundleError;
use crate::signals::UnknownSignal;
use crate::spec::SpecError;
use crate::state::{StateError, StateRoot};
use crate::terminal::TerminalError;
use crate::users::UserError;

/// What every verb needs from the global flags.
#[derive(Debug, Clone)]
pub struct Globals {
    pub root: StateRoot,
    /// The `cordon` executable sandbox processes run (`cordon boot`).
    pub program: PathBuf,
    /// The global flags a sandbox process is started with (logging,
    /// platform, watchdog…), before the `boot` verb.
    pub boot_args: Vec<OsString>,
}

/// Why a life-cycle verb failed; printed as one `cordon: ` line.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("cannot start the sandbox process: {0}")]
    Spawn(#[source] io::Error),
    /// What the sandbox process reported instead of being ready.
    #[error("{0}")]
    Boot(String),
    #[error("the sandbox process exited before the container was created ({0})")]
    BootDied(std::process::ExitStatus),
    #[error("container {id:?} is {status}: stop it first, or delete it with --force")]
    StillRunning { id: String, status: ContainerStatus },
    #[error("container {id:?} is not running: its sandbox process is gone")]
    SandboxGone { id: String },
    #[error("container {id:?} is itself in a pod's sandbox: it cannot hold containers")]
    NotASandbox { id: String },
    /// The sandbox refused or failed the request.
    #[error(transparent)]
    Remote(ControlError),
    #[error("container {id:?}: {source}")]
    Control {
        id: String,
        #[source]
        source: ClientError,
    },
    #[error(transparent)]
    Signal(#[from] UnknownSignal),
    #[error("{what}: {source}")]
    Spec {
        what: String,
        #[source]
        source: SpecError,
    },
    #[error("{}: {message}", path.display())]
    ProcessFile { path: PathBuf, message: String },
    #[error(transparent)]
    User(#[from] UserError),
    #[error("exec needs a command, or a process file given with --process")]
    NoCommand,
    #[error("cannot write to standard output: {0}")]
    Output(#[source] io::Error),
    #[error("cannot give the process a terminal when {command} detaches without --console-socket")]
    TerminalNeedsConsoleSocket { command: &'static str },
    #[error("cannot use --console-socket unless {command} detaches and the process has a terminal")]
    UnusedConsoleSocket { command: &'static str },
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    /// A detached exec with a terminal whose waiting command failed; it
    /// wrote why on the terminal.
    #[error("the detached exec failed (status {code}); its terminal shows why")]
    DetachedExec { code: u8 },
}

impl LifecycleError {
    /// The status `cordon` exits with: what a shell reports for a program
    /// it could not run (127 not found, 126 found but not runnable), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            LifecycleError::Remote(ControlError::StartFailed { errno, .. }) => match *errno {
                libc::ENOENT => 127,
                libc::EIO => 1,
                _ => 126,
            },
            LifecycleError::DetachedExec { code } => *code,
            _ => 1,
        }
    }

    /// A client failure for container `id`: the sandbox's own refusal, or
    /// its disappearance.
    pub fn from_client(id: &str, err: ClientError) -> LifecycleError {
        match err {
            ClientError::Remote(err) => LifecycleError::Remote(err),
            // The socket's mode refuses this user: the sandbox is there.
            ClientError::Connect { ref source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                LifecycleError::Control {
                    id: id.to_owned(),
                    source: err,
                }
            }
            ClientError::Connect { .. } | ClientError::Frame(_) | ClientError::BadHandshake => {
                LifecycleError::SandboxGone { id: id.to_owned() }
            }
            source => LifecycleError::Control {
                id: id.to_owned(),
                source,
            },
        }
    }
}

/// runc's rule for terminals (`checkTerminal` in its utils_linux.go): a
/// command that detaches (`create`, `run --detach`, `exec --detach`)
/// cannot serve a process's terminal itself, so it needs a console socket
/// to send the terminal's master to; a console socket is for that case
/// only.
pub(crate) fn check_console_socket(
    command: &'static str,
    detach: bool,
    terminal: bool,
    console_socket: Option<&std::path::Path>,
) -> Result<(), LifecycleError> {
    match (detach && terminal, console_socket.is_some()) {
        (true, false) => Err(LifecycleError::TerminalNeedsConsoleSocket { command }),
        (false, true) => Err(LifecycleError::UnusedConsoleSocket { command }),
        _ => Ok(()),
    }
}

/// The status a shell would show for a process that ended with `status`.
pub fn exit_code(status: ExitStatus) -> u8 {
    u8::try_from(status.shell_code()).expect("an exit code or 128 + a signal number fits a byte")
}
