//! Embedding a sandbox in a Rust program: [`Sandbox`].
//!
//! A sandbox is a sandbox process (`cordon boot`), started as `cordon
//! create` starts one: the kernel and the actors run there, under its
//! seccomp filter, and this program drives it through its control socket,
//! as the CLI does. A kernel bug is thus contained as well as under `cordon
//! run`, and this program's own system calls are not confined.
//!
//! The `cordon` executable runs that process: [`SandboxBuilder::runtime`]
//! names it; otherwise the `CORDON_BINARY` environment variable does, else
//! a `cordon` beside this program's executable or one directory up (cargo's
//! `target/debug/examples/` and `target/debug/deps/`), else `PATH`. Each
//! sandbox keeps its bundle, state directory and log (`sandbox.log`) in a
//! private directory under the system's temporary directory; dropping the
//! [`Sandbox`] kills what still runs and removes it.
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

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::thread::{self, JoinHandle};

use cordon_actors::ControlError;
use cordon_actors::client::{Client, ClientError};
use cordon_actors::protocol::{ExecProcess, WireSignalTarget};
use cordon_kernel::control::handle::Pid;
use cordon_kernel::{ExitStatus, PlatformKind};
use nix::fcntl::OFlag;
use oci_spec::runtime::Spec;

use crate::bundle::{self, BundleError, CONFIG_FILE};
use crate::lifecycle::create::{self, Tether};
use crate::lifecycle::stdio::BootStdio;
use crate::lifecycle::{Globals, LifecycleError};
use crate::state::{ContainerDir, ContainerRecord, StateRoot};

/// The search path a process gets when the builder is given no environment
/// (runc's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The container's name inside its private state directory.
const CONTAINER: &str = "embedded";

/// The environment variable naming the `cordon` executable.
pub const RUNTIME_ENV: &str = "CORDON_BINARY";

