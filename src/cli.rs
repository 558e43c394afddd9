//! The `cordon` command line: runc's global flags and verbs, and cordon's own
//! (DESIGN.md §5.3), and what each verb does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, Parser, Subcommand, ValueEnum};
use cordon_actors::{WatchdogAction, WatchdogConfig};
use cordon_kernel::PlatformKind;
use tracing::info_span;

use crate::boot::{self, ControlOptions};
use crate::bundle::{self, BundleError};
use crate::host::{self, HostError};
use crate::lifecycle::exec::ExecOptions;
use crate::lifecycle::inspect::Format;
use crate::lifecycle::{self, Globals, LifecycleError, exit_code};
use crate::logging::{self, LogFormat, LogOptions, LoggingError};
use crate::run::{self, BootOptions, RunError};
use crate::signals;
use crate::state::StateRoot;

/// The status `cordon` exits with when its command line cannot be parsed.
pub const USAGE_EXIT_CODE: u8 = 2;

/// Global flags come before the verb, as runc, podman and containerd pass them.
#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    about = "Run Linux containers on cordon's own implementation of the system-call interface"
)]
pub struct Cli {
    /// Directory for the state of containers [default: /run/cordon, or
    /// $XDG_RUNTIME_DIR/cordon when not run as root]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Append the log to FILE instead of writing it to standard error.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Format of log lines.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log at debug level.
    #[arg(long)]
    pub debug: bool,

    /// What executes application code.
    #[arg(long, value_name = "PLATFORM", default_value_t = PlatformKind::Ptrace)]
    pub platform: PlatformKind,

    /// Log every system call with its arguments and result.
    #[arg(long)]
    pub strace: bool,

    /// Pin each application thread and the kernel thread serving it to one CPU.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub pin_cpu: bool,

    /// Where the application's writes to the root filesystem go: `memory`
    /// keeps them in the sandbox (the host rootfs is never written);
    /// `none` uses the root directory itself, read-only for now.
    #[arg(long, value_enum, value_name = "OVERLAY", default_value_t = Overlay::Memory)]
    pub overlay: Overlay,

    /// Do not put cordon itself under its seccomp filter. For debugging the
    /// kernel only: it removes a layer of the sandbox.
    #[arg(long)]
    pub disable_seccomp: bool,

    /// How long a task may stay inside one system call before the watchdog
    /// acts (e.g. 180s, 3m, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = parse_duration)]
    pub watchdog_timeout: Duration,

    /// What the watchdog does with a stuck task: log it, or abort the
    /// sandbox with a dump of every task.
    #[arg(long, value_enum, value_name = "ACTION", default_value_t = WatchdogChoice::Log)]
    pub watchdog_action: WatchdogChoice,

    /// A host signal that aborts the sandbox process with a dump of every
    /// task, instead of being forwarded to the container.
    #[arg(long, value_name = "N", value_parser = parse_signal)]
    pub panic_signal: Option<i32>,

    #[command(subcommand)]
    pub command: Command,
}

/// The root filesystem's overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Overlay {
    Memory,
    None,
}

