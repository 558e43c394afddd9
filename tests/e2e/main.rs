//! cordon's end-to-end tests, in one binary: real programs (C compiled by
//! the tests with gcc and musl-gcc, busybox-static, the host's own tools, a
//! Go program) run through the `cordon` command, checked on their output,
//! their exit status and that nothing outlives them. The C programs' sources
//! are in tests/fixtures/.

#![deny(unsafe_code)]

mod common;

mod anonfiles;
mod bad_bundles;
mod busybox_files;
mod credentials;
mod dynamic;
mod embedding;
mod file_mmap;
mod file_transfer;
mod files;
mod host_programs;
mod job_control;
mod lifecycle;
mod lifecycle_terminals;
mod mounts;
mod overlay;
mod processes;
mod procfs;
mod ptrace;
mod readiness_timers;
mod run_programs;
mod seccomp;
mod stub_isolation;
mod terminals;
mod threads;
