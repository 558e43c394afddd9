//! Job control: stops and continues of a child are visible to waitpid
//! (WUNTRACED, WCONTINUED) and reported by SIGCHLD with their si_code.

mod common;

use common::{Bundle, Spec, Toolchain};

fn job_control(test: &str, toolchain: Toolchain) {
    let expected = "stopped 1 by 19\ncontinued 1\nexited 1 code 5\nsigchld codes 1 1 1\n";
    let bundle = Bundle::with_program(test, "job_control", toolchain, &Spec::new(&["/bin/job_control"]));
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout(expected)
        .assert_no_leftover();
}

#[test]
fn stops_and_continues_glibc() {
    job_control("job-control-glibc", Toolchain::GlibcStatic);
}

#[test]
fn stops_and_continues_musl() {
    job_control("job-control-musl", Toolchain::MuslStatic);
}
