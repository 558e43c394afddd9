//! Readiness and anonymous files end to end: epoll, eventfd, timerfd,
//! signalfd and memfd_create, exercised by tests/fixtures/anonfiles.c
//! (sections as in check.h; it passes on the host too, which is how it was
//! checked against Linux), built with glibc and with musl.

use crate::common::{Toolchain, run_fixture};

/// Every section of the program, in order, each printing "<name> ok".
const SECTIONS: &[&str] = &[
    "epoll_level",
    "epoll_edge",
    "epoll_oneshot",
    "epoll_ctl",
    "epoll_close",
    "epoll_timeout",
    "epoll_eintr",
    "epoll_nested",
    "epoll_threads",
    "eventfd_counter",
    "eventfd_semaphore",
    "timerfd_oneshot",
    "timerfd_interval",
    "timerfd_abstime",
    "timerfd_epoll",
    "signalfd",
    "memfd_io",
    "memfd_seals",
    "memfd_mmap",
];

fn anonfiles(test: &str, toolchain: Toolchain) {
    let expected: String = SECTIONS.iter().map(|section| format!("{section} ok\n")).collect();
    run_fixture(test, "anonfiles", toolchain, 0, &expected);
}

#[test]
fn anonymous_files_glibc() {
    anonfiles("anonfiles-glibc", Toolchain::GlibcStatic);
}

#[test]
fn anonymous_files_musl() {
    anonfiles("anonfiles-musl", Toolchain::MuslStatic);
}
