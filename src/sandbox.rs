//! Embedding a sandbox in a Rust program: [`Sandbox`].
//!
//! The kernel and the actors run inside the calling process (the actors on
//! a thread of their own); no `cordon` binary and no control socket are
//! involved. The calling process is not put under the sandbox process's
//! seccomp filter, which would confine the whole program: application code
//! still never reaches the host, but a kernel bug would be less contained
//! than in `cordon run`.
//!
//! ```
//! use cordon::{Sandbox, SandboxStdio};
//!
//! # fn main() -> Result<(), cordon::SandboxError> {
//! // The host's root, under a memory overlay: the sandbox's writes stay in
//! // the sandbox.
//! let sandbox = Sandbox::builder()
//!     .rootfs("/")
//!     .command(["/bin/sleep", "60"])
//!     .stdio(SandboxStdio::Null)
//!     .build()?;
//! assert_eq!(sandbox.start()?, 1);
//!
//! let output = sandbox.exec(["/bin/echo", "embedded"])?;
//! assert_eq!(output.stdout, b"embedded\n");
//! assert_eq!(output.status, cordon::ExitStatus::Exited(0));
//!
//! sandbox.signal(9)?; // SIGKILL
//! assert_eq!(sandbox.wait()?, cordon::ExitStatus::Signaled(9));
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};

use cordon_actors::{ContainerSpec, ControlError, SandboxConfig, SandboxHandle, StartError, start_sandbox};
use cordon_kernel::control::KernelControl;
use cordon_kernel::handle::{ContainerId, NewProcess, Pid, SignalTarget, Stdio};
use cordon_kernel::limits::ResourceLimits;
use cordon_kernel::{ExitStatus, Kernel, KernelConfig, KernelError, PlatformKind, ProcessSpec, RootFs};
use nix::fcntl::OFlag;

use crate::bundle::{self, BundleError};
use crate::config::{self, RootError};
use crate::spec::DEFAULT_HOSTNAME;

/// The search path a process gets when the builder is given no environment
/// (runc's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a sandbox could not be built or driven.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("no root: give one with SandboxBuilder::rootfs or SandboxBuilder::bundle")]
    NoRoot,
    #[error("no command: give one with SandboxBuilder::command")]
    NoCommand,
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Start(#[from] StartError),
    /// The sandbox refused or failed a request.
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("cannot set up the sandbox's stdio or threads: {0}")]
    Io(#[from] io::Error),
}

/// Where the init's fds 0, 1 and 2 come from.
#[derive(Debug)]
pub enum SandboxStdio {
    /// Duplicates of this process's fds 0, 1 and 2.
    Inherit,
    /// /dev/null.
    Null,
    /// Pipes; [`Sandbox::wait_with_output`] collects what the init writes.
    Piped,
    /// These three fds.
    Fds([OwnedFd; 3]),
}

/// How a process the sandbox ran ended, and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What the sandbox's root is.
#[derive(Debug, Clone)]
enum Root {
    /// A directory.
    Rootfs(PathBuf),
    /// An OCI bundle: its root and its process.
    Bundle(PathBuf),
}

/// Builds a [`Sandbox`]. See the [module](self) documentation.
#[derive(Debug)]
pub struct SandboxBuilder {
    root: Option<Root>,
    command: Option<Vec<String>>,
    env: Option<Vec<String>>,
    cwd: Option<String>,
    hostname: Option<String>,
    platform: PlatformKind,
    overlay: bool,
    pin_cpu: bool,
    stdio: SandboxStdio,
}

impl SandboxBuilder {
    /// The root filesystem: a directory on the host (`/` is fine).
    pub fn rootfs(mut self, path: impl Into<PathBuf>) -> Self {
        self.root = Some(Root::Rootfs(path.into()));
        self
    }

