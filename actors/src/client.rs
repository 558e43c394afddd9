//! A blocking client of the control socket: what the CLI uses.
//!
//! ```no_run
//! use cordon_actors::client::Client;
//!
//! let mut client = Client::connect("/run/cordon/web/control.sock".as_ref())?;
//! let state = client.state("web")?;
//! println!("{} is {}", state.id, state.status);
//! # Ok::<(), cordon_actors::client::ClientError>(())
//! ```

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use cordon_kernel::ExitStatus;

use crate::error::ControlError;
use crate::protocol::frame::{self, FrameError};
use crate::protocol::{
    ANSWER_LEN, ContainerState, ExecProcess, HELLO_LEN, MAGIC, PROTOCOL_VERSION, ProcessEntry, Reply, Request, Verdict,
    WireSignalTarget, WireUsage,
};

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox speaks protocol version {server}, this client {client}")]
    VersionMismatch { server: u16, client: u16 },
    #[error("the sandbox refused the connection: permission denied")]
    PermissionDenied,
    #[error("the sandbox is serving too many connections")]
    Busy,
    #[error("the sandbox answered the handshake with garbage")]
    BadHandshake,
    #[error("lost the connection to the sandbox: {0}")]
    Frame(#[from] FrameError),
    #[error("{0}")]
    Remote(#[from] ControlError),
    #[error("unexpected reply to {request}: {reply:?}")]
    UnexpectedReply { request: &'static str, reply: Reply },
}

/// One connection to a sandbox's control socket.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects and completes the handshake.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let connect_error = |source| ClientError::Connect {
            path: path.to_owned(),
            source,
        };
        let mut stream = UnixStream::connect(path).map_err(connect_error)?;
        let mut hello = [0; HELLO_LEN];
        hello[..MAGIC.len()].copy_from_slice(MAGIC);
        hello[MAGIC.len()..].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        stream.write_all(&hello).map_err(FrameError::Io)?;
        let mut answer = [0; ANSWER_LEN];
        stream.read_exact(&mut answer).map_err(|err| match err.kind() {
            // The server closes without answering only when it cannot serve.
            std::io::ErrorKind::UnexpectedEof => ClientError::BadHandshake,
            _ => FrameError::Io(err).into(),
        })?;
        if &answer[..MAGIC.len()] != MAGIC {
            return Err(ClientError::BadHandshake);
        }
        let server = u16::from_le_bytes([answer[MAGIC.len()], answer[MAGIC.len() + 1]]);
        match Verdict::from_byte(answer[HELLO_LEN]) {
            Some(Verdict::Accepted) => Ok(Client { stream }),
            Some(Verdict::UnsupportedVersion) => Err(ClientError::VersionMismatch {
                server,
                client: PROTOCOL_VERSION,
            }),
            Some(Verdict::PermissionDenied) => Err(ClientError::PermissionDenied),
            Some(Verdict::Busy) => Err(ClientError::Busy),
            None => Err(ClientError::BadHandshake),
        }
    }

    /// Sends `request` with `fds` and returns the reply; a failure the sandbox
    /// reports is [`ClientError::Remote`].
    pub fn call(&mut self, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<Reply, ClientError> {
        let encoded = frame::encode(request)?;
        let fds: Vec<_> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        frame::write_blocking(self.stream.as_fd(), &encoded, &fds)?;
        let reply = frame::read_blocking(self.stream.as_fd())?;
        let reply: Result<Reply, ControlError> = frame::decode(&reply.payload)?;
        Ok(reply?)
    }

    /// The container's status and init pid.
    pub fn state(&mut self, id: &str) -> Result<ContainerState, ClientError> {
        match self.call(&Request::State { id: id.to_owned() }, &[])? {
            Reply::State(state) => Ok(state),
            reply => Err(ClientError::UnexpectedReply {
                request: "state",
                reply,
            }),
        }
    }

    /// Starts a process in a running container with `stdio` (three fds, or
    /// one terminal when `process.terminal`); returns its pid.
    pub fn exec(&mut self, id: &str, process: ExecProcess, stdio: &[BorrowedFd<'_>]) -> Result<i32, ClientError> {
        let request = Request::Exec {
            id: id.to_owned(),
            process,
        };
        self.pid(&request, stdio, "exec")
    }

    /// Starts the root container's init.
    pub fn start_root(&mut self) -> Result<i32, ClientError> {
        self.pid(&Request::StartRoot, &[], "start")
    }

    /// Creates a subcontainer in the running sandbox from its OCI spec
    /// (JSON text); `fds` are its rootfs directory, then three stdio fds or
    /// one terminal when `terminal` is set.
    pub fn create_subcontainer(
        &mut self,
        id: &str,
        bundle: &str,
        spec_json: String,
        terminal: bool,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(), ClientError> {
        let request = Request::CreateSubcontainer {
            id: id.to_owned(),
            bundle: bundle.to_owned(),
            spec_json,
            terminal,
        };
        match self.call(&request, fds)? {
            Reply::Done => Ok(()),
            reply => Err(ClientError::UnexpectedReply {
                request: "create",
                reply,
            }),
        }
    }

    /// Starts a created subcontainer's init.
    pub fn start_subcontainer(&mut self, id: &str) -> Result<i32, ClientError> {
        self.pid(&Request::StartSubcontainer { id: id.to_owned() }, &[], "start")
    }

    /// Kills what runs in a subcontainer and frees what the sandbox held
    /// for it; the sandbox's other containers go on.
    pub fn destroy_subcontainer(&mut self, id: &str) -> Result<(), ClientError> {
        self.done(&Request::DestroySubcontainer { id: id.to_owned() }, "delete")
    }

    /// Waits for the container's init to exit.
    pub fn wait(&mut self, id: &str) -> Result<ExitStatus, ClientError> {
        self.exit(&Request::Wait { id: id.to_owned() }, "wait")
    }

    /// Waits for a process the sandbox started; see [`Request::WaitPid`].
    pub fn wait_pid(&mut self, id: &str, pid: i32, clear: bool) -> Result<ExitStatus, ClientError> {
        let request = Request::WaitPid {
            id: id.to_owned(),
            pid,
            clear,
        };
        self.exit(&request, "waitpid")
    }

    /// Sends a signal into a container.
    pub fn signal(&mut self, id: &str, target: WireSignalTarget, signal: i32) -> Result<(), ClientError> {
        let request = Request::Signal {
            id: id.to_owned(),
            target,
            signal,
        };
        self.done(&request, "signal")
    }

    /// The container's processes.
    pub fn processes(&mut self, id: &str) -> Result<Vec<ProcessEntry>, ClientError> {
        match self.call(&Request::Processes { id: id.to_owned() }, &[])? {
            Reply::Processes(processes) => Ok(processes),
            reply => Err(ClientError::UnexpectedReply { request: "ps", reply }),
        }
    }

    /// What the container's processes use.
    pub fn stats(&mut self, id: &str) -> Result<WireUsage, ClientError> {
        match self.call(&Request::Stats { id: id.to_owned() }, &[])? {
            Reply::Stats(usage) => Ok(usage),
            reply => Err(ClientError::UnexpectedReply {
                request: "stats",
                reply,
            }),
        }
    }

    /// Stops every task of the sandbox.
    pub fn pause(&mut self) -> Result<(), ClientError> {
        self.done(&Request::Pause, "pause")
    }

    /// Lets a paused sandbox run again.
    pub fn resume(&mut self) -> Result<(), ClientError> {
        self.done(&Request::Resume, "resume")
    }

    /// Kills every container and ends the sandbox process; the reply comes
    /// before it exits.
    pub fn shutdown(&mut self) -> Result<(), ClientError> {
        self.done(&Request::Shutdown, "shutdown")
    }

    fn done(&mut self, request: &Request, name: &'static str) -> Result<(), ClientError> {
        match self.call(request, &[])? {
            Reply::Done => Ok(()),
            reply => Err(ClientError::UnexpectedReply { request: name, reply }),
        }
    }

    fn pid(&mut self, request: &Request, fds: &[BorrowedFd<'_>], name: &'static str) -> Result<i32, ClientError> {
        match self.call(request, fds)? {
            Reply::Pid(pid) => Ok(pid),
            reply => Err(ClientError::UnexpectedReply { request: name, reply }),
        }
    }

    fn exit(&mut self, request: &Request, name: &'static str) -> Result<ExitStatus, ClientError> {
        match self.call(request, &[])? {
            Reply::Exit(status) => Ok(status.into()),
            reply => Err(ClientError::UnexpectedReply { request: name, reply }),
        }
    }
}
