//! The memory overlay over the host end to end: `cordon do` runs busybox
//! over the host's root, changes a host directory made for the test
//! (creates, appends, renames, chmods, deletes), sees its changes inside,
//! and the test checks afterwards that the host directory is exactly as it
//! was: same entries, bytes, modes, owners, sizes, mtimes and ctimes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{Outcome, host_busybox, run_cordon, run_dir};

/// The busybox applets the scripts call, as links to the host's static
/// busybox: the host's own tools may be dynamically linked, which cordon
/// cannot load yet.
const APPLETS: &[&str] = &[
    "cat", "chmod", "cut", "find", "head", "ln", "ls", "md5sum", "mkdir", "mv", "od", "printf", "readlink", "rm",
    "sort", "stat", "truncate", "wc",
];

/// A directory of applet links, put first in the scripts' PATH.
fn applets() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = run_dir().join("applets");
        fs::create_dir_all(&dir).expect("create the applets directory");
        for applet in APPLETS {
            let link = dir.join(applet);
            if fs::symlink_metadata(&link).is_err() {
                symlink(host_busybox(), &link).unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
            }
        }
        dir
    })
}

/// A directory on the host made for one test, removed when dropped.
struct HostDir(PathBuf);

impl HostDir {
    fn new(test: &str) -> HostDir {
        let dir = run_dir().join("host").join(test);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        HostDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, contents: &[u8]) {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What the host knows of one entry; atime is left out (reads may move it).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    size: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// File bytes, or a symlink's target.
    data: Vec<u8>,
}

/// Every entry under `root`, by path relative to it (the root itself as "").
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let data = if meta.file_type().is_symlink() {
            fs::read_link(&path)
                .expect("readlink")
                .into_os_string()
                .into_encoded_bytes()
        } else if meta.is_file() {
            fs::read(&path).expect("read")
        } else {
            for child in fs::read_dir(&path).expect("read_dir") {
                pending.push(child.expect("directory entry").path());
            }
            Vec::new()
        };
        let relative = path.strip_prefix(root).expect("under the root").to_path_buf();
        entries.insert(
            relative,
            Entry {
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                nlink: meta.nlink(),
                size: meta.size(),
                ino: meta.ino(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                data,
            },
        );
    }
    entries
}

/// Runs `script` with `/bin/busybox sh -c` under `cordon [global...] do`,
/// in `dir` ($1), with the applets first in PATH.
fn run_script(global: &[&str], dir: &Path, script: &str) -> Outcome {
    let dir = dir.to_str().expect("a UTF-8 test path");
    let path = format!("PATH={}:/usr/bin:/bin", applets().display());
    let busybox = host_busybox().to_str().expect("a UTF-8 path");
    let mut args: Vec<&str> = global.to_vec();
    args.extend([
        "do", "--", busybox, "env", &path, busybox, "sh", "-c", script, "sh", dir,
    ]);
    run_cordon(&args)
}

/// 3 MiB of a pattern that repeats every 251 bytes, so a misplaced chunk shows.
fn big_file() -> Vec<u8> {
    (0..3 << 20).map(|i: u32| (i % 251) as u8).collect()
}

