//! `create`: a sandbox process for the container, started in the
//! background, and its state directory.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use cordon_kernel::sys::spawn::ChildSetup;
use nix::fcntl::OFlag;
use tracing::{debug, warn};

use super::monitor::start_monitor;
use super::stdio::{BootStdio, InitStdio, console_stdio};
use super::{Globals, LifecycleError};
use crate::boot::{LISTENER_FD, READY, READY_FD};
use crate::bundle::{self, LoadedBundle};
use crate::state::{self, ContainerDir, ContainerRecord, ExecDefaults};

/// How long a sandbox process may take to exit once told to shut down
/// before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A container just created: its state directory, its record, and the
/// sandbox process, a child of this process.
pub struct Created {
    pub dir: ContainerDir,
    pub record: ContainerRecord,
    pub sandbox: Child,
}

/// Whether the sandbox process dies with the command that created it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tether {
    /// It outlives its creator (`create`, `run --detach`).
    Detached,
    /// It is killed if its creator dies (a foreground `run`), so nothing
    /// outlives a killed `cordon run`. (The death signal follows the thread
    /// that created it: for a single-threaded command.)
    DiesWithCreator,
    /// It ends when its creator's process ends, whichever of its threads
    /// created it (an embedding program): it watches a pidfd of that
    /// process (`boot --die-with PID`).
    DiesWithProcess,
}

/// `cordon create`: starts the container's sandbox process in the
/// background, with the container created but not started, and with
/// `pid_file` starts its monitor and writes its pid there (see
/// `monitor::start_monitor`).
pub fn create(
    globals: &Globals,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<(), LifecycleError> {
    // Checked here, so that a bad bundle is reported before anything starts.
    let loaded = bundle::open(bundle)?;
    let stdio = console_stdio("create", loaded.config.terminal, console_socket)?;
    let annotations = loaded.annotations();
    if let Some(sandbox) = super::subcontainer::sandbox_of(&annotations) {
        let sandbox = sandbox.to_owned();
        return super::subcontainer::create(globals, id, bundle, loaded, &sandbox, pid_file, stdio);
    }
    // The sandbox process is reparented when this command exits; it
    // serves the container until `delete`.
    create_sandbox(globals, id, bundle, loaded, pid_file, Tether::Detached, stdio).map(drop)
}

/// Creates the container `id` from `bundle` (`loaded` from it) in a new
/// sandbox process with `stdio`.
pub fn create_sandbox(
    globals: &Globals,
    id: &str,
    bundle: &Path,
    loaded: LoadedBundle,
    pid_file: Option<&Path>,
    tether: Tether,
    stdio: BootStdio,
) -> Result<Created, LifecycleError> {
    let bundle = std::fs::canonicalize(bundle).map_err(|source| crate::state::StateError::Io {
        path: bundle.to_owned(),
        source,
    })?;
    let exec_defaults = ExecDefaults::of(&loaded.config.process);
    let annotations = loaded.annotations();
    let rootfs = std::fs::canonicalize(&loaded.rootfs).unwrap_or(loaded.rootfs);
    drop(loaded.config);

    let dir = globals.root.create(id)?;
    let started = stdio
        .open()
        .and_then(|stdio| start_sandbox_process(globals, &dir, &bundle, tether, stdio));
    let mut sandbox = match started {
        Ok(sandbox) => sandbox,
        Err(err) => {
            let _ = dir.remove();
            return Err(err);
        }
    };
    let pid = i32::try_from(sandbox.id()).expect("pids fit i32");
    let record = ContainerRecord {
        id: id.to_owned(),
        bundle,
        rootfs,
        sandbox_pid: pid,
        // It is alive: it has just said it is ready.
        sandbox_start_time: state::process_start_time(pid).unwrap_or(0),
        created: state::rfc3339(SystemTime::now()),
        owner: owner_name(),
        annotations,
        exec_defaults,
        sandbox_id: None,
        monitor: None,
    };
    let mut record = record;
    let recorded = dir
        .write_record(&record)
        .map_err(LifecycleError::from)
        .and_then(|()| pid_file.map_or(Ok(()), |path| start_monitor(globals, &dir, &mut record, path)));
    if let Err(err) = recorded {
        let _ = sandbox.kill();
        let _ = sandbox.wait();
        let _ = dir.remove();
        return Err(err);
    }
    debug!(container = id, sandbox_pid = pid, "container created");
    Ok(Created { dir, record, sandbox })
}

/// The name of the user running this command, for `list`.
fn owner_name() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

/// Starts `cordon boot` for the container of `dir` and waits until it
/// reports the container created (or why not).
fn start_sandbox_process(
    globals: &Globals,
    dir: &ContainerDir,
    bundle: &Path,
    tether: Tether,
    stdio: InitStdio,
) -> Result<Child, LifecycleError> {
    let listener = dir.bind()?;
    let (ready_read, ready_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|errno| spawn_error(errno.into()))?;
    let fds = BootFds {
        listener: listener.as_fd(),
        ready: ready_write.as_fd(),
        stdio,
    };
    let mut sandbox = spawn_boot(globals, dir.id(), bundle, fds, tether).map_err(spawn_error)?;
    // Only the sandbox process holds these now: its death closes both.
    drop(listener);
    drop(ready_write);
    let mut report = String::new();
    let read = std::fs::File::from(ready_read).read_to_string(&mut report);
    if read.is_ok() && report == READY {
        return Ok(sandbox);
    }
    let status = sandbox.wait().map_err(spawn_error)?;
    match report.is_empty() {
        true => Err(LifecycleError::BootDied(status)),
        false => Err(LifecycleError::Boot(report)),
    }
}

fn spawn_error(err: std::io::Error) -> LifecycleError {
    LifecycleError::Spawn(err)
}

/// The fds a sandbox process starts with.
struct BootFds<'a> {
    listener: BorrowedFd<'a>,
    ready: BorrowedFd<'a>,
    /// Its stdio, which become the init's: a terminal's replica is also
    /// its controlling terminal.
    stdio: InitStdio,
}

