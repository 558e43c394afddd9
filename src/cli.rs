//! The `cordon` command line: runc's global flags and verbs, and cordon's own
//! (DESIGN.md §5.3), and what each verb does.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use cordon_kernel::{ExitStatus, PlatformKind};
use tracing::info_span;

use crate::bundle::{self, BundleError};
use crate::host::{self, HostError};
use crate::logging::{self, LogFormat, LogOptions, LoggingError};
use crate::run::{self, BootOptions, RunError};

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
    /// Directory for the state of containers. No state is kept yet: `run`
    /// keeps its container inside the cordon process.
    #[arg(long, value_name = "DIR", default_value = "/run/cordon")]
    pub root: PathBuf,

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

    #[command(subcommand)]
    pub command: Command,
}

/// The root filesystem's overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Overlay {
    Memory,
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a container from an OCI bundle and exit with its status.
    Run {
        /// The bundle directory, holding config.json.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// The container's id.
        id: String,
    },
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
}

impl CliError {
    /// The status `cordon` exits with for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Run(err) => err.exit_code(),
            CliError::Logging(_) | CliError::Bundle(_) | CliError::Host(_) => 1,
        }
    }
}

impl Cli {
    /// Sets up logging and carries out the verb. Returns the status `cordon`
    /// exits with: the container's for `run` and `do`.
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
        };
        match self.command {
            Command::Run { bundle, id } => {
                let _span = info_span!("run", container = %id).entered();
                let mut config = bundle::load(&bundle)?;
                config.root.overlay = self.overlay == Overlay::Memory;
                Ok(exit_code(run::run(config, boot)?))
            }
            Command::Do { command } => {
                let config = host::command_config(command, self.overlay == Overlay::Memory)?;
                Ok(exit_code(run::run(config, boot)?))
            }
            Command::Spec { bundle } => {
                bundle::write_default_config(&bundle)?;
                Ok(0)
            }
        }
    }
}

fn exit_code(status: ExitStatus) -> u8 {
    u8::try_from(status.shell_code()).expect("an exit code or 128 + a signal number fits a byte")
}

/// A command-line error in cordon's one-line form: clap's message, then the
/// usage line of the verb being parsed when clap gives one.
pub fn usage_error_line(err: &clap::Error) -> String {
    // With no verb at all clap renders the whole help, which is no one-liner.
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let command = Cli::command();
        let verbs: Vec<&str> = command
            .get_subcommands()
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
        assert_eq!(cli.root, PathBuf::from("/run/cordon"));
        assert_eq!(cli.log, None);
        assert_eq!(cli.log_format, LogFormat::Text);
        assert!(!cli.debug && !cli.strace);
        assert!(cli.pin_cpu);
        assert_eq!(cli.platform, PlatformKind::Ptrace);
        match cli.command {
            Command::Run { bundle, id } => {
                assert_eq!(bundle, PathBuf::from("."));
                assert_eq!(id, "box");
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
        assert_eq!(cli.root, PathBuf::from("/tmp/state"));
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
            "a command is required, one of: run, do, spec; see 'cordon --help'"
        );
    }
}
