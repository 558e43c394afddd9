//! Files end to end: tests/fixtures/files.c exercises the file system calls
//! (open flags, I/O, sparse files, truncation, stat and statx, getdents64,
//! directories, rename, links, symlinks, the working directory, attributes,
//! xattrs, devices, statfs, read-only mounts, a full tmpfs, permissions of a
//! user) in a bundle whose root is read-only, with the runc default mounts
//! plus a tmpfs on /tmp and a 64 KiB tmpfs on /small.
//!
//! Every section passes on Linux too: run the fixture as root with
//! `FILES_DIR` on a tmpfs, and its `user` section as uid 1000.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{Bundle, Spec, Toolchain, assert_fixture, sections_ok};

/// A bundle running `/bin/files <sections>` as `uid:gid`, with /tmp and
/// /small tmpfs mounts and a root-owned `/etc/secret` of mode 0600.
fn files_bundle(test: &str, uid: u32, sections: &[&str]) -> Bundle {
    let argv: Vec<&str> = std::iter::once("/bin/files").chain(sections.iter().copied()).collect();
    let spec = Spec::new(&argv)
        .env(&["PATH=/bin", "FILES_DIR=/tmp", "FILES_SMALL=/small"])
        .user(uid, uid, &[])
        .tmpfs("/tmp", &["nosuid", "nodev", "mode=1777"])
        .tmpfs("/small", &["size=64k", "mode=755"]);
    let bundle = Bundle::with_program(test, "files", Toolchain::GlibcStatic, &spec);
    let etc = bundle.rootfs().join("etc");
    fs::create_dir(&etc).expect("create rootfs/etc");
    let secret = etc.join("secret");
    fs::write(&secret, "only root reads this\n").expect("write rootfs/etc/secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod rootfs/etc/secret");
    bundle
}

/// Runs `sections` as root and expects each to pass.
fn check_as_root(test: &str, sections: &[&str]) {
    let bundle = files_bundle(test, 0, sections);
    assert_fixture(&bundle.run(&[]), &sections_ok(sections));
}

#[test]
fn file_data() {
    check_as_root(
        "files-data",
        &["open", "rw", "append", "sparse", "truncate", "sync", "close_range"],
    );
}

#[test]
fn file_metadata() {
    check_as_root("files-metadata", &["stat", "access", "attrs", "xattr"]);
}

#[test]
fn file_names() {
    check_as_root("files-names", &["getdents", "dirs", "rename", "link", "symlink", "cwd"]);
}

#[test]
fn devices_and_mounts() {
    check_as_root("files-mounts", &["devices", "statfs", "rootfs", "erofs", "enospc"]);
}

/// uid 1000 against root's files: the fixture expects `/etc/secret` to be
/// owned by root, which it is when the tests run as root (the overlay shows
/// host owners).
#[test]
fn permissions_of_a_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the bundle's files must be root's, so the tests must run as root");
        return;
    }
    let bundle = files_bundle("files-user", 1000, &["user"]);
    assert_fixture(&bundle.run(&[]), &sections_ok(&["user"]));
}
