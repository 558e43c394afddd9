//! Job control: stops and continues of a child are visible to waitpid
//! (WUNTRACED, WCONTINUED) and reported by SIGCHLD with their si_code.

use crate::common::{Toolchain, run_fixture};

const EXPECTED: &str = "stopped 1 by 19\ncontinued 1\nexited 1 code 5\nsigchld codes 1 1 1\n";

#[test]
fn stops_and_continues_glibc() {
    run_fixture("job-control-glibc", "job_control", Toolchain::GlibcStatic, 0, EXPECTED);
}

#[test]
fn stops_and_continues_musl() {
    run_fixture("job-control-musl", "job_control", Toolchain::MuslStatic, 0, EXPECTED);
}
