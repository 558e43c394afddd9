//! cordon's end-to-end tests, in one binary: real programs (C compiled by
//! the tests with gcc and musl-gcc, busybox-static) run through the `cordon`
//! command, checked on their output, their exit status and that nothing
//! outlives them. The programs' sources are in tests/fixtures/.

mod common;

mod bad_bundles;
mod job_control;
mod lifecycle;
mod processes;
mod readiness_timers;
mod run_programs;
mod stub_isolation;
mod threads;
