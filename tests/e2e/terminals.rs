//! Pseudo-terminals end to end: tests/fixtures/pty.c opens /dev/ptmx and its
//! replica and checks the line discipline, controlling terminals and job
//! control section by section (it passes on the host too, run as
//! `setsid -w ./pty </dev/null`); a busybox shell runs interactively on a
//! replica.

use crate::common::{Bundle, Spec, Toolchain};
use crate::processes::check_sections;

const SECTIONS: &[&str] = &[
    "open",
    "echo",
    "canonical",
    "raw",
    "signals",
    "ctty",
    "background",
    "close",
];

#[test]
fn pseudo_terminals_glibc() {
    check_sections("pty-glibc", "pty", Toolchain::GlibcStatic, SECTIONS);
}

#[test]
fn pseudo_terminals_musl() {
    check_sections("pty-musl", "pty", Toolchain::MuslStatic, SECTIONS);
}

/// tests/fixtures/pty_shell.c starts `busybox sh -i` in a new session on a
/// pty replica (its controlling terminal), types `echo hi; exit 3` and
/// reads the transcript: the shell's job control (/dev/tty, tcsetpgrp) and
/// line editing (raw mode) run on cordon's terminal.
#[test]
fn interactive_busybox_shell_on_a_pty() {
    let spec = Spec::new(&["/bin/pty_shell", "/bin/sh", "-i"]).env(&["PATH=/bin", "HOME=/", "TERM=dumb"]);
    let bundle = Bundle::with_busybox("pty-shell", &spec);
    bundle.install_program("pty_shell", Toolchain::GlibcStatic);
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout("saw hi\nexit 3\n")
        .assert_no_leftover();
}
