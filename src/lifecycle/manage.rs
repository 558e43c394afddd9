//! The verbs that act on a created container: start, kill, pause, resume,
//! wait and delete.

use std::io::Write;

use cordon_actors::ControlError;
use cordon_actors::client::{Client, ClientError};
use cordon_actors::protocol::{ContainerStatus, WireSignalTarget};
use cordon_kernel::ExitStatus;
use serde_json::json;
use tracing::debug;

use super::create;
use super::{Globals, LifecycleError};
use crate::signals;
use crate::state::{ContainerDir, ContainerRecord};

/// A container's state directory, its record, and a connection to its
/// sandbox process, which must be alive.
pub(crate) struct Connected {
    pub dir: ContainerDir,
    pub record: ContainerRecord,
    pub client: Client,
}

/// Opens the container `id` and connects to its sandbox process.
pub(crate) fn connect(globals: &Globals, id: &str) -> Result<Connected, LifecycleError> {
    let dir = globals.root.open(id)?;
    let record = dir.read_record()?;
    if !record.sandbox_alive() {
        return Err(LifecycleError::SandboxGone { id: id.to_owned() });
    }
    let client = dir.connect().map_err(|err| LifecycleError::from_client(id, err))?;
    Ok(Connected { dir, record, client })
}

/// `cordon start`: runs the created container's init.
pub fn start(globals: &Globals, id: &str) -> Result<(), LifecycleError> {
    let mut connected = connect(globals, id)?;
    let client = &mut connected.client;
    match connected.record.sandbox_id {
        Some(_) => client.start_subcontainer(id),
        None => client.start_root(),
    }
    .map(drop)
    .map_err(|err| LifecycleError::from_client(id, err))
}

/// `cordon kill ID [SIGNAL]`: to the init (default SIGTERM), or with `all`
/// to every process of the container. A created container is stopped by
/// the signals that end runc's waiting init (SIGKILL, SIGTERM, …).
pub fn kill(globals: &Globals, id: &str, signal: Option<&str>, all: bool) -> Result<(), LifecycleError> {
    let signal = signal.map_or(Ok(libc::SIGTERM), signals::parse)?;
    let mut connected = connect(globals, id)?;
    let client = &mut connected.client;
    let target = match all {
        true => WireSignalTarget::AllProcesses,
        false => match client
            .state(id)
            .map_err(|err| LifecycleError::from_client(id, err))?
            .pid
        {
            Some(pid) => WireSignalTarget::Process(pid),
            // Not started: the init to come, which some signals end before
            // it runs (as runc's); a stopped container refuses.
            None => WireSignalTarget::Foreground,
        },
    };
    client
        .signal(id, target, signal)
        .map_err(|err| LifecycleError::from_client(id, err))
}

/// `cordon pause`: stops every task of the container's sandbox.
pub fn pause(globals: &Globals, id: &str) -> Result<(), LifecycleError> {
    let mut connected = connect(globals, id)?;
    connected
        .client
        .pause()
        .map_err(|err| LifecycleError::from_client(id, err))
}

/// `cordon resume`: lets a paused container run again.
pub fn resume(globals: &Globals, id: &str) -> Result<(), LifecycleError> {
    let mut connected = connect(globals, id)?;
    connected
        .client
        .resume()
        .map_err(|err| LifecycleError::from_client(id, err))
}

/// `cordon wait ID [--pid N]`: waits for the init (or for process `pid`,
/// one started by `start` or `exec`) and prints `{"id", "exitStatus"}` as
/// runsc does; the status is the shell's (128+N for signal N). Every
/// waiter gets the same status, and so does a wait after the exit.
pub fn wait(globals: &Globals, id: &str, pid: Option<i32>) -> Result<(), LifecycleError> {
    let mut connected = connect(globals, id)?;
    let client = &mut connected.client;
    let status = match pid {
        Some(pid) => client.wait_pid(id, pid, false),
        None => client.wait(id),
    }
    .map_err(|err| LifecycleError::from_client(id, err))?;
    let line = json!({ "id": id, "exitStatus": status.shell_code() });
    writeln!(std::io::stdout(), "{line}").map_err(LifecycleError::Output)
}

/// `cordon monitor ID`, which `create --pid-file` starts: waits for the
/// container's init and returns the status to exit with, the shell's (128+N
/// for signal N). The signals `run` forwards go to the container's
/// foreground meanwhile, so that a caller signalling this process reaches
/// the container as it would runc's init.
///
/// It ends only with the container, as an init would: a connection that
/// fails or a busy sandbox is retried while the sandbox process lives; a
/// container deleted (or a sandbox gone) under it counts as killed, as a
/// forced delete kills runc's init.
pub fn monitor(globals: &Globals, id: &str) -> Result<u8, LifecycleError> {
    let killed = super::exit_code(ExitStatus::Signaled(libc::SIGKILL));
    let signals = super::run::block_forwarded_signals()?;
    let dir = globals.root.open(id)?;
    let record = dir.read_record()?;
    super::run::forward_signals(signals, dir.clone(), WireSignalTarget::Foreground);
    loop {
        match dir.connect().and_then(|mut client| client.wait(id)) {
            Ok(status) => return Ok(super::exit_code(status)),
            Err(ClientError::Remote(ControlError::Deleted { .. } | ControlError::NotFound { .. })) => {
                return Ok(killed);
            }
            Err(ClientError::Remote(err)) => return Err(LifecycleError::Remote(err)),
            Err(_) if !record.sandbox_alive() => return Ok(killed),
            Err(err) => {
                debug!(container = id, error = %err, "the monitor retries its wait");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// `cordon delete [--force] ID`: ends the sandbox process and removes the
/// state directory. A running or paused container needs `force`, which
/// kills it; a dead sandbox just leaves its directory to remove.
pub fn delete(globals: &Globals, id: &str, force: bool) -> Result<(), LifecycleError> {
    let dir = globals.root.open(id)?;
    let record = match dir.read_record() {
        Ok(record) => record,
        // A create that died before writing its record left only this.
        Err(crate::state::StateError::NotFound(_)) => return dir.remove().map_err(Into::into),
        Err(err) => return Err(err.into()),
    };
    if record.sandbox_alive() && !force {
        let state = dir.connect().and_then(|mut client| client.state(id));
        if let Ok(state) = state {
            if matches!(state.status, ContainerStatus::Running | ContainerStatus::Paused) {
                return Err(LifecycleError::StillRunning {
                    id: id.to_owned(),
                    status: state.status,
                });
            }
        }
    }
    match record.sandbox_id {
        Some(_) => super::subcontainer::destroy(dir, &record),
        None => create::destroy(dir, &record, None),
    }
}
