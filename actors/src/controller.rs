//! The Controller: serves the control socket (DESIGN §5.2).
//!
//! Connections are served on the actor system's own arbiter thread, each as a
//! task of the Controller actor, with tokio's non-blocking unix sockets: a
//! connection waiting for a request or for a long `Wait` costs no thread, and
//! fd passing (recvmsg with SCM_RIGHTS) runs in the same non-blocking steps as
//! plain reads (see [`crate::protocol::frame`]). A connection-per-thread
//! design would need one thread per pending `wait` client.
//!
//! Each connection: the peer's uid (SO_PEERCRED) must be root or the
//! sandbox's owner; a handshake; then requests, one at a time, each answered
//! before the next is read. A frame that is oversized, malformed or carries
//! too many fds gets an error reply and closes that connection; a truncated
//! one just closes it. Nothing else is affected.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use actix::prelude::*;
use actix_rt::net::{UnixListener, UnixStream};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

use cordon_kernel::ProcessSpec;
use cordon_kernel::abi::limits::ResourceLimits;
use cordon_kernel::control::handle::{ContainerId, NewProcess, Stdio};

use crate::error::ControlError;
use crate::handle::SandboxHandle;
use crate::messages::loader::ContainerSpec;
use crate::protocol::frame::{self, FrameError, FrameReader, FrameWriter};
use crate::protocol::{ANSWER_LEN, ExecProcess, HELLO_LEN, MAGIC, PROTOCOL_VERSION, Reply, Request, Verdict};

/// The limits a control socket is served with.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The uid served besides root: the user who owns the sandbox.
    pub owner_uid: u32,
    /// Connections served at once; more are answered [`Verdict::Busy`].
    pub max_connections: usize,
    /// How long a connection may take to send its hello or its next request.
    pub idle_timeout: Duration,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            owner_uid: nix::unistd::getuid().as_raw(),
            max_connections: 128,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What a `CreateSubcontainer` request carries, for a [`SpecResolver`].
#[derive(Debug)]
pub struct SubcontainerRequest {
    pub id: ContainerId,
    pub bundle: String,
    /// The OCI runtime spec, as JSON text.
    pub spec_json: String,
    /// The container's rootfs directory, opened by the client.
    pub root: OwnedFd,
    pub stdio: Stdio,
}

/// Turns an OCI spec into a container, for `CreateSubcontainer`. The actors
/// know nothing of OCI; the `cordon` binary provides this.
pub trait SpecResolver: Send + Sync + 'static {
    /// The container the request describes, or a one-line reason it cannot
    /// be made.
    fn resolve(&self, request: SubcontainerRequest) -> Result<ContainerSpec, String>;
}

/// Serves `listener` (bound by the caller, who chose its path and mode) on the
/// current actix arbiter until the actor system stops.
pub fn serve(
    listener: std::os::unix::net::UnixListener,
    sandbox: SandboxHandle,
    config: ControllerConfig,
    resolver: Arc<dyn SpecResolver>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    Controller::create(|ctx| {
        ctx.add_stream(Incoming(listener));
        Controller {
            sandbox,
            config,
            resolver,
            connections: 0,
        }
    });
    Ok(())
}

struct Controller {
    sandbox: SandboxHandle,
    config: ControllerConfig,
    resolver: Arc<dyn SpecResolver>,
    /// Connections being served now.
    connections: usize,
}

impl Actor for Controller {
    type Context = Context<Self>;
}

/// The listener as a stream of accepted connections.
struct Incoming(UnixListener);

impl Stream for Incoming {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_accept(cx)
            .map(|accepted| Some(accepted.map(|(stream, _)| stream)))
    }
}

impl StreamHandler<io::Result<UnixStream>> for Controller {
    fn handle(&mut self, accepted: io::Result<UnixStream>, ctx: &mut Context<Self>) {
        let stream = match accepted {
            Ok(stream) => stream,
            Err(err) => {
                // EMFILE and the like: this connection is lost, the listener is not.
                tracing::warn!(error = %err, "cannot accept a control connection");
                return;
            }
        };
        let verdict = self.verdict(&stream);
        let connection = Connection {
            stream,
            sandbox: self.sandbox.clone(),
            resolver: Arc::clone(&self.resolver),
            idle_timeout: self.config.idle_timeout,
        };
        if verdict != Verdict::Accepted {
            ctx.spawn(connection.refuse(verdict).into_actor(self));
            return;
        }
        self.connections += 1;
        ctx.spawn(
            connection
                .serve()
                .into_actor(self)
                .map(|(), controller, _ctx| controller.connections -= 1),
        );
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        tracing::info!("control socket closed");
    }
}

