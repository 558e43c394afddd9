//! Advisory locks and in-kernel copies (tests/fixtures/file_transfer.c):
//! flock, fcntl record and OFD locks between processes; sendfile,
//! copy_file_range and splice; FIFOs opened by name.

use crate::common::Toolchain;
use crate::processes::check_sections;

const SECTIONS: &[&str] = &["flock", "posix", "ofd", "sendfile", "copy_file_range", "splice", "fifo"];

#[test]
fn locks_and_copies_glibc() {
    check_sections("file-transfer-glibc", "file_transfer", Toolchain::GlibcStatic, SECTIONS);
}

#[test]
fn locks_and_copies_musl() {
    check_sections("file-transfer-musl", "file_transfer", Toolchain::MuslStatic, SECTIONS);
}