    /// An OCI bundle: its root filesystem, and its process as the init
    /// unless [`Self::command`] and the like say otherwise.
    pub fn bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.root = Some(Root::Bundle(path.into()));
        self
    }

    /// The init's argv; `argv[0]` is the program, looked up in `PATH` when
    /// it has no slash.
    pub fn command<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// The init's environment, `KEY=VALUE` strings (default: runc's PATH).
    pub fn env<I, S>(mut self, env: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.env = Some(env.into_iter().map(Into::into).collect());
        self
    }

    /// The init's working directory (default `/`).
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// The hostname applications see (default `cordon`).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// What executes application code (default ptrace, the only one built).
    pub fn platform(mut self, platform: PlatformKind) -> Self {
        self.platform = platform;
        self
    }

    /// Whether application writes are kept in sandbox memory, off the
    /// host root (default yes); without it a plain rootfs is written
    /// through and a bundle's `root.readonly` decides.
    pub fn overlay(mut self, overlay: bool) -> Self {
        self.overlay = overlay;
        self
    }

    /// Pin each application thread and the kernel thread serving it to one
    /// CPU (default yes).
    pub fn pin_cpu(mut self, pin_cpu: bool) -> Self {
        self.pin_cpu = pin_cpu;
        self
    }

    /// The init's stdio (default: this process's).
    pub fn stdio(mut self, stdio: SandboxStdio) -> Self {
        self.stdio = stdio;
        self
    }

    /// Creates the kernel and the control plane, with the init created but
    /// not started.
    pub fn build(self) -> Result<Sandbox, SandboxError> {
        let (root, process, hostname) = self.describe()?;
        let (stdio, pipes) = match self.stdio {
            SandboxStdio::Inherit => (crate::run::inherit_stdio().map_err(io::Error::other)?, None),
            SandboxStdio::Null => ([dev_null()?, dev_null()?, dev_null()?], None),
            SandboxStdio::Fds(fds) => (fds, None),
            SandboxStdio::Piped => {
                let (stdout_read, stdout_write) = pipe()?;
                let (stderr_read, stderr_write) = pipe()?;
                (
                    [dev_null()?, stdout_write, stderr_write],
                    Some((stdout_read, stderr_read)),
                )
            }
        };
        let container_root = RootFs {
            dir: root.dir.try_clone()?,
            readonly: root.readonly,
            overlay: root.overlay,
            mounts: Vec::new(),
        };
        let kernel = Kernel::new(
            KernelConfig {
                hostname,
                platform: self.platform,
                pin_cpu: self.pin_cpu,
                strace: false,
            },
            root,
        )?;
        let id = ContainerId("embedded".to_owned());
        let config = SandboxConfig {
            root: id.clone(),
            watchdog: Default::default(),
            // Signals to this program are its own business.
            forward_signals: false,
            panic_signal: None,
        };
        let spec = ContainerSpec {
            root: container_root,
            init: NewProcess {
                spec: process,
                stdio: Stdio::Fds(stdio),
            },
        };
        let (handle, actors) = run_actors(Arc::new(KernelControl::new(kernel)), config, spec)?;
        Ok(Sandbox {
            handle,
            id,
            actors: Some(actors),
            init_output: Mutex::new(pipes.map(|(stdout, stderr)| (read_to_end(stdout), read_to_end(stderr)))),
        })
    }

    /// The root to open, the init to run and the hostname.
    fn describe(&self) -> Result<(RootFs, ProcessSpec, String), SandboxError> {
        let (root, mut process, hostname) = match self.root.as_ref().ok_or(SandboxError::NoRoot)? {
            Root::Rootfs(path) => {
                let process = ProcessSpec {
                    argv: Vec::new(),
                    env: vec![DEFAULT_PATH.to_owned()],
                    cwd: "/".to_owned(),
                    credentials: Default::default(),
                    rlimits: ResourceLimits::default(),
                    umask: ProcessSpec::DEFAULT_UMASK,
                };
                let mut root = config::open_root(path, !self.overlay)?;
                root.overlay = self.overlay;
                root.mounts = crate::host::system_mounts();
                (root, process, DEFAULT_HOSTNAME.to_owned())
            }
            Root::Bundle(path) => {
                let mut config = bundle::load(path)?;
                config.root.overlay = self.overlay;
                (config.root, config.process, config.hostname)
            }
        };
        if let Some(argv) = &self.command {
            process.argv.clone_from(argv);
        }
        if let Some(env) = &self.env {
            process.env.clone_from(env);
        }
        if let Some(cwd) = &self.cwd {
            process.cwd.clone_from(cwd);
        }
        if process.argv.is_empty() {
            return Err(SandboxError::NoCommand);
        }
        Ok((root, process, self.hostname.clone().unwrap_or(hostname)))
    }
}

