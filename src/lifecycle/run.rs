//! `run`: create, start, wait and delete, through the same sandbox process
//! and control socket as the separate verbs. In the foreground, the host
//! signals `cordon run` gets go to the container, as runc forwards them.

use std::path::Path;
use std::thread;

use cordon_actors::protocol::WireSignalTarget;
use cordon_kernel::ExitStatus;
use nix::sys::signal::{SigSet, Signal};
use tracing::debug;

use super::create::{self, Created, Tether};
use super::{Globals, LifecycleError, exit_code};
use crate::state::ContainerDir;

/// The host signals a foreground `run` or `exec` passes on.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// `cordon run`: returns the status to exit with, the init's (128+N for
/// signal N). With `detach`, returns once the container runs.
pub fn run(
    globals: &Globals,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    detach: bool,
) -> Result<u8, LifecycleError> {
    let tether = match detach {
        true => Tether::Detached,
        false => Tether::DiesWithCreator,
    };
    let forwarded = match detach {
        false => Some(block_forwarded_signals()?),
        true => None,
    };
    let created = create::create_sandbox(globals, id, bundle, pid_file, tether)?;
    if let Some(signals) = forwarded {
        forward_signals(signals, created.dir.clone(), WireSignalTarget::Foreground);
    }
    let outcome = match detach {
        true => start(&created).map(|_| None),
        false => start(&created).and_then(|_| wait(&created)).map(Some),
    };
    let Created {
        dir,
        record,
        mut sandbox,
    } = created;
    match outcome {
        Ok(None) => Ok(0),
        Ok(Some(status)) => {
            create::destroy(dir, &record, Some(&mut sandbox))?;
            Ok(exit_code(status))
        }
        Err(err) => {
            // Nothing of a run that failed stays behind.
            if let Err(cleanup) = create::destroy(dir, &record, Some(&mut sandbox)) {
                debug!(container = id, error = %cleanup, "cleaning up after a failed run");
            }
            Err(err)
        }
    }
}

fn start(created: &Created) -> Result<i32, LifecycleError> {
    let id = created.dir.id();
    created
        .dir
        .connect()
        .and_then(|mut client| client.start_root())
        .map_err(|err| LifecycleError::from_client(id, err))
}

fn wait(created: &Created) -> Result<ExitStatus, LifecycleError> {
    let id = created.dir.id();
    created
        .dir
        .connect()
        .and_then(|mut client| client.wait(id))
        .map_err(|err| LifecycleError::from_client(id, err))
}

/// Blocks the forwarded signals in this (still single-threaded) process, so
/// that only the forwarding thread takes them. Child processes start with
/// an empty mask (std resets it).
pub(crate) fn block_forwarded_signals() -> Result<SigSet, LifecycleError> {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set.thread_block()
        .map_err(|errno| LifecycleError::Spawn(errno.into()))?;
    Ok(set)
}

/// Sends every signal of `signals` this process receives to `target` in
/// the container of `dir`, from a thread of its own, for as long as the
/// process lives.
pub(crate) fn forward_signals(signals: SigSet, dir: ContainerDir, target: WireSignalTarget) {
    let forward = move || {
        while let Ok(signal) = signals.wait() {
            let sent = dir
                .connect()
                .and_then(|mut client| client.signal(dir.id(), target, signal as i32));
            match sent {
                Ok(()) => debug!(container = dir.id(), ?signal, "signal forwarded"),
                Err(err) => debug!(container = dir.id(), ?signal, error = %err, "signal not forwarded"),
            }
        }
    };
    if let Err(err) = thread::Builder::new().name("forward-signals".into()).spawn(forward) {
        debug!(error = %err, "cannot forward signals");
    }
}