/// `--watchdog-action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchdogChoice {
    Log,
    Panic,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from an OCI bundle; it runs once started.
    Create {
        /// The bundle directory, holding config.json.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// Write the sandbox process's pid to FILE.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// With process.terminal: the unix socket to send the master of the
        /// container's pseudo-terminal to (runc's protocol).
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// The container's id.
        id: String,
    },
    /// Run the init of a created container.
    Start { id: String },
    /// Print the state of a container as OCI state JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's init.
    Kill {
        /// Send it to every process of the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        /// A name (TERM, SIGKILL) or a number.
        signal: Option<String>,
    },
    /// Delete a container and everything the sandbox held for it.
    Delete {
        /// Kill the container if it still runs.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run a container from an OCI bundle and exit with its status.
    Run {
        /// The bundle directory, holding config.json.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// Return once the container runs, leaving it running.
        #[arg(short, long)]
        detach: bool,
        /// Write the sandbox process's pid to FILE.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// With process.terminal and --detach: the unix socket to send the
        /// master of the container's pseudo-terminal to (runc's protocol).
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// The container's id.
        id: String,
    },
    /// Run a new process in a running container.
    Exec {
        /// Working directory of the process.
        #[arg(long, value_name = "DIR")]
        cwd: Option<String>,
        /// Set an environment variable (KEY=VALUE); may be repeated.
        #[arg(short, long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// The user to run as: USER or USER:GROUP, each a number or a name
        /// in the container's /etc/passwd and /etc/group.
        #[arg(short, long, value_name = "USER[:GROUP]")]
        user: Option<String>,
        /// A JSON file holding the OCI process to run.
        #[arg(short, long, value_name = "FILE")]
        process: Option<PathBuf>,
        /// Return once the process runs, leaving it running.
        #[arg(short, long)]
        detach: bool,
        /// Write the pid of the cordon process waiting for it to FILE.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Give the process a terminal: cordon's stdin if it is one, else a
        /// new pseudo-terminal.
        #[arg(short, long)]
        tty: bool,
        /// With a terminal and --detach: the unix socket to send the
        /// master of the process's pseudo-terminal to (runc's protocol).
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        id: String,
        /// The command and its arguments.
        #[arg(value_name = "COMMAND", trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        id: String,
    },
    /// List the containers under the state root.
    List {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Wait for a container's init (or one of its processes) to exit.
    Wait {
        /// Wait for this process (one started by start or exec) instead.
        #[arg(long, value_name = "PID")]
        pid: Option<i32>,
        id: String,
    },
    /// Print resource statistics of a container as JSON events.
    Events {
        /// Print them once and exit.
        #[arg(long)]
        stats: bool,
        /// Time between two events.
        #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
        interval: Duration,
        id: String,
    },
    /// Stop every process of a container until it is resumed.
    Pause { id: String },
    /// Let a paused container run again.
    Resume { id: String },
    /// Run a command in a sandbox over the host's root: its writes stay in
    /// sandbox memory, with its own /proc, /dev and /sys.
    Do {
        /// The command and its arguments.
        #[arg(
            value_name = "COMMAND",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<String>,
    },
    /// Write a default config.json into a bundle directory.
    Spec {
        /// The bundle directory.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
    },
    /// Waits for a container's init and exits with its status; started by
    /// `create --pid-file`, whose pid file names it.
    #[command(hide = true)]
    Monitor { id: String },
    /// The sandbox process; started by create, not by hand.
    #[command(hide = true)]
    Boot {
        #[arg(long, value_name = "DIR")]
        bundle: PathBuf,
        /// End when the process with this pid ends (the embedding program
        /// that created the sandbox).
        #[arg(long, value_name = "PID")]
        die_with: Option<i32>,
        id: String,
    },
}

/// Why a command failed; printed as `cordon: <error>`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Logging(#[from] LoggingError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

impl CliError {
    /// The status `cordon` exits with for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Run(err) => err.exit_code(),
            CliError::Lifecycle(err) => err.exit_code(),
            CliError::Logging(_) | CliError::Bundle(_) | CliError::Host(_) => 1,
        }
    }
}

