//! Waiting in the kernel: poll and select over pipes, alarm and interval
//! timers waking pause, and what applications learn of CPUs and
//! scheduling, POSIX timers. Runs C programs built by the tests.

use crate::common::{Toolchain, run_fixture};

/// `sched` is what sched_getscheduler(0) returns: 0 (SCHED_OTHER) from
/// glibc; musl answers -1 itself without asking the kernel.
fn readiness_timers(test: &str, toolchain: Toolchain, sched: i32) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = format!(
        "poll empty 0\n\
         poll ready 1 revents 1\n\
         select 1 isset 1\n\
         pselect with a mask 1\n\
         alarm fired 1\n\
         itimer fired 4\n\
         cpus {cpus} sched {sched}\n\
         times ok 1\n"
    );
    run_fixture(test, "readiness_timers", toolchain, 0, &expected);
}

#[test]
fn readiness_and_timers_glibc() {
    readiness_timers("readiness-glibc", Toolchain::GlibcStatic, 0);
}

#[test]
fn readiness_and_timers_musl() {
    readiness_timers("readiness-musl", Toolchain::MuslStatic, -1);
}

fn posix_timers(test: &str, toolchain: Toolchain) {
    let expected = "timer rc=0 hits>=3 value=77 interval_ns=10000000 overrun>=0 1\n\
                    deleted gettime errno=22\n\
                    sigev_none armed 1\n";
    run_fixture(test, "posix_timers", toolchain, 0, expected);
}

#[test]
fn posix_timers_glibc() {
    posix_timers("posix-timers-glibc", Toolchain::GlibcStatic);
}

#[test]
fn posix_timers_musl() {
    posix_timers("posix-timers-musl", Toolchain::MuslStatic);
}

#[test]
fn cpu_time_and_cpu_timers() {
    let expected = "virtual 1 prof 1 interval 20000\n\
                    process clock >= thread clock 1, > 50 ms 1\n";
    run_fixture("cpu-timers", "cpu_timers", Toolchain::GlibcStatic, 0, expected);
}