/// A sandbox running in this process: a kernel of its own and the actors
/// driving it, with one container. Dropping it kills everything in it.
pub struct Sandbox {
    handle: SandboxHandle,
    id: ContainerId,
    /// The thread the actors run on; it ends once they are shut down.
    actors: Option<JoinHandle<()>>,
    /// Readers of the init's stdout and stderr, with [`SandboxStdio::Piped`].
    init_output: Mutex<Option<(OutputReader, OutputReader)>>,
}

type OutputReader = JoinHandle<io::Result<Vec<u8>>>;

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            root: None,
            command: None,
            env: None,
            cwd: None,
            hostname: None,
            platform: PlatformKind::Ptrace,
            overlay: true,
            pin_cpu: true,
            stdio: SandboxStdio::Inherit,
        }
    }

    /// Starts the init; returns its pid (1) once its program is loaded.
    pub fn start(&self) -> Result<Pid, SandboxError> {
        Ok(block_on(self.handle.start(&self.id))?)
    }

    /// Runs `argv` in the running sandbox with /dev/null as stdin, and waits
    /// for it; returns its status and what it wrote.
    pub fn exec<I, S>(&self, argv: I) -> Result<Output, SandboxError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let process = NewProcess {
            spec: ProcessSpec {
                argv: argv.into_iter().map(Into::into).collect(),
                env: vec![DEFAULT_PATH.to_owned()],
                cwd: "/".to_owned(),
                credentials: Default::default(),
                rlimits: ResourceLimits::default(),
                umask: ProcessSpec::DEFAULT_UMASK,
            },
            stdio: Stdio::Fds([dev_null()?, stdout_write, stderr_write]),
        };
        // The readers start first: a process writing more than a pipe holds
        // must not wait for us.
        let (stdout, stderr) = (read_to_end(stdout_read), read_to_end(stderr_read));
        let pid = block_on(self.handle.exec(&self.id, process))?;
        let status = block_on(self.handle.wait_pid(&self.id, pid, true))?;
        Ok(Output {
            status,
            stdout: joined(stdout)?,
            stderr: joined(stderr)?,
        })
    }

    /// Sends `signal` to the init, as `kill` from outside the sandbox does:
    /// the init gets only the signals it handles, and SIGKILL.
    pub fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        let init = block_on(self.handle.state(&self.id))?.pid.unwrap_or(1);
        Ok(block_on(self.handle.signal(
            &self.id,
            SignalTarget::Process(init),
            signal,
        ))?)
    }

    /// Sends `signal` to every process of the sandbox.
    pub fn signal_all(&self, signal: i32) -> Result<(), SandboxError> {
        Ok(block_on(self.handle.signal(
            &self.id,
            SignalTarget::AllProcesses,
            signal,
        ))?)
    }

    /// Waits for the init to exit; every call gets the same status.
    pub fn wait(&self) -> Result<ExitStatus, SandboxError> {
        Ok(block_on(self.handle.wait(&self.id))?)
    }

    /// Waits for the init, and with [`SandboxStdio::Piped`] collects what it
    /// wrote (empty otherwise).
    ///
    /// ```
    /// use cordon::{ExitStatus, Sandbox, SandboxStdio};
    ///
    /// let sandbox = Sandbox::builder()
    ///     .rootfs("/")
    ///     .command(["/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"])
    ///     .stdio(SandboxStdio::Piped)
    ///     .build()?;
    /// sandbox.start()?;
    /// let output = sandbox.wait_with_output()?;
    /// assert_eq!(output.status, ExitStatus::Exited(3));
    /// assert_eq!((&output.stdout[..], &output.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// # Ok::<(), cordon::SandboxError>(())
    /// ```
    pub fn wait_with_output(&self) -> Result<Output, SandboxError> {
        let status = self.wait()?;
        let readers = self.init_output.lock().expect("output readers poisoned").take();
        let (stdout, stderr) = match readers {
            Some((stdout, stderr)) => (joined(stdout)?, joined(stderr)?),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Output { status, stdout, stderr })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Kills whatever still runs; the actors then end their thread.
        if let Err(err) = block_on(self.handle.shutdown()) {
            tracing::debug!(error = %err, "sandbox shutdown");
        }
        if let Some(actors) = self.actors.take() {
            let _ = actors.join();
        }
    }
}

