//! cordon: a sandbox for Linux containers whose system calls are served by
//! cordon's own kernel (DESIGN.md §1).
//!
//! This crate is the `cordon` command and the library beneath it:
//! - [`Sandbox`]: a sandbox driven from a Rust program (a sandbox process
//!   the program starts and talks to through its control socket);
//! - [`cli`] and [`lifecycle`]: the runc-compatible verbs, clients of the
//!   sandbox process [`boot`] runs, through the control socket in the
//!   [`state`] directory; the host terminals they hand to a sandbox
//!   ([`terminal`]); [`users`] resolves `exec --user` names in the
//!   container's rootfs;
//! - loading an OCI bundle ([`bundle`]) and turning its spec into what the
//!   kernel boots ([`spec`], [`config`]); `cordon do` ([`host`], [`run`]).

#![deny(unsafe_code)]

pub mod boot;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod host;
pub mod lifecycle;
pub mod logging;
pub mod mounts;
pub mod run;
pub mod sandbox;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod state;
pub mod terminal;
pub mod users;

pub use config::SandboxConfig;
pub use cordon_kernel::{ExitStatus, PlatformKind};
pub use sandbox::{Output, Sandbox, SandboxBuilder, SandboxError, SandboxStdio};
