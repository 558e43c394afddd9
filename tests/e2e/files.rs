//! Files end to end: tests/fixtures/files.c exercises the file system calls
//! (open flags, I/O, sparse files, truncation, stat and statx, getdents64,
//! directories, rename, links, symlinks, the working directory, attributes,
//! xattrs, devices, statfs, read-only mounts, a full tmpfs, permissions of a
//! user) in a bundle whose root is read-only, with the runc default mounts
//! plus a tmpfs on /tmp and a 64 KiB tmpfs on /small.
//!
//! Every section passes on Linux too, built with glibc or musl: run the
//! fixture as root with `FILES_DIR` on a tmpfs, and its `user` section as
//! uid 1000.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{Bundle, Spec, Toolchain, assert_fixture, sections_ok};

/// A bundle running `/bin/files <sections>` (compiled with `toolchain`) as
/// `uid:gid`, with /tmp and /small tmpfs mounts and a root-owned
/// `/etc/secret` of mode 0600.
fn files_bundle(test: &str, toolchain: Toolchain, uid: u32, sections: &[&str]) -> Bundle {
    let argv: Vec<&str> = std::iter::once("/bin/files").chain(sections.iter().copied()).collect();
    let spec = Spec::new(&argv)
        .env(&["PATH=/bin", "FILES_DIR=/tmp", "FILES_SMALL=/small"])
        .user(uid, uid, &[])
        .tmpfs("/tmp", &["nosuid", "nodev", "mode=1777"])
        .tmpfs("/small", &["size=64k", "mode=755"]);
    let bundle = Bundle::with_program(test, "files", toolchain, &spec);
    let etc = bundle.rootfs().join("etc");
    fs::create_dir(&etc).expect("create rootfs/etc");
    let secret = etc.join("secret");
    fs::write(&secret, "only root reads this\n").expect("write rootfs/etc/secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod rootfs/etc/secret");
    bundle
}

/// Runs `sections` as root and expects each to pass.
fn check_as_root(test: &str, toolchain: Toolchain, sections: &[&str]) {
    let bundle = files_bundle(test, toolchain, 0, sections);
    assert_fixture(&bundle.run(&[]), &sections_ok(sections));
}

/// Open flags, I/O, appends, sparse files, truncation, syncing, sendfile,
/// close_range.
const DATA: &[&str] = &[
    "open",
    "rw",
    "append",
    "create_race",
    "sparse",
    "truncate",
    "sync",
    "sendfile",
    "close_range",
];
/// stat and statx, access, modes, owners, times, umask, xattrs.
const METADATA: &[&str] = &["stat", "access", "attrs", "xattr"];
/// getdents64, directories, rename, links, symlinks, the working directory.
const NAMES: &[&str] = &["getdents", "dirs", "rename", "rename_race", "link", "symlink", "cwd"];
/// Devices, statfs, the read-only root, a full tmpfs.
const MOUNTS: &[&str] = &["devices", "statfs", "rootfs", "erofs", "enospc"];

// glibc calls the *at system calls (openat, newfstatat, ...); musl the
// older ones (open, stat, mkdir, rename, ...) where x86-64 has them.

#[test]
fn file_data_glibc() {
    check_as_root("files-data-glibc", Toolchain::GlibcStatic, DATA);
}

#[test]
fn file_data_musl() {
    check_as_root("files-data-musl", Toolchain::MuslStatic, DATA);
}

#[test]
fn file_metadata_glibc() {
    check_as_root("files-metadata-glibc", Toolchain::GlibcStatic, METADATA);
}

#[test]
fn file_metadata_musl() {
    check_as_root("files-metadata-musl", Toolchain::MuslStatic, METADATA);
}

#[test]
fn file_names_glibc() {
    check_as_root("files-names-glibc", Toolchain::GlibcStatic, NAMES);
}

#[test]
fn file_names_musl() {
    check_as_root("files-names-musl", Toolchain::MuslStatic, NAMES);
}

#[test]
fn devices_and_mounts_glibc() {
    check_as_root("files-mounts-glibc", Toolchain::GlibcStatic, MOUNTS);
}

#[test]
fn devices_and_mounts_musl() {
    check_as_root("files-mounts-musl", Toolchain::MuslStatic, MOUNTS);
}

/// uid 1000 against root's files: the fixture expects `/etc/secret` to be
/// owned by root, which it is when the tests run as root (the overlay shows
/// host owners).
fn permissions_of_a_user(test: &str, toolchain: Toolchain) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the bundle's files must be root's, so the tests must run as root");
        return;
    }
    let bundle = files_bundle(test, toolchain, 1000, &["user"]);
    assert_fixture(&bundle.run(&[]), &sections_ok(&["user"]));
}

#[test]
fn permissions_of_a_user_glibc() {
    permissions_of_a_user("files-user-glibc", Toolchain::GlibcStatic);
}

#[test]
fn permissions_of_a_user_musl() {
    permissions_of_a_user("files-user-musl", Toolchain::MuslStatic);
}