impl Cli {
    /// Sets up logging and carries out the verb. Returns the status `cordon`
    /// exits with: the container's for `run`, `exec` and `do`.
    pub fn execute(self) -> Result<u8, CliError> {
        logging::init(LogOptions {
            file: self.log.as_deref(),
            format: self.log_format,
            debug: self.debug,
            strace: self.strace,
        })?;
        let boot = BootOptions {
            platform: self.platform,
            pin_cpu: self.pin_cpu,
            strace: self.strace,
            seccomp: !self.disable_seccomp,
            overlay: self.overlay == Overlay::Memory,
        };
        let globals = Globals {
            root: StateRoot::new(self.state_root()),
            program: std::env::current_exe().map_err(LifecycleError::Spawn)?,
            boot_args: self.boot_args(),
        };
        match self.command {
            Command::Create {
                bundle,
                pid_file,
                console_socket,
                id,
            } => {
                let _span = info_span!("create", container = %id).entered();
                lifecycle::create::create(&globals, &id, &bundle, pid_file.as_deref(), console_socket.as_deref())?;
                Ok(0)
            }
            Command::Start { id } => Ok(lifecycle::manage::start(&globals, &id).map(|()| 0)?),
            Command::State { id } => Ok(lifecycle::inspect::state(&globals, &id).map(|()| 0)?),
            Command::Kill { all, id, signal } => {
                Ok(lifecycle::manage::kill(&globals, &id, signal.as_deref(), all).map(|()| 0)?)
            }
            Command::Delete { force, id } => Ok(lifecycle::manage::delete(&globals, &id, force).map(|()| 0)?),
            Command::Run {
                bundle,
                detach,
                pid_file,
                console_socket,
                id,
            } => {
                let _span = info_span!("run", container = %id).entered();
                Ok(lifecycle::run::run(
                    &globals,
                    &id,
                    &bundle,
                    pid_file.as_deref(),
                    detach,
                    console_socket.as_deref(),
                )?)
            }
            Command::Exec {
                cwd,
                env,
                user,
                process,
                detach,
                pid_file,
                tty,
                console_socket,
                id,
                command,
            } => {
                let options = ExecOptions {
                    cwd,
                    env,
                    user,
                    process,
                    detach,
                    pid_file,
                    tty,
                    console_socket,
                    command,
                };
                Ok(lifecycle::exec::exec(&globals, &id, &options)?)
            }
            Command::Ps { format, id } => Ok(lifecycle::inspect::ps(&globals, &id, format).map(|()| 0)?),
            Command::List { format, quiet } => Ok(lifecycle::inspect::list(&globals, format, quiet).map(|()| 0)?),
            Command::Monitor { id } => Ok(lifecycle::manage::monitor(&globals, &id)?),
            Command::Wait { pid, id } => Ok(lifecycle::manage::wait(&globals, &id, pid).map(|()| 0)?),
            Command::Events { stats, interval, id } => {
                Ok(lifecycle::inspect::events(&globals, &id, stats, interval).map(|()| 0)?)
            }
            Command::Pause { id } => Ok(lifecycle::manage::pause(&globals, &id).map(|()| 0)?),
            Command::Resume { id } => Ok(lifecycle::manage::resume(&globals, &id).map(|()| 0)?),
            Command::Do { command } => {
                let config = host::command_config(command, boot.overlay)?;
                Ok(exit_code(run::run(config, boot)?))
            }
            Command::Spec { bundle } => {
                bundle::write_default_config(&bundle)?;
                Ok(0)
            }
            Command::Boot { bundle, die_with, id } => {
                let _span = info_span!("sandbox", container = %id).entered();
                let control = ControlOptions {
                    watchdog: WatchdogConfig {
                        task_timeout: self.watchdog_timeout,
                        action: match self.watchdog_action {
                            WatchdogChoice::Log => WatchdogAction::Log,
                            WatchdogChoice::Panic => WatchdogAction::Panic,
                        },
                        ..WatchdogConfig::default()
                    },
                    panic_signal: self.panic_signal,
                    logs_to_stderr: self.log.is_none(),
                    die_with,
                };
                Ok(boot::boot(&bundle, &id, boot, control))
            }
        }
    }

    /// The state root: `--root`, or runc's default for this user.
    pub fn state_root(&self) -> PathBuf {
        if let Some(root) = &self.root {
            return root.clone();
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/run/cordon");
        }
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) => Path::new(&dir).join("cordon"),
            None => std::env::temp_dir().join(format!("cordon-{}", nix::unistd::geteuid())),
        }
    }

    /// The global flags the sandbox process is started with: everything but
    /// the state root, which it does not use.
    fn boot_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(log) = &self.log {
            args.extend(["--log".into(), log.into()]);
        }
        let format = self.log_format.to_possible_value().expect("no variant is skipped");
        args.extend(["--log-format".into(), format.get_name().into()]);
        if self.debug {
            args.push("--debug".into());
        }
        args.extend(["--platform".into(), self.platform.to_string().into()]);
        if self.strace {
            args.push("--strace".into());
        }
        args.extend(["--pin-cpu".into(), self.pin_cpu.to_string().into()]);
        if self.disable_seccomp {
            args.push("--disable-seccomp".into());
        }
        let overlay = self.overlay.to_possible_value().expect("no variant is skipped");
        args.extend(["--overlay".into(), overlay.get_name().into()]);
        args.extend([
            "--watchdog-timeout".into(),
            format!("{}ms", self.watchdog_timeout.as_millis()).into(),
        ]);
        let action = self.watchdog_action.to_possible_value().expect("no variant is skipped");
        args.extend(["--watchdog-action".into(), action.get_name().into()]);
        if let Some(signal) = self.panic_signal {
            args.extend(["--panic-signal".into(), signal.to_string().into()]);
        }
        args
    }
}

/// A duration as `500ms`, `30s`, `3m`, `1h`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}: use a number with ms, s, m or h (e.g. 3m)");
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let millis = match unit {
        "ms" => Some(number),
        "" | "s" => number.checked_mul(1000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => None,
    };
    millis.map(Duration::from_millis).ok_or_else(invalid)
}