/// Starts the actors on a thread of their own; returns their handle once
/// the root container is created.
fn run_actors(
    kernel: Arc<KernelControl>,
    config: SandboxConfig,
    spec: ContainerSpec,
) -> Result<(SandboxHandle, JoinHandle<()>), SandboxError> {
    let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
    let thread = thread::Builder::new().name("cordon-actors".into()).spawn(move || {
        let system = actix::System::new();
        system.block_on(async move {
            match start_sandbox(kernel, config, spec) {
                Ok(handle) => {
                    let _ = started_tx.send(Ok(handle.clone()));
                    handle.shut_down().await;
                }
                Err(err) => {
                    let _ = started_tx.send(Err(err));
                }
            }
        });
    })?;
    match started_rx.recv() {
        Ok(Ok(handle)) => Ok((handle, thread)),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(err.into())
        }
        Err(_) => {
            let _ = thread.join();
            Err(SandboxError::Io(io::Error::other(
                "the actor thread ended before the sandbox started",
            )))
        }
    }
}

/// Runs `future` to completion on the calling thread. The sandbox's futures
/// only wait for the actors' replies, which arrive from their own thread.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

fn dev_null() -> io::Result<OwnedFd> {
    Ok(std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into())
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Reads `fd` to its end on a thread of its own.
fn read_to_end(fd: OwnedFd) -> OutputReader {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut bytes)?;
        Ok(bytes)
    })
}

fn joined(reader: OutputReader) -> io::Result<Vec<u8>> {
    reader
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("an output reader panicked")))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_root_and_a_command_are_needed() {
        assert!(matches!(Sandbox::builder().build(), Err(SandboxError::NoRoot)));
        assert!(matches!(
            Sandbox::builder().rootfs("/").build(),
            Err(SandboxError::NoCommand)
        ));
        assert!(matches!(
            Sandbox::builder().rootfs("/nonexistent/root").command(["x"]).build(),
            Err(SandboxError::Root(RootError::Missing(_)))
        ));
    }

    #[test]
    fn a_missing_program_fails_to_start() {
        let sandbox = Sandbox::builder()
            .rootfs("/")
            .command(["/nonexistent/program"])
            .stdio(SandboxStdio::Null)
            .build()
            .expect("built");
        match sandbox.start() {
            Err(SandboxError::Control(ControlError::StartFailed { errno, .. })) => assert_eq!(errno, libc::ENOENT),
            other => panic!("expected a start failure, got {other:?}"),
        }
    }

    #[test]
    fn dropping_a_running_sandbox_ends_it() {
        let sandbox = Sandbox::builder()
            .rootfs("/")
            .command(["/bin/busybox", "sleep", "60"])
            .stdio(SandboxStdio::Null)
            .build()
            .expect("built");
        sandbox.start().expect("started");
        let dropped = Instant::now();
        drop(sandbox);
        assert!(dropped.elapsed() < Duration::from_secs(10), "{:?}", dropped.elapsed());
    }
}
