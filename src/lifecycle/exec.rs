//! `exec`: a new process in a running container, with this command's stdio,
//! waited for (its status is the command's), or left running with
//! `--detach`.
//!
//! The process starts from the container's own environment, directory and
//! user, as runc's does; `--env`, `--cwd` and `--user` change them, and
//! `--process` gives an OCI `process` object instead. `--user` names are
//! looked up in the container's rootfs ([`crate::users`]).
//!
//! `--pid-file` gets the pid of the `cordon exec` process that waits for the
//! process, as runsc writes it (the process itself has no host pid of its
//! own). `--detach` runs that waiting command in the background and
//! returns once the process has started.
//!
//! With `-t` (or `terminal` in the process file) the process gets a
//! terminal as its stdio and controlling terminal: this command's stdin
//! when it is a terminal; otherwise a new pty, whose master this command
//! copies to and from its own stdin and stdout until the process exits
//! (runc always makes the pty, and fails without a host terminal to set
//! raw). A detached exec cannot copy, so, as in runc, it needs
//! `--console-socket`, which gets the master; the waiting command then has
//! the replica as its stdin and controlling terminal, leading a session of
//! its own, so that the terminal's signals reach it and it forwards them
//! (as runsc's detached exec does). Signals go to the foreground process
//! group of the process's terminal.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use cordon_actors::protocol::{ExecProcess, WireSignalTarget};
use cordon_kernel::sys::spawn::ChildSetup;
use oci_spec::runtime::Process;

use super::manage::connect;
use super::run::{block_forwarded_signals, forward_signals};
use super::{Globals, LifecycleError, exit_code};
use crate::state::{self, ContainerRecord};
use crate::terminal::{Pty, TerminalCopy};
use crate::users;

/// What `cordon exec` was asked to run, and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cwd: Option<String>,
    /// `KEY=VALUE`, replacing the container's value of KEY.
    pub env: Vec<String>,
    /// `USER` or `USER:GROUP`, each a number or a name in the container's
    /// /etc/passwd or /etc/group.
    pub user: Option<String>,
    /// An OCI `process` JSON file describing the process.
    pub process: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    /// Give the process a terminal (also `terminal` in the process file).
    pub tty: bool,
    /// With a terminal and `detach`: where to send the terminal's master.
    pub console_socket: Option<PathBuf>,
    pub command: Vec<String>,
}

/// `cordon exec`: returns the status to exit with, the process's.
pub fn exec(globals: &Globals, id: &str, options: &ExecOptions) -> Result<u8, LifecycleError> {
    if options.detach {
        return exec_detached(globals, id, options);
    }
    let signals = block_forwarded_signals()?;
    let mut connected = connect(globals, id)?;
    let process = exec_process(&connected.record, options)?;
    super::check_console_socket("exec", false, process.terminal, options.console_socket.as_deref())?;
    let terminal = process.terminal;
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let client_error = |err| LifecycleError::from_client(id, err);
    let (pid, master) = match terminal {
        false => {
            let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
            (connected.client.exec(id, process, &stdio).map_err(client_error)?, None)
        }
        true if crate::terminal::is_terminal(&stdin) => {
            let pid = connected.client.exec(id, process, &[stdin.as_fd()]);
            (pid.map_err(client_error)?, None)
        }
        true => {
            // Only the sandbox holds the replica from here on: the
            // master reports its end once the process is done with it.
            let Pty { master, replica } = Pty::open()?;
            let pid = connected.client.exec(id, process, &[replica.as_fd()]);
            (pid.map_err(client_error)?, Some(master))
        }
    };
    let target = match terminal {
        true => WireSignalTarget::ForegroundOf(pid),
        false => WireSignalTarget::Process(pid),
    };
    forward_signals(signals, connected.dir.clone(), target);
    let copy = master.map(TerminalCopy::start).transpose()?;
    if let Some(path) = &options.pid_file {
        state::write_pid_file(path, i32::try_from(std::process::id()).expect("pids fit i32"))?;
    }
    let status = connected.client.wait_pid(id, pid, true).map_err(client_error)?;
    if let Some(copy) = copy {
        copy.finish();
    }
    Ok(exit_code(status))
}

/// The process to start, from the container's defaults or `--process`, with
/// the flags applied over them.
fn exec_process(record: &ContainerRecord, options: &ExecOptions) -> Result<ExecProcess, LifecycleError> {
    let defaults = &record.exec_defaults;
    let mut process = match &options.process {
        Some(path) => read_process_file(path)?,
        None if options.command.is_empty() => return Err(LifecycleError::NoCommand),
        None => ExecProcess {
            argv: options.command.clone(),
            env: defaults.env.clone(),
            cwd: defaults.cwd.clone(),
            uid: defaults.uid,
            gid: defaults.gid,
            additional_gids: defaults.additional_gids.clone(),
            capabilities: defaults.capabilities,
            no_new_privileges: defaults.no_new_privileges,
            terminal: false,
        },
    };
    process.terminal |= options.tty;
    if let Some(cwd) = &options.cwd {
        process.cwd.clone_from(cwd);
    }
    for variable in &options.env {
        let key = variable.split_once('=').map_or(variable.as_str(), |(key, _)| key);
        process
            .env
            .retain(|existing| existing.split_once('=').map_or(existing.as_str(), |(k, _)| k) != key);
        process.env.push(variable.clone());
    }
    if let Some(user) = &options.user {
        let user = users::resolve(&record.rootfs, user)?;
        process.uid = user.uid;
        process.gid = user.gid.unwrap_or(process.gid);
        process.additional_gids = user.additional_gids;
    }
    Ok(process)
}

