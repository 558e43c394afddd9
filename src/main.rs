//! The `cordon` command.

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use cordon::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are not errors; clap prints them to stdout.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            eprintln!("cordon: {}", cli::usage_error_line(&err));
            return ExitCode::from(cli::USAGE_EXIT_CODE);
        }
    };
    match cli.execute() {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("cordon: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