/// Why a sandbox could not be built or driven.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("no root: give one with SandboxBuilder::rootfs or SandboxBuilder::bundle")]
    NoRoot,
    #[error("no command: give one with SandboxBuilder::command")]
    NoCommand,
    #[error(
        "cannot find the cordon executable that runs sandboxes: give it with SandboxBuilder::runtime \
         or {RUNTIME_ENV}, or put it on PATH"
    )]
    NoRuntime,
    #[error("{}: {source}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The sandbox process could not be started, or is gone.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The sandbox refused or failed a request.
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("the sandbox process: {0}")]
    Client(#[source] ClientError),
    #[error("cannot set up the sandbox's files or stdio: {0}")]
    Io(#[from] io::Error),
}

impl From<ClientError> for SandboxError {
    fn from(err: ClientError) -> SandboxError {
        match err {
            ClientError::Remote(err) => SandboxError::Control(err),
            err => SandboxError::Client(err),
        }
    }
}

/// Where the init's fds 0, 1 and 2 come from.
#[derive(Debug)]
pub enum SandboxStdio {
    /// This process's fds 0, 1 and 2.
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
    runtime: Option<PathBuf>,
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
    /// host root (default yes); without it a plain rootfs is read-only and
    /// a bundle's `root.readonly` decides.
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

    /// The `cordon` executable that runs the sandbox process (default:
    /// found as the [module](self) documentation says).
    pub fn runtime(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime = Some(path.into());
        self
    }

    /// Starts the sandbox process, with the init created but not started.
    pub fn build(self) -> Result<Sandbox, SandboxError> {
        let program = match &self.runtime {
            Some(path) => path.clone(),
            None => find_runtime().ok_or(SandboxError::NoRuntime)?,
        };
        let spec = self.spec()?;
        let scratch = Scratch::new()?;
        let bundle_dir = scratch.path.join("bundle");
        std::fs::create_dir(&bundle_dir)?;
        let text = serde_json::to_string_pretty(&spec).map_err(io::Error::other)?;
        std::fs::write(bundle_dir.join(CONFIG_FILE), text)?;
        let loaded = bundle::open(&bundle_dir)?;
        let globals = Globals {
            root: StateRoot::new(scratch.path.join("state")),
            program,
            boot_args: self.boot_args(&scratch.path),
        };
        let (stdio, pipes) = match self.stdio {
            SandboxStdio::Inherit => (BootStdio::Inherit, None),
            SandboxStdio::Null => (BootStdio::Fds([dev_null()?, dev_null()?, dev_null()?]), None),
            SandboxStdio::Fds(fds) => (BootStdio::Fds(fds), None),
            SandboxStdio::Piped => {
                let (stdout_read, stdout_write) = pipe()?;
                let (stderr_read, stderr_write) = pipe()?;
                (
                    BootStdio::Fds([dev_null()?, stdout_write, stderr_write]),
                    Some((stdout_read, stderr_read)),
                )
            }
        };
        // It ends with this program (not with the thread that built it, as
        // a death signal would), or when dropped.
        let created = create::create_sandbox(
            &globals,
            CONTAINER,
            &bundle_dir,
            loaded,
            None,
            Tether::DiesWithProcess,
            stdio,
        )?;
        Ok(Sandbox {
            dir: Some(created.dir),
            record: created.record,
            process: Mutex::new(created.sandbox),
            init_output: Mutex::new(pipes.map(|(stdout, stderr)| (read_to_end(stdout), read_to_end(stderr)))),
            _scratch: scratch,
        })
    }

    /// The flags `cordon` gets before `boot`: the platform, pinning, the
    /// overlay, and a log file in the sandbox's private directory (its
    /// stderr is the init's).
    fn boot_args(&self, scratch: &Path) -> Vec<OsString> {
        vec![
            "--log".into(),
            scratch.join("sandbox.log").into(),
            "--platform".into(),
            self.platform.to_string().into(),
            "--pin-cpu".into(),
            self.pin_cpu.to_string().into(),
            "--overlay".into(),
            if self.overlay { "memory" } else { "none" }.into(),
        ]
    }

    /// The config.json of the sandbox's bundle: the given bundle's, with
    /// its root and bind sources made absolute, or runc's default around a
    /// plain rootfs; then the builder's process settings over it.
    fn spec(&self) -> Result<Spec, SandboxError> {
        let mut spec = match self.root.as_ref().ok_or(SandboxError::NoRoot)? {
            Root::Rootfs(path) => {
                let path = std::fs::canonicalize(path).map_err(|source| SandboxError::Root {
                    path: path.clone(),
                    source,
                })?;
                let mut spec = crate::spec::default_spec();
                let mut root = spec.root().clone().unwrap_or_default();
                root.set_path(path);
                root.set_readonly(Some(!self.overlay));
                spec.set_root(Some(root));
                let mut process = spec.process().clone().unwrap_or_default();
                process.set_args(None);
                process.set_env(Some(vec![DEFAULT_PATH.to_owned()]));
                process.set_terminal(Some(false));
                spec.set_process(Some(process));
                spec
            }
            Root::Bundle(dir) => absolute_bundle_spec(dir)?,
        };
        let mut process = spec.process().clone().unwrap_or_default();
        if let Some(argv) = &self.command {
            process.set_args(Some(argv.clone()));
        }
        if let Some(env) = &self.env {
            process.set_env(Some(env.clone()));
        }
        if let Some(cwd) = &self.cwd {
            process.set_cwd(cwd.into());
        }
        if process.args().as_ref().is_none_or(Vec::is_empty) {
            return Err(SandboxError::NoCommand);
        }
        // The sandbox's stdio are fds, never a terminal.
        process.set_terminal(Some(false));
        spec.set_process(Some(process));
        if let Some(hostname) = &self.hostname {
            spec.set_hostname(Some(hostname.clone()));
        }
        Ok(spec)
    }
}

/// The spec of the bundle in `dir`, with `root.path` and relative bind
/// sources made absolute, so that it can be written elsewhere.
fn absolute_bundle_spec(dir: &Path) -> Result<Spec, SandboxError> {
    let dir = std::fs::canonicalize(dir).map_err(|_| BundleError::Missing(dir.to_owned()))?;
    let loaded = bundle::open(&dir)?;
    let mut spec = loaded.spec;
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path(std::fs::canonicalize(&loaded.rootfs).unwrap_or(loaded.rootfs));
    spec.set_root(Some(root));
    if let Some(mounts) = spec.mounts().clone() {
        let mounts = mounts
            .into_iter()
            .map(|mut mount| {
                let is_bind = mount.typ().as_deref() == Some("bind")
                    || mount
                        .options()
                        .as_ref()
                        .is_some_and(|options| options.iter().any(|o| o == "bind" || o == "rbind"));
                if let (true, Some(source)) = (is_bind, mount.source().clone()) {
                    mount.set_source(Some(dir.join(source)));
                }
                mount
            })
            .collect();
        spec.set_mounts(Some(mounts));
    }
    Ok(spec)
}

/// The `cordon` executable, when no builder option names it: see the
/// [module](self) documentation.
fn find_runtime() -> Option<PathBuf> {
    let is_file = |path: &Path| path.is_file();
    if let Some(path) = std::env::var_os(RUNTIME_ENV) {
        return Some(PathBuf::from(path));
    }
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?.to_owned();
        [dir.join("cordon"), dir.parent()?.join("cordon")]
            .into_iter()
            .find(|path| is_file(path))
    });
    beside.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("cordon"))
            .find(|path| is_file(path))
    })
}

