//! Pseudo-terminals end to end: tests/fixtures/pty.c opens /dev/ptmx and its
//! replica and checks the line discipline, controlling terminals and job
//! control section by section (it passes on the host too, run as
//! `setsid -w ./pty </dev/null`); a busybox shell runs interactively on a
//! replica.

use crate::common::Toolchain;
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