/// Create, append, copy up a large file, rename, chmod, remove a host
/// directory tree and make it again: all visible inside, none on the host.
#[test]
fn overlay_changes_stay_in_the_sandbox() {
    let host = HostDir::new("overlay-changes");
    host.write("a.txt", b"alpha\n");
    host.write("keep.txt", b"keep\n");
    host.write("sub/b.txt", b"beta\n");
    host.write("sub/deeper/c.txt", b"gamma\n");
    host.write("big.bin", &big_file());
    host.write("cut.bin", &big_file());
    symlink("a.txt", host.path().join("link")).expect("symlink");
    let before = snapshot(host.path());
    let script = r#"
        set -e
        cd "$1"
        echo new > created.txt
        echo more >> a.txt
        cat a.txt
        cat link
        ls
        mv keep.txt sub/kept.txt
        ls sub
        chmod 600 a.txt
        ls -l a.txt | cut -c1-10
        stat -c '%a %s' a.txt
        rm -r sub/deeper
        ls sub
        mkdir sub/deeper
        ls -a sub/deeper
        printf x >> big.bin
        wc -c < big.bin
        head -c 3145728 big.bin | md5sum | cut -d' ' -f1
        ln -s created.txt newlink
        readlink newlink
        cat newlink
        truncate -s 4 cut.bin
        od -An -tu1 cut.bin
        : > sub/b.txt
        wc -c < sub/b.txt
        find . | sort
    "#;
    let out = run_script(&[], host.path(), script);
    let big_md5 = md5_hex(&big_file());
    let expected = format!(
        "alpha\nmore\n\
         alpha\nmore\n\
         a.txt\nbig.bin\ncreated.txt\ncut.bin\nkeep.txt\nlink\nsub\n\
         b.txt\ndeeper\nkept.txt\n\
         -rw-------\n\
         600 11\n\
         b.txt\nkept.txt\n\
         .\n..\n\
         3145729\n\
         {big_md5}\n\
         created.txt\n\
         new\n\
         \x20  0   1   2   3\n\
         0\n\
         .\n./a.txt\n./big.bin\n./created.txt\n./cut.bin\n./link\n./newlink\n./sub\n./sub/b.txt\n./sub/deeper\n./sub/kept.txt\n"
    );
    out.assert_code(0).assert_stdout(&expected).assert_no_leftover();
    assert_eq!(snapshot(host.path()), before, "the host directory changed");
}

/// A host file removed inside is gone from listings and lookups there (a
/// whiteout), can be made again as something else, and stays on the host.
#[test]
fn overlay_whiteout_hides_a_host_file() {
    let host = HostDir::new("overlay-whiteout");
    host.write("victim.txt", b"still here\n");
    host.write("other.txt", b"other\n");
    host.write("dir/inside.txt", b"inside\n");
    let before = snapshot(host.path());
    let script = r#"
        cd "$1"
        rm victim.txt
        ls
        cat victim.txt 2>&1
        ls victim.txt 2>&1
        rm -r dir
        ls -a
        mkdir victim.txt
        ls -a victim.txt
        rmdir victim.txt
        mkdir dir
        ls -a dir
        echo again > victim.txt
        cat victim.txt
        ls
    "#;
    let out = run_script(&[], host.path(), script);
    let expected = "dir\nother.txt\n\
                    cat: can't open 'victim.txt': No such file or directory\n\
                    ls: victim.txt: No such file or directory\n\
                    .\n..\nother.txt\n\
                    .\n..\n\
                    .\n..\n\
                    again\n\
                    dir\nother.txt\nvictim.txt\n";
    out.assert_code(0).assert_stdout(expected).assert_no_leftover();
    assert_eq!(snapshot(host.path()), before, "the host directory changed");
    assert_eq!(
        fs::read(host.path().join("victim.txt")).expect("the host file is still there"),
        b"still here\n"
    );
}

/// `--overlay=none`: the root is the host's, read-only; reads work, writes
/// are EROFS and the host stays as it was.
#[test]
fn without_an_overlay_the_host_root_is_read_only() {
    let host = HostDir::new("overlay-none");
    host.write("a.txt", b"alpha\n");
    let before = snapshot(host.path());
    let script = r#"
        cd "$1"
        cat a.txt
        echo x > new.txt || echo create refused
        echo x >> a.txt || echo append refused
        rm a.txt 2>&1 || echo remove refused
        mkdir d 2>&1 || echo mkdir refused
        ls
    "#;
    let out = run_script(&["--overlay=none"], host.path(), script);
    out.assert_code(0).assert_no_leftover();
    assert_eq!(
        out.stdout,
        "alpha\n\
         create refused\n\
         append refused\n\
         rm: can't remove 'a.txt': Read-only file system\nremove refused\n\
         mkdir: can't create directory 'd': Read-only file system\nmkdir refused\n\
         a.txt\n",
        "{out}"
    );
    assert!(
        out.stderr.contains("Read-only file system"),
        "the shell's redirections report EROFS\n{out}"
    );
    assert_eq!(snapshot(host.path()), before, "the host directory changed");
}

/// md5 of `data` as hex, from the host's busybox (no crate for one digest).
fn md5_hex(data: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(host_busybox())
        .arg("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run busybox md5sum");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(data)
        .expect("feed md5sum");
    let out = child.wait_with_output().expect("busybox md5sum");
    String::from_utf8(out.stdout)
        .expect("hex")
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}
