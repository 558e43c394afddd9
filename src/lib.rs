//! cordon: a sandbox for Linux containers whose system calls are served by
//! cordon's own kernel (DESIGN.md §1).
//!
//! This crate is the `cordon` command and the library beneath it: loading an
//! OCI bundle ([`bundle`]), turning its spec into what the kernel boots
//! ([`spec`], [`config`]), and running a sandbox to completion ([`run`]).

pub mod boot;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod host;
pub mod lifecycle;
pub mod logging;
pub mod run;
pub mod signals;
pub mod spec;
pub mod state;

pub use config::SandboxConfig;
