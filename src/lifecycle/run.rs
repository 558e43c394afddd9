//! `run`: create, start, wait and delete, through the same sandbox process
//! and control socket as the separate verbs. In the foreground, the host
//! signals `cordon run` gets go to the container, as runc forwards them.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::thread;

use cordon_actors::protocol::WireSignalTarget;
use cordon_kernel::ExitStatus;
use nix::sys::signal::{SigSet, Signal};
use tracing::debug;

use super::create::{self, Created, Tether};
use super::stdio::{self, BootStdio};
use super::{Globals, LifecycleError, exit_code};
use crate::bundle;
use crate::state::ContainerDir;
use crate::terminal::{Pty, TerminalCopy};

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
    console_socket: Option<&Path>,
) -> Result<u8, LifecycleError> {
    let tether = match detach {
        true => Tether::Detached,
        false => Tether::DiesWithCreator,
    };
    let loaded = bundle::open(bundle)?;
    let terminal = loaded.config.terminal;
    let (stdio, master) = match detach {
        true => (stdio::console_stdio("run", terminal, console_socket)?, None),
        false => {
            super::check_console_socket("run", false, terminal, console_socket)?;
            foreground_stdio(terminal)?
        }
    };
    let forwarded = match detach {
        false => Some(block_forwarded_signals()?),
        true => None,
    };
    let created = create::create_sandbox(globals, id, bundle, loaded, pid_file, tether, stdio)?;
    if let Some(signals) = forwarded {
        forward_signals(signals, created.dir.clone(), WireSignalTarget::Foreground);
    }
    let outcome = match (detach, master) {
        (true, _) => start(&created).map(|_| None),
        (false, None) => start(&created).and_then(|_| wait(&created)).map(Some),
        (false, Some(master)) => TerminalCopy::start(master)
            .map_err(LifecycleError::from)
            .and_then(|copy| {
                let status = start(&created).and_then(|_| wait(&created))?;
                copy.finish();
                Ok(Some(status))
            }),
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

/// The sandbox process's stdio for a foreground `run`, and the master of a
/// pty this command copies to and from, if it made one.
///
/// runc gives an init with a terminal a new pty and copies between it and
/// its own stdio, with a host terminal found among its stdio or /dev/tty
/// set raw (it fails without one). cordon's stdin, when it is a terminal,
/// is passed straight through instead: the kernel serves a host terminal as
/// the init's stdio and controlling terminal, and the keys that signal
/// reach this command's process group, which forwards them to the
/// container's foreground. Without a terminal, cordon makes the pty and
/// copies, as for `exec -t`, so that the init still has one.
fn foreground_stdio(terminal: bool) -> Result<(BootStdio, Option<OwnedFd>), LifecycleError> {
    if !terminal || crate::terminal::is_terminal(io::stdin()) {
        return Ok((BootStdio::Inherit, None));
    }
    let pty = Pty::open()?;
    Ok((BootStdio::Terminal(pty.replica), Some(pty.master)))
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