/// A private directory for one sandbox's bundle, state and log; removed
/// when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new directory (mode 0700, a name nobody had) under the system's
    /// temporary directory.
    fn new() -> io::Result<Scratch> {
        let path = nix::unistd::mkdtemp(&std::env::temp_dir().join("cordon-sandbox-XXXXXX"))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A running sandbox: its sandbox process and its one container. See the
/// [module](self) documentation.
pub struct Sandbox {
    /// The container's state directory; taken when the sandbox is dropped.
    dir: Option<ContainerDir>,
    record: ContainerRecord,
    /// The sandbox process, a child of this process.
    process: Mutex<Child>,
    init_output: Mutex<Option<(OutputReader, OutputReader)>>,
    /// Held for its removal, after the fields above are dropped: the state
    /// directory is in it.
    _scratch: Scratch,
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
            runtime: None,
        }
    }

    /// The sandbox process's pid on the host.
    pub fn process_id(&self) -> u32 {
        self.process.lock().expect("sandbox process poisoned").id()
    }

    /// A connection to the sandbox process.
    fn client(&self) -> Result<Client, SandboxError> {
        let dir = self.dir.as_ref().expect("the state directory lives until drop");
        Ok(dir.connect()?)
    }

    /// Starts the init; returns its pid in the sandbox (1).
    pub fn start(&self) -> Result<Pid, SandboxError> {
        Ok(self.client()?.start_root()?)
    }

    /// Runs `argv` in the running sandbox as root in `/`, with runc's
    /// PATH, and returns how it ended and what it wrote.
    pub fn exec<I, S>(&self, argv: I) -> Result<Output, SandboxError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let process = ExecProcess {
            argv: argv.into_iter().map(Into::into).collect(),
            env: vec![DEFAULT_PATH.to_owned()],
            cwd: "/".to_owned(),
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            capabilities: None,
            no_new_privileges: false,
            terminal: false,
        };
        let null = dev_null()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        // The readers start first: a process writing more than a pipe holds
        // must not wait for us.
        let (stdout, stderr) = (read_to_end(stdout_read), read_to_end(stderr_read));
        let mut client = self.client()?;
        let stdio = [null.as_fd(), stdout_write.as_fd(), stderr_write.as_fd()];
        let pid = client.exec(CONTAINER, process, &stdio);
        // Only the process holds the write ends now: its end is the readers'.
        drop((null, stdout_write, stderr_write));
        let status = client.wait_pid(CONTAINER, pid?, true)?;
        Ok(Output {
            status,
            stdout: joined(stdout)?,
            stderr: joined(stderr)?,
        })
    }

    /// Sends `signal` to the init, as `cordon kill` does.
    pub fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        let mut client = self.client()?;
        let init = client.state(CONTAINER)?.pid.unwrap_or(1);
        Ok(client.signal(CONTAINER, WireSignalTarget::Process(init), signal)?)
    }

    /// Sends `signal` to every process of the sandbox.
    pub fn signal_all(&self, signal: i32) -> Result<(), SandboxError> {
        Ok(self
            .client()?
            .signal(CONTAINER, WireSignalTarget::AllProcesses, signal)?)
    }

    /// Waits for the init to exit. Every caller gets the same status, also
    /// after the exit.
    pub fn wait(&self) -> Result<ExitStatus, SandboxError> {
        Ok(self.client()?.wait(CONTAINER)?)
    }

    /// Waits for the init and collects what it wrote, with
    /// [`SandboxStdio::Piped`] (empty otherwise).
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
    /// Shuts the sandbox process down (killing what still runs) and waits
    /// for it, then removes its private directory.
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let process = self.process.get_mut().expect("sandbox process poisoned");
            if let Err(err) = create::destroy(dir, &self.record, Some(process)) {
                tracing::debug!(error = %err, "sandbox shutdown");
            }
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
    use super::*;

    #[test]
    fn a_root_a_command_and_a_runtime_are_needed() {
        let runtime = || Sandbox::builder().runtime("/bin/true");
        assert!(matches!(runtime().build(), Err(SandboxError::NoRoot)));
        assert!(matches!(runtime().rootfs("/").build(), Err(SandboxError::NoCommand)));
        assert!(matches!(
            runtime().rootfs("/nonexistent/root").command(["x"]).build(),
            Err(SandboxError::Root { .. })
        ));
        assert!(matches!(
            runtime().bundle("/nonexistent/bundle").command(["x"]).build(),
            Err(SandboxError::Bundle(BundleError::Missing(_)))
        ));
        let missing = Sandbox::builder()
            .runtime("/nonexistent/cordon")
            .rootfs("/")
            .command(["/bin/true"])
            .stdio(SandboxStdio::Null)
            .build();
        assert!(
            matches!(missing, Err(SandboxError::Lifecycle(LifecycleError::Spawn(_)))),
            "{:?}",
            missing.err()
        );
    }

    #[test]
    fn a_bundle_spec_gets_absolute_paths() {
        let dir = std::env::temp_dir().join(format!("cordon-sandbox-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).expect("rootfs");
        std::fs::create_dir_all(dir.join("data")).expect("data");
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": { "args": ["/bin/true"], "cwd": "/", "user": { "uid": 0, "gid": 0 } },
            "root": { "path": "rootfs" },
            "mounts": [
                { "destination": "/data", "type": "bind", "source": "data", "options": ["rbind"] },
                { "destination": "/proc", "type": "proc", "source": "proc" },
            ],
        });
        std::fs::write(dir.join("config.json"), config.to_string()).expect("config.json");
        let spec = absolute_bundle_spec(&dir).expect("the bundle loads");
        let dir = std::fs::canonicalize(&dir).expect("canonical");
        assert_eq!(
            spec.root().as_ref().map(|root| root.path().clone()),
            Some(dir.join("rootfs"))
        );
        let sources: Vec<_> = spec
            .mounts()
            .as_ref()
            .expect("mounts")
            .iter()
            .map(|mount| mount.source().clone())
            .collect();
        assert_eq!(sources, [Some(dir.join("data")), Some(PathBuf::from("proc"))]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