/// `--panic-signal`: a signal name or number.
fn parse_signal(text: &str) -> Result<i32, String> {
    signals::parse(text).map_err(|err| err.to_string())
}

/// A command-line error in cordon's one-line form: clap's message, then the
/// usage line of the verb being parsed when clap gives one.
pub fn usage_error_line(err: &clap::Error) -> String {
    // With no verb at all clap renders the whole help, which is no one-liner.
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let command = Cli::command();
        let verbs: Vec<&str> = command
            .get_subcommands()
            .filter(|verb| !verb.is_hide_set())
            .map(clap::Command::get_name)
            .filter(|name| *name != "help")
            .collect();
        return format!(
            "a command is required, one of: {}; see '{} --help'",
            verbs.join(", "),
            command.get_name()
        );
    }
    let rendered = err.render().to_string();
    let mut message = String::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Usage: ") {
            usage = Some(rest);
            continue;
        }
        if line.is_empty() || line.starts_with("For more information") {
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        if !message.is_empty() {
            // A list continues the line before it; anything else (a tip) is a
            // clause of its own.
            let continues = message.ends_with(':') || line.starts_with('[');
            message.push_str(if continues { " " } else { "; " });
        }
        message.push_str(line);
    }
    match usage {
        Some(usage) => format!("{message} (usage: {usage})"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cordon").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = parse(&["run", "box"]).expect("valid command line");
        assert_eq!(cli.root, None);
        if nix::unistd::geteuid().is_root() {
            assert_eq!(cli.state_root(), PathBuf::from("/run/cordon"));
        }
        assert_eq!(cli.watchdog_timeout, Duration::from_secs(180));
        assert_eq!(cli.watchdog_action, WatchdogChoice::Log);
        assert_eq!(cli.panic_signal, None);
        assert_eq!(cli.log, None);
        assert_eq!(cli.log_format, LogFormat::Text);
        assert!(!cli.debug && !cli.strace);
        assert!(cli.pin_cpu);
        assert_eq!(cli.platform, PlatformKind::Ptrace);
        match cli.command {
            Command::Run { bundle, id, detach, .. } => {
                assert_eq!(bundle, PathBuf::from("."));
                assert_eq!(id, "box");
                assert!(!detach);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn global_flags_before_the_verb() {
        let cli = parse(&[
            "--root",
            "/tmp/state",
            "--log",
            "/tmp/log",
            "--log-format",
            "json",
            "--debug",
            "--platform",
            "ptrace",
            "--strace",
            "--pin-cpu",
            "false",
            "run",
            "-b",
            "/b",
            "box",
        ])
        .expect("valid command line");
        assert_eq!(cli.root, Some(PathBuf::from("/tmp/state")));
        assert_eq!(cli.log, Some(PathBuf::from("/tmp/log")));
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(cli.debug && cli.strace);
        assert!(!cli.pin_cpu);
        assert!(matches!(cli.command, Command::Run { bundle, .. } if bundle == Path::new("/b")));
    }

    #[test]
    fn unknown_platform_is_refused() {
        let err = parse(&["--platform", "kvm", "do", "true"]).expect_err("kvm is not built");
        assert!(
            usage_error_line(&err).contains("use ptrace"),
            "{}",
            usage_error_line(&err)
        );
    }

    #[test]
    fn do_takes_the_command_verbatim() {
        for args in [
            &["do", "ls", "-la", "--color"][..],
            &["do", "--", "ls", "-la", "--color"],
        ] {
            let cli = parse(args).expect("valid command line");
            match cli.command {
                Command::Do { command } => assert_eq!(command, ["ls", "-la", "--color"]),
                other => panic!("parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn do_needs_a_command() {
        assert!(parse(&["do"]).is_err());
    }

    #[test]
    fn spec_bundle_defaults_to_here() {
        let cli = parse(&["spec"]).expect("valid command line");
        assert!(matches!(cli.command, Command::Spec { bundle } if bundle == Path::new(".")));
    }

    #[test]
    fn usage_errors_are_one_line() {
        for args in [&["run"][..], &["frobnicate"], &["--pin-cpu", "maybe", "run", "x"], &[]] {
            let err = parse(args).expect_err("invalid command line");
            let line = usage_error_line(&err);
            assert!(!line.contains('\n'), "{line}");
            assert!(!line.starts_with("error"), "{line}");
            assert!(!line.contains("For more information"), "{line}");
        }
        let err = parse(&["run"]).expect_err("the id is missing");
        assert_eq!(
            usage_error_line(&err),
            "the following required arguments were not provided: <ID> \
             (usage: cordon run <ID>)"
        );
        let err = parse(&["--pin-cpu", "maybe", "run", "x"]).expect_err("not a boolean");
        assert_eq!(
            usage_error_line(&err),
            "invalid value 'maybe' for '--pin-cpu <BOOL>' [possible values: true, false]"
        );
        let err = parse(&[]).expect_err("no verb");
        assert_eq!(
            usage_error_line(&err),
            "a command is required, one of: create, start, state, kill, delete, run, exec, ps, list, wait, \
             events, pause, resume, do, spec; see 'cordon --help'"
        );
    }

    #[test]
    fn lifecycle_verbs_take_runc_s_flags() {
        let cli = parse(&["--root", "/s", "create", "--bundle", "/b", "--pid-file", "/p", "box"]).expect("valid");
        assert!(
            matches!(cli.command, Command::Create { bundle, pid_file: Some(pid), id, .. }
            if bundle == Path::new("/b") && pid == Path::new("/p") && id == "box")
        );
        let cli = parse(&["kill", "--all", "box", "KILL"]).expect("valid");
        assert!(matches!(cli.command, Command::Kill { all: true, signal: Some(signal), .. } if signal == "KILL"));
        let cli = parse(&["delete", "-f", "box"]).expect("valid");
        assert!(matches!(cli.command, Command::Delete { force: true, .. }));
        let cli = parse(&["exec", "-e", "A=1", "--cwd", "/tmp", "-u", "1:2", "box", "ls", "-l"]).expect("valid");
        match cli.command {
            Command::Exec {
                env,
                cwd,
                user,
                id,
                command,
                ..
            } => {
                assert_eq!(
                    (env, cwd, user),
                    (vec!["A=1".to_owned()], Some("/tmp".to_owned()), Some("1:2".to_owned()))
                );
                assert_eq!(id, "box");
                assert_eq!(command, ["ls", "-l"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = parse(&["ps", "--format", "json", "box"]).expect("valid");
        assert!(matches!(
            cli.command,
            Command::Ps {
                format: Format::Json,
                ..
            }
        ));
        let cli = parse(&["events", "--stats", "--interval", "1s", "box"]).expect("valid");
        assert!(
            matches!(cli.command, Command::Events { stats: true, interval, .. } if interval == Duration::from_secs(1))
        );
        let cli = parse(&["wait", "--pid", "7", "box"]).expect("valid");
        assert!(matches!(cli.command, Command::Wait { pid: Some(7), .. }));
        let cli = parse(&["run", "-d", "box"]).expect("valid");
        assert!(matches!(cli.command, Command::Run { detach: true, .. }));
    }

    #[test]
    fn watchdog_and_panic_flags() {
        let cli = parse(&[
            "--watchdog-timeout",
            "500ms",
            "--watchdog-action",
            "panic",
            "--panic-signal",
            "USR2",
            "state",
            "x",
        ])
        .expect("valid");
        assert_eq!(cli.watchdog_timeout, Duration::from_millis(500));
        assert_eq!(cli.watchdog_action, WatchdogChoice::Panic);
        assert_eq!(cli.panic_signal, Some(libc::SIGUSR2));
        assert!(parse(&["--watchdog-timeout", "soon", "state", "x"]).is_err());
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn the_sandbox_process_gets_the_global_flags_but_the_root() {
        let cli = parse(&[
            "--root",
            "/s",
            "--debug",
            "--pin-cpu",
            "false",
            "--panic-signal",
            "10",
            "start",
            "x",
        ])
        .expect("valid");
        let args: Vec<String> = cli
            .boot_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(!args.contains(&"--root".to_owned()), "{args:?}");
        let reparsed = parse(
            &args
                .iter()
                .map(String::as_str)
                .chain(["boot", "--bundle", "/b", "x"])
                .collect::<Vec<_>>(),
        )
        .expect("the sandbox process parses its flags");
        assert!(reparsed.debug && !reparsed.pin_cpu);
        assert_eq!(reparsed.panic_signal, Some(10));
        assert_eq!(reparsed.watchdog_timeout, cli.watchdog_timeout);
    }
}
