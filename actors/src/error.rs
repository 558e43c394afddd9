//! The one error type every control request can fail with, on the wire and in
//! the typed [`crate::SandboxHandle`] API alike.

use serde::{Deserialize, Serialize};

use cordon_kernel::KernelError;
use cordon_kernel::control::handle::HandleError;

use crate::protocol::ContainerStatus;

/// Why a control request failed. Each message is one lower-case line that
/// names the container or process concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ControlError {
    #[error("container {id:?} not found")]
    NotFound { id: String },
    #[error("container {id:?} already exists")]
    AlreadyExists { id: String },
    #[error("container {id:?} is {status}: cannot {operation}")]
    InvalidState {
        id: String,
        status: ContainerStatus,
        operation: String,
    },
    #[error("no process {pid} in container {id:?}")]
    NoSuchProcess { id: String, pid: i32 },
    /// The program could not be started; `errno` is what execve(2) would
    /// have returned (ENOENT lets the CLI exit 127, EACCES 126).
    #[error("container {id:?}: {message}")]
    StartFailed { id: String, message: String, errno: i32 },
    #[error("container {id:?} was deleted before the process exited")]
    Deleted { id: String },
    #[error("invalid signal number {0}")]
    InvalidSignal(i32),
    /// A well-formed request that cannot be served as sent (wrong number of
    /// fds, an unreadable spec, …).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A frame that does not decode; the connection is closed after it.
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge { len: u64, max: u64 },
    #[error("kernel: {0}")]
    Kernel(String),
    /// Something the sandbox cannot do yet; the text says what.
    #[error("container {id:?}: not supported: {what}")]
    Unsupported { id: String, what: String },
    #[error("the sandbox is shutting down")]
    ShuttingDown,
}

impl ControlError {
    /// Translates a kernel-handle failure for container `id`.
    pub(crate) fn from_handle(id: &str, err: HandleError) -> ControlError {
        match err {
            HandleError::NoSuchContainer(_) => ControlError::NotFound { id: id.to_owned() },
            HandleError::ContainerExists(_) => ControlError::AlreadyExists { id: id.to_owned() },
            HandleError::NoSuchProcess { pid, .. } => ControlError::NoSuchProcess { id: id.to_owned(), pid },
            HandleError::InvalidSignal(signal) => ControlError::InvalidSignal(signal),
            HandleError::Unsupported(what) => ControlError::Unsupported {
                id: id.to_owned(),
                what: what.to_owned(),
            },
            HandleError::Start(source) => {
                let errno = match &source {
                    KernelError::Load(load) => load.errno() as i32,
                    _ => libc::EIO,
                };
                ControlError::StartFailed {
                    id: id.to_owned(),
                    message: source.to_string(),
                    errno,
                }
            }
        }
    }
}
