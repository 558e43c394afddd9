//! Threads: pthreads programs built by the tests (glibc and musl) run on
//! cordon as they do natively: shared memory and files, futexes behind
//! mutexes, condition variables and barriers, thread-local storage,
//! cancellation, signals to one thread, robust mutexes, fork from a thread,
//! and exit from a thread ending the process.

use crate::common::{Bundle, Spec, Toolchain, run_fixture};

const EXPECTED: &str = "workers counter=160000 sum=64\n\
                        cancel ok\n\
                        pthread_kill ok\n\
                        robust ok\n\
                        fork from thread 9\n";

/// exit(42) from a thread ends the process with 42.
const EXIT_FROM_THREAD: i32 = 42;

#[test]
fn pthreads_glibc() {
    run_fixture(
        "threads-glibc",
        "threads",
        Toolchain::GlibcStatic,
        EXIT_FROM_THREAD,
        EXPECTED,
    );
}

#[test]
fn pthreads_musl() {
    run_fixture(
        "threads-musl",
        "threads",
        Toolchain::MuslStatic,
        EXIT_FROM_THREAD,
        EXPECTED,
    );
}

#[test]
fn pthreads_unpinned() {
    let bundle = Bundle::with_program(
        "threads-unpinned",
        "threads",
        Toolchain::GlibcStatic,
        &Spec::new(&["/bin/threads"]),
    );
    bundle
        .run(&["--pin-cpu", "false"])
        .assert_code(EXIT_FROM_THREAD)
        .assert_stdout(EXPECTED)
        .assert_no_leftover();
}