impl Controller {
    fn verdict(&self, stream: &UnixStream) -> Verdict {
        let peer = match getsockopt(stream, PeerCredentials) {
            Ok(peer) => peer,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the peer's credentials");
                return Verdict::PermissionDenied;
            }
        };
        if peer.uid() != 0 && peer.uid() != self.config.owner_uid {
            tracing::warn!(
                uid = peer.uid(),
                pid = peer.pid(),
                "control connection refused: not the owner"
            );
            return Verdict::PermissionDenied;
        }
        if self.connections >= self.config.max_connections {
            tracing::warn!(
                limit = self.config.max_connections,
                "control connection refused: too many"
            );
            return Verdict::Busy;
        }
        Verdict::Accepted
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("no progress for longer than {0:?}")]
    Idle(Duration),
    #[error("not a cordon client (bad magic)")]
    BadMagic,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl From<io::Error> for ConnectionError {
    fn from(err: io::Error) -> ConnectionError {
        ConnectionError::Frame(FrameError::Io(err))
    }
}

struct Connection {
    stream: UnixStream,
    sandbox: SandboxHandle,
    resolver: Arc<dyn SpecResolver>,
    idle_timeout: Duration,
}

impl Connection {
    /// Reads the hello (if it comes in time) and answers `verdict`.
    async fn refuse(mut self, verdict: Verdict) {
        let mut hello = [0; HELLO_LEN];
        if let Ok(Ok(_)) = actix_rt::time::timeout(self.idle_timeout, self.stream.read_exact(&mut hello)).await {
            let _ = self.stream.write_all(&answer(verdict)).await;
        }
    }

    async fn serve(mut self) {
        match self.run().await {
            Ok(()) | Err(ConnectionError::Frame(FrameError::Closed)) => tracing::debug!("control connection closed"),
            Err(err) => tracing::info!(error = %err, "control connection dropped"),
        }
    }

    async fn run(&mut self) -> Result<(), ConnectionError> {
        if !self.handshake().await? {
            return Ok(());
        }
        loop {
            let frame = match self.read_frame().await {
                Ok(frame) => frame,
                Err(ConnectionError::Frame(err @ (FrameError::TooLarge { .. } | FrameError::TooManyFds { .. }))) => {
                    let reply = match &err {
                        FrameError::TooLarge { len, max } => ControlError::FrameTooLarge { len: *len, max: *max },
                        _ => ControlError::Malformed(err.to_string()),
                    };
                    self.write_reply(&Err(reply)).await?;
                    return Err(err.into());
                }
                Err(err) => return Err(err),
            };
            let request: Request = match frame::decode(&frame.payload) {
                Ok(request) => request,
                Err(err) => {
                    self.write_reply(&Err(ControlError::Malformed(err.to_string()))).await?;
                    return Err(err.into());
                }
            };
            let shutdown = request == Request::Shutdown;
            let reply = self.dispatch(request, frame.fds).await;
            self.write_reply(&reply).await?;
            if shutdown {
                return Ok(());
            }
        }
    }

    /// Exchanges hellos; false if the client speaks another version.
    async fn handshake(&mut self) -> Result<bool, ConnectionError> {
        let mut hello = [0; HELLO_LEN];
        actix_rt::time::timeout(self.idle_timeout, self.stream.read_exact(&mut hello))
            .await
            .map_err(|_| ConnectionError::Idle(self.idle_timeout))??;
        if &hello[..MAGIC.len()] != MAGIC {
            return Err(ConnectionError::BadMagic);
        }
        let version = u16::from_le_bytes([hello[MAGIC.len()], hello[MAGIC.len() + 1]]);
        let verdict = if version == PROTOCOL_VERSION {
            Verdict::Accepted
        } else {
            tracing::info!(version, "control client speaks another protocol version");
            Verdict::UnsupportedVersion
        };
        self.stream.write_all(&answer(verdict)).await?;
        Ok(verdict == Verdict::Accepted)
    }

    async fn read_frame(&mut self) -> Result<frame::Frame, ConnectionError> {
        let mut reader = FrameReader::default();
        let socket = self.stream.as_fd();
        let read = async {
            loop {
                let received = self.stream.async_io(Interest::READABLE, || reader.recv(socket)).await?;
                if let Some(frame) = reader.advance(received)? {
                    return Ok::<_, ConnectionError>(frame);
                }
            }
        };
        actix_rt::time::timeout(self.idle_timeout, read)
            .await
            .map_err(|_| ConnectionError::Idle(self.idle_timeout))?
    }

    /// Writes a reply; a client that does not read it within the idle
    /// timeout loses the connection rather than holding a slot.
    async fn write_reply(&mut self, reply: &Result<Reply, ControlError>) -> Result<(), ConnectionError> {
        let encoded = frame::encode(reply)?;
        let mut writer = FrameWriter::new(&encoded, &[]);
        let socket = self.stream.as_fd();
        let write = async {
            while !writer.is_done() {
                self.stream.async_io(Interest::WRITABLE, || writer.send(socket)).await?;
            }
            Ok::<_, ConnectionError>(())
        };
        actix_rt::time::timeout(self.idle_timeout, write)
            .await
            .map_err(|_| ConnectionError::Idle(self.idle_timeout))?
    }