/// Spawns `cordon [global flags] boot --bundle B ID` with the listener at
/// fd 3 and the ready pipe at fd 4, in a session of its own (whose
/// controlling terminal is the init's terminal, if this command made it).
fn spawn_boot(globals: &Globals, id: &str, bundle: &Path, fds: BootFds<'_>, tether: Tether) -> std::io::Result<Child> {
    let BootFds { listener, ready, stdio } = fds;
    let mut command = Command::new(&globals.program);
    command.args(&globals.boot_args).arg("boot").arg("--bundle").arg(bundle);
    if tether == Tether::DiesWithProcess {
        command.arg("--die-with").arg(std::process::id().to_string());
    }
    command.arg(id);
    let terminal = match stdio {
        InitStdio::Inherit => false,
        InitStdio::Terminal(replica) => {
            command
                .stdin(replica.try_clone()?)
                .stdout(replica.try_clone()?)
                .stderr(replica);
            true
        }
        InitStdio::Fds([stdin, stdout, stderr]) => {
            command.stdin(stdin).stdout(stdout).stderr(stderr);
            false
        }
    };
    // Out of the caller's session and process group: a terminal's signals
    // go to the caller, which forwards what it must.
    let mut setup = ChildSetup::new()
        .fd(listener, LISTENER_FD)
        .fd(ready, READY_FD)
        .new_session();
    // Its stdin, the pty made for the init, is no session's yet.
    if terminal {
        setup = setup.controlling_terminal();
    }
    if tether == Tether::DiesWithCreator {
        setup = setup.killed_with_parent();
    }
    setup.spawn(command)
}

/// Asks the sandbox process of `dir` to shut down (which kills and deletes
/// the container) and waits for it to exit, killing it if it does not;
/// then removes the state directory.
pub fn destroy(
    dir: ContainerDir,
    record: &ContainerRecord,
    mut child: Option<&mut Child>,
) -> Result<(), LifecycleError> {
    if record.sandbox_alive() {
        match dir.connect().and_then(|mut client| client.shutdown()) {
            Ok(()) => {}
            // Gone meanwhile, or deaf: it is killed below either way.
            Err(err) => debug!(container = dir.id(), error = %err, "shutdown request failed"),
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while !gone(record, child.as_deref_mut()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if !gone(record, child.as_deref_mut()) {
            warn!(
                container = dir.id(),
                pid = record.sandbox_pid,
                "the sandbox process did not shut down; killing it"
            );
            kill_sandbox(record);
            while !gone(record, child.as_deref_mut()) {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
    if let Some(child) = child {
        // Reaped already, or reaped now.
        let _ = child.wait();
    }
    dir.remove().map_err(Into::into)
}

/// Whether the sandbox process has exited; a child of ours is reaped.
fn gone(record: &ContainerRecord, child: Option<&mut Child>) -> bool {
    match child {
        Some(child) => !matches!(child.try_wait(), Ok(None)),
        None => !record.sandbox_alive(),
    }
}

/// SIGKILLs the sandbox process the record names, if it is still that
/// process.
pub fn kill_sandbox(record: &ContainerRecord) {
    if record.sandbox_alive() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(record.sandbox_pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The path `exec --detach` writes its monitor's pid to when no --pid-file
/// was given: inside the container's state directory.
pub(crate) fn private_pid_file(dir: &ContainerDir) -> PathBuf {
    dir.path().join(format!("exec-{}.pid", std::process::id()))
}
