//! Threads: pthreads programs built by the tests (glibc and musl) run on
//! cordon as they do natively: shared memory and files, futexes behind
//! mutexes, condition variables and barriers, thread-local storage,
//! cancellation, signals to one thread, robust mutexes, fork from a thread,
//! and exit from a thread ending the process.

mod common;

use common::{Bundle, Spec, Toolchain};

const EXPECTED: &str = "workers counter=160000 sum=64\n\
                        cancel ok\n\
                        pthread_kill ok\n\
                        robust ok\n\
                        fork from thread 9\n";

fn threads(test: &str, toolchain: Toolchain) {
    let bundle = Bundle::with_program(test, "threads", toolchain, &Spec::new(&["/bin/threads"]));
    // exit(42) from a thread ends the process with 42.
    bundle
        .run(&[])
        .assert_code(42)
        .assert_stdout(EXPECTED)
        .assert_no_leftover();
}

#[test]
fn pthreads_glibc() {
    threads("threads-glibc", Toolchain::GlibcStatic);
}

#[test]
fn pthreads_musl() {
    threads("threads-musl", Toolchain::MuslStatic);
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
        .assert_code(42)
        .assert_stdout(EXPECTED)
        .assert_no_leftover();
}
