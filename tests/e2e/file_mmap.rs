//! mmap of files (tests/fixtures/file_mmap.c): shared mappings of tmpfs
//! files across fork, coherent with read and write; private copies;
//! /dev/zero; the access rules; msync and mincore.

use crate::common::Toolchain;
use crate::processes::check_sections;

const SECTIONS: &[&str] = &["shared_fork", "coherent", "private", "dev_zero", "access", "mincore"];

#[test]
fn file_mappings_glibc() {
    check_sections("file-mmap-glibc", "file_mmap", Toolchain::GlibcStatic, SECTIONS);
}

#[test]
fn file_mappings_musl() {
    check_sections("file-mmap-musl", "file_mmap", Toolchain::MuslStatic, SECTIONS);
}