/// Reads an OCI `process` object (`exec --process`).
fn read_process_file(path: &Path) -> Result<ExecProcess, LifecycleError> {
    let failed = |message: String| LifecycleError::ProcessFile {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|err| failed(err.to_string()))?;
    let process: Process =
        serde_json::from_str(&text).map_err(|err| failed(format!("not an OCI process object: {err}")))?;
    let spec = crate::spec::process_spec(&process).map_err(|source| LifecycleError::Spec {
        what: path.display().to_string(),
        source,
    })?;
    Ok(ExecProcess {
        argv: spec.argv,
        env: spec.env,
        cwd: spec.cwd,
        uid: spec.credentials.ruid,
        gid: spec.credentials.rgid,
        additional_gids: spec.credentials.groups.clone(),
        capabilities: Some(spec.credentials.caps.into()),
        no_new_privileges: spec.credentials.no_new_privs,
        terminal: process.terminal() == Some(true),
    })
}

/// `exec --detach`: runs `cordon exec` without it in the background, in a
/// session of its own, and returns once that has started the process (its
/// pid file appears) or has failed (it exits, having said why).
fn exec_detached(globals: &Globals, id: &str, options: &ExecOptions) -> Result<u8, LifecycleError> {
    let connected = connect(globals, id)?;
    // Checked here, so that a bad request fails before anything starts.
    let process = exec_process(&connected.record, options)?;
    let console_socket = options.console_socket.as_deref();
    super::check_console_socket("exec", true, process.terminal, console_socket)?;
    let private = options.pid_file.is_none();
    let pid_file = options
        .pid_file
        .clone()
        .unwrap_or_else(|| super::create::private_pid_file(&connected.dir));
    let mut args: Vec<OsString> = vec!["--root".into(), globals.root.path().into()];
    args.extend(globals.boot_args.iter().cloned());
    args.extend(["exec".into(), "--pid-file".into(), pid_file.clone().into()]);
    if let Some(cwd) = &options.cwd {
        args.extend(["--cwd".into(), cwd.into()]);
    }
    for variable in &options.env {
        args.extend(["--env".into(), variable.into()]);
    }
    if let Some(user) = &options.user {
        args.extend(["--user".into(), user.into()]);
    }
    if let Some(process) = &options.process {
        args.extend(["--process".into(), process.into()]);
    }
    if options.tty {
        args.push("--tty".into());
    }
    args.push(id.into());
    args.push("--".into());
    args.extend(options.command.iter().map(OsString::from));
    let mut command = Command::new(&globals.program);
    command.args(&args);
    // With a terminal, the monitor's stdio are the replica (its errors go
    // there, as runsc's do), and it holds none of this command's.
    if let Some(path) = console_socket {
        let Pty { master, replica } = Pty::open()?;
        crate::terminal::send_console(path, master.as_fd())?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(LifecycleError::Spawn);
        command.stdin(dup(&replica)?).stdout(dup(&replica)?).stderr(replica);
    }
    let terminal = console_socket.is_some();
    // With a terminal, fd 0 is its replica.
    let setup = match terminal {
        true => ChildSetup::new().controlling_terminal(),
        false => ChildSetup::new().new_session(),
    };
    let mut monitor = setup.spawn(command).map_err(LifecycleError::Spawn)?;
    loop {
        if pid_file.exists() {
            if private {
                let _ = std::fs::remove_file(&pid_file);
            }
            return Ok(0);
        }
        if let Some(status) = monitor.try_wait().map_err(LifecycleError::Spawn)? {
            let code = status.code().and_then(|code| u8::try_from(code).ok()).unwrap_or(1);
            return match terminal {
                // Its error line went to the terminal.
                true => Err(LifecycleError::DetachedExec { code }),
                // It printed its own error line; exit as it did.
                false => Ok(code),
            };
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ExecDefaults;

    fn record() -> ContainerRecord {
        ContainerRecord {
            id: "box".to_owned(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            sandbox_pid: 1,
            sandbox_start_time: 0,
            created: String::new(),
            owner: String::new(),
            annotations: Default::default(),
            exec_defaults: ExecDefaults {
                env: vec!["PATH=/bin".to_owned(), "HOME=/root".to_owned()],
                cwd: "/".to_owned(),
                uid: 0,
                gid: 0,
                additional_gids: vec![10],
                capabilities: None,
                no_new_privileges: false,
            },
            sandbox_id: None,
            monitor: None,
        }
    }

    #[test]
    fn flags_apply_over_the_container_defaults() {
        let options = ExecOptions {
            cwd: Some("/tmp".to_owned()),
            env: vec!["HOME=/home/me".to_owned(), "FOO=bar".to_owned()],
            user: Some("1000:100".to_owned()),
            command: vec!["id".to_owned()],
            ..Default::default()
        };
        let process = exec_process(&record(), &options).expect("valid");
        assert_eq!(process.argv, ["id"]);
        assert_eq!(process.cwd, "/tmp");
        assert_eq!(process.env, ["PATH=/bin", "HOME=/home/me", "FOO=bar"]);
        assert_eq!((process.uid, process.gid), (1000, 100));
        assert!(process.additional_gids.is_empty());
    }

    #[test]
    fn a_command_is_needed() {
        assert!(matches!(
            exec_process(&record(), &ExecOptions::default()),
            Err(LifecycleError::NoCommand)
        ));
    }
}