    async fn dispatch(&self, request: Request, fds: Vec<OwnedFd>) -> Result<Reply, ControlError> {
        if fds.len() != request.expected_fds() {
            return Err(ControlError::BadRequest(format!(
                "expected {} fds with the request, got {}",
                request.expected_fds(),
                fds.len()
            )));
        }
        let sandbox = &self.sandbox;
        let root = sandbox.root().clone();
        let subcontainer = |id: String| {
            let id = ContainerId(id);
            match id == root {
                true => Err(ControlError::BadRequest(format!(
                    "{id} is the root container, which lives as long as the sandbox"
                ))),
                false => Ok(id),
            }
        };
        tracing::debug!(?request, "control request");
        match request {
            Request::StartRoot => sandbox.start(&root).await.map(Reply::Pid),
            Request::CreateSubcontainer {
                id,
                bundle,
                spec_json,
                terminal,
            } => {
                let id = subcontainer(id)?;
                let mut fds = fds.into_iter();
                let root_dir = fds.next().expect("the fd count was checked");
                let request = SubcontainerRequest {
                    id: id.clone(),
                    bundle,
                    spec_json,
                    root: root_dir,
                    stdio: stdio(fds.collect(), terminal)?,
                };
                let spec = self.resolver.resolve(request).map_err(ControlError::BadRequest)?;
                sandbox.create(id, spec).await.map(|()| Reply::Done)
            }
            Request::StartSubcontainer { id } => sandbox.start(&subcontainer(id)?).await.map(Reply::Pid),
            Request::DestroySubcontainer { id } => sandbox.delete(&subcontainer(id)?, true).await.map(|()| Reply::Done),
            Request::Exec { id, process } => {
                let process = new_process(process, fds)?;
                sandbox.exec(&ContainerId(id), process).await.map(Reply::Pid)
            }
            Request::Wait { id } => sandbox
                .wait(&ContainerId(id))
                .await
                .map(|status| Reply::Exit(status.into())),
            Request::WaitPid { id, pid, clear } => sandbox
                .wait_pid(&ContainerId(id), pid, clear)
                .await
                .map(|status| Reply::Exit(status.into())),
            Request::Signal { id, target, signal } => sandbox
                .signal(&ContainerId(id), target.into(), signal)
                .await
                .map(|()| Reply::Done),
            Request::Processes { id } => sandbox
                .processes(&ContainerId(id))
                .await
                .map(|processes| Reply::Processes(processes.iter().map(Into::into).collect())),
            Request::Stats { id } => sandbox
                .stats(&ContainerId(id))
                .await
                .map(|usage| Reply::Stats(usage.into())),
            Request::Pause => sandbox.pause().await.map(|()| Reply::Done),
            Request::Resume => sandbox.resume().await.map(|()| Reply::Done),
            Request::State { id } => sandbox.state(&ContainerId(id)).await.map(Reply::State),
            Request::Shutdown => sandbox.shutdown().await.map(|()| Reply::Done),
        }
    }
}

fn answer(verdict: Verdict) -> [u8; ANSWER_LEN] {
    let mut answer = [0; ANSWER_LEN];
    answer[..MAGIC.len()].copy_from_slice(MAGIC);
    answer[MAGIC.len()..HELLO_LEN].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    answer[HELLO_LEN] = verdict as u8;
    answer
}

/// The stdio of a request whose fd count was checked. A terminal must be
/// one: the kernel makes it the process's controlling terminal.
fn stdio(fds: Vec<OwnedFd>, terminal: bool) -> Result<Stdio, ControlError> {
    let mut fds = fds.into_iter();
    let mut next = || fds.next().expect("the fd count was checked");
    match terminal {
        true => {
            let terminal = next();
            match nix::unistd::isatty(&terminal) {
                Ok(true) => Ok(Stdio::Terminal(terminal)),
                _ => Err(ControlError::BadRequest("the terminal fd is not a terminal".to_owned())),
            }
        }
        false => Ok(Stdio::Fds([next(), next(), next()])),
    }
}

fn new_process(process: ExecProcess, fds: Vec<OwnedFd>) -> Result<NewProcess, ControlError> {
    let credentials = process.credentials();
    Ok(NewProcess {
        spec: ProcessSpec {
            argv: process.argv,
            env: process.env,
            cwd: process.cwd,
            credentials,
            rlimits: ResourceLimits::default(),
            umask: ProcessSpec::DEFAULT_UMASK,
            seccomp: Default::default(),
        },
        stdio: stdio(fds, process.terminal)?,
    })
}
