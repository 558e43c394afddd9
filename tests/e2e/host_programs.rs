//! The host's own programs under `cordon do` (coreutils, findutils, grep,
//! tar, gzip, sed, awk, sqlite3, Debian's python3 and perl), checked against
//! the same commands run natively; the memory overlay keeping every write off
//! the host's root; attempts to leave a bundle's root (tests/fixtures/escape.c);
//! a static Go program built by the test.
//!
//! `cordon do` runs with the test's environment, so programs are named by
//! absolute path where a PATH entry (pyenv's shims) could shadow Debian's.
//! Scratch files made inside the sandbox live under /tmp/cordon-<test>-<pid>,
//! which only the sandbox's overlay ever holds: each test checks the host has
//! no such directory afterwards.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Bundle, Outcome, Spec, Toolchain, compile, run_cordon, run_dir};
use crate::common::{assert_fixture, sections_ok};

/// Debian's python3 (package python3), not a shim earlier on PATH.
const PYTHON3: &str = "/usr/bin/python3";

/// `cordon do -- /bin/sh -c <script>`, asserted to exit 0 with nothing left
/// behind.
fn sandboxed_sh(script: &str) -> Outcome {
    let out = run_cordon(&["do", "--", "/bin/sh", "-c", script]);
    out.assert_code(0).assert_no_leftover();
    out
}

/// The stdout of `/bin/sh -c <script>` run natively, which must exit 0.
fn native_sh(script: &str) -> String {
    let out = Command::new("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run /bin/sh -c {script:?}: {e}"));
    assert!(
        out.status.success(),
        "native /bin/sh -c {script:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the script prints UTF-8")
}

/// Runs `script` natively and in the sandbox and asserts both print the same,
/// returning that output.
#[track_caller]
fn same_as_native(script: &str) -> String {
    let native = native_sh(script);
    let out = sandboxed_sh(script);
    assert_eq!(
        out.stdout, native,
        "the sandbox and the host disagree on {script:?}\n{out}"
    );
    native
}

/// A directory for one test's files inside the sandbox: an absolute /tmp
/// path no host file has, asserted absent from the host.
fn sandbox_scratch(test: &str) -> String {
    let dir = format!("/tmp/cordon-{test}-{}", std::process::id());
    assert!(!Path::new(&dir).exists(), "{dir} exists on the host before the test");
    dir
}

/// Asserts the host has nothing at `path`: the sandbox's writes stayed in its
/// overlay.
#[track_caller]
fn assert_absent_on_host(path: &str) {
    assert!(
        fs::symlink_metadata(path).is_err(),
        "{path} reached the host's file system"
    );
}

/// A host directory owned by one test, under the test binary's run dir.
fn host_scratch(test: &str) -> PathBuf {
    let dir = run_dir().join("host-programs").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// `ls -la` lines with the "total" line dropped and directories' sizes
/// blanked: the overlay gives its directories their own nominal size.
fn comparable_listing(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|line| !line.starts_with("total "))
        .map(|line| {
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            if line.starts_with('d') && fields.len() > 4 {
                fields[4] = "-";
            }
            fields.join(" ")
        })
        .collect()
}

#[test]
fn ls_lists_the_hosts_usr() {
    let script = "/bin/ls -la /usr";
    let native = native_sh(script);
    let out = sandboxed_sh(script);
    assert_eq!(
        comparable_listing(&out.stdout),
        comparable_listing(&native),
        "ls -la /usr differs from the host's\n{out}"
    );
    assert!(native.lines().any(|line| line.ends_with(" bin")), "{native}");
}

#[test]
fn cat_and_sha256sum_read_host_files() {
    let release = fs::read_to_string("/etc/os-release").expect("read /etc/os-release");
    sandboxed_sh("/bin/cat /etc/os-release").assert_stdout(&release);
    // A few MiB, read in several chunks.
    let library = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    let digest = same_as_native(&format!("/usr/bin/sha256sum {library} /etc/os-release"));
    assert_eq!(digest.lines().count(), 2, "{digest}");
}

#[test]
fn find_sort_head_walk_the_hosts_docs() {
    same_as_native("/usr/bin/find /usr/share/doc -name '*.gz' | /usr/bin/sort | /usr/bin/head");
}

#[test]
fn grep_recurses_a_directory_made_by_the_test() {
    let dir = host_scratch("grep");
    for (path, text) in [
        ("a.txt", "alpha needle\nbeta\n"),
        ("sub/b.txt", "no match here\n"),
        ("sub/deeper/c.log", "gamma\nneedle in a log\nneedle again\n"),
        ("sub/deeper/d.bin", "needle\0binary\n"),
    ] {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().expect("a file has a parent")).expect("create the test's directories");
        fs::write(&file, text).expect("write a test file");
    }
    let out = same_as_native(&format!("/usr/bin/grep -rn needle {} | /usr/bin/sort", dir.display()));
    // The binary file's match is a message on stderr, not a line.
    assert_eq!(out.lines().count(), 3, "{out}");
}

#[test]
fn tar_round_trips_a_tree_in_tmp() {
    let tmp = sandbox_scratch("tar");
    let script = format!(
        "set -e; mkdir -p {tmp}/src/a/b && cd {tmp}; \
         echo one > src/a/one; seq 1 5000 > src/a/b/numbers; ln -s a/one src/link; \
         chmod 640 src/a/one; \
         tar czf tree.tgz src; rm -rf src; test ! -e src; \
         tar xzf tree.tgz; \
         find src | sort; stat -c '%n %a' src/a/one; readlink src/link; \
         cat src/a/one; tail -n 1 src/a/b/numbers; tar tzf tree.tgz | sort | head -n 2"
    );
    sandboxed_sh(&script).assert_stdout(
        "src\nsrc/a\nsrc/a/b\nsrc/a/b/numbers\nsrc/a/one\nsrc/link\n\
         src/a/one 640\na/one\none\n5000\nsrc/\nsrc/a/\n",
    );
    assert_absent_on_host(&tmp);
}

#[test]
fn gzip_output_matches_the_hosts_and_gunzip_restores() {
    let tmp = sandbox_scratch("gzip");
    let native = native_sh("/usr/bin/seq 1 20000 | /usr/bin/gzip -9n | /usr/bin/sha256sum");
    let script = format!(
        "set -e; mkdir {tmp}; seq 1 20000 > {tmp}/numbers; sha256sum < {tmp}/numbers; \
         gzip -9n {tmp}/numbers; test ! -e {tmp}/numbers; sha256sum < {tmp}/numbers.gz; \
         gunzip {tmp}/numbers.gz; sha256sum < {tmp}/numbers"
    );
    let out = sandboxed_sh(&script);
    let plain = native_sh("/usr/bin/seq 1 20000 | /usr/bin/sha256sum");
    out.assert_stdout(&format!("{plain}{native}{plain}"));
    assert_absent_on_host(&tmp);
}

#[test]
fn sed_and_awk_match_the_host() {
    same_as_native("/usr/bin/sed -n 's/^\\([^:]*\\):[^:]*:0:.*/root-like \\1/p' /etc/passwd");
    same_as_native(
        "/usr/bin/awk -F: '{ n++; shells[$NF]++ } END { printf \"%d users\\n\", n; \
         for (s in shells) print s, shells[s] }' /etc/passwd | /usr/bin/sort",
    );
    same_as_native("/usr/bin/seq 1 100 | /usr/bin/awk '{ s += $1 * $1 } END { print s }'");
}

#[test]
fn sqlite3_creates_and_queries_a_database() {
    let tmp = sandbox_scratch("sqlite");
    let script = format!(
        "set -e; mkdir {tmp}; db={tmp}/test.db; \
         /usr/bin/sqlite3 $db 'create table t (id integer primary key, name text); \
         insert into t (name) values (\"one\"), (\"two\"), (\"three\"); \
         create index t_name on t (name);'; \
         /usr/bin/sqlite3 $db 'begin; update t set name = upper(name) where id > 1; commit;'; \
         /usr/bin/sqlite3 $db 'select id, name from t order by name; select count(*) from t; \
         pragma integrity_check;'; \
         test -s $db && echo exists"
    );
    sandboxed_sh(&script).assert_stdout("3|THREE\n2|TWO\n1|one\n3\nok\nexists\n");
    assert_absent_on_host(&tmp);
}

/// Files written, renamed, walked, stat'ed and read back; four threads;
/// a subprocess; json and hashlib.
const PYTHON_SCRIPT: &str = r#"
import hashlib, json, os, subprocess, sys, threading

base = sys.argv[1]
os.makedirs(os.path.join(base, "a", "b"))
for i in range(5):
    tmp = os.path.join(base, "a", f"f{i}.tmp")
    with open(tmp, "w") as f:
        f.write(f"file {i}\n" * (i + 1))
    os.rename(tmp, os.path.join(base, "a", "b" if i % 2 else "", f"f{i}.txt"))
walked = []
for root, dirs, files in os.walk(base):
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(root, name)
        with open(path, "rb") as f:
            data = f.read()
        assert os.stat(path).st_size == len(data)
        walked.append([os.path.relpath(path, base), len(data), hashlib.sha256(data).hexdigest()[:12]])
print(json.dumps(walked))

digests = [None] * 4
def work(n):
    digests[n] = hashlib.sha256(str(n).encode() * 100000).hexdigest()[:8]
threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", digests)

child = subprocess.run(["/bin/sh", "-c", "echo from child; exit 3"], capture_output=True, text=True)
print("subprocess", child.returncode, child.stdout.strip())
print("json", json.loads(json.dumps({"n": len(walked)}))["n"])
"#;

#[test]
fn python3_writes_walks_hashes_threads_and_spawns() {
    let host = host_scratch("python3");
    let script = host.join("script.py");
    fs::write(&script, PYTHON_SCRIPT).expect("write the python script");
    let native_base = host.join("native");
    let native = Command::new(PYTHON3)
        .arg(&script)
        .arg(&native_base)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON3}: {e}: install python3"));
    assert!(
        native.status.success(),
        "native python3: {}",
        String::from_utf8_lossy(&native.stderr)
    );
    let native = String::from_utf8(native.stdout).expect("python prints UTF-8");
    assert!(native.contains("subprocess 3 from child\n"), "{native}");

    let tmp = sandbox_scratch("python3");
    let args: Vec<OsString> = vec![
        "do".into(),
        "--".into(),
        PYTHON3.into(),
        script.into(),
        tmp.clone().into(),
    ];
    let out = run_cordon(&args);
    out.assert_code(0).assert_stdout(&native).assert_no_leftover();
    assert_absent_on_host(&tmp);
}

#[test]
fn perl_evaluates_a_one_liner() {
    let out = same_as_native(
        "/usr/bin/perl -e 'my %h = map { $_ => $_ ** 2 } 1..10; \
         print join(\",\", map { \"$_=$h{$_}\" } sort { $a <=> $b } keys %h), \"\\n\"; \
         open(my $f, \"<\", \"/etc/os-release\") or die; my @l = <$f>; print scalar(@l) > 0 ? \"read\\n\" : \"empty\\n\"'",
    );
    assert!(out.starts_with("1=1,2=4,3=9,"), "{out}");
}

#[test]
fn overlay_keeps_writes_to_etc_off_the_host() {
    let probe = format!("/etc/cordon-probe-{}", std::process::id());
    assert_absent_on_host(&probe);
    let hostname = fs::read("/etc/hostname").expect("read the host's /etc/hostname");
    sandboxed_sh(&format!(
        "echo x > {probe}; rm /etc/hostname; cat {probe}; test -e /etc/hostname || echo removed"
    ))
    .assert_stdout("x\nremoved\n");
    assert_absent_on_host(&probe);
    assert_eq!(
        fs::read("/etc/hostname").expect("the host's /etc/hostname is still there"),
        hostname,
        "/etc/hostname changed on the host"
    );
}

/// The sections of escape.c.
const ESCAPE_SECTIONS: &[&str] = &[
    "absolute_symlink",
    "relative_symlink",
    "dotdot",
    "proc_root",
    "proc_cwd",
    "chroot_escape",
    "exec_symlink",
    "hard_link",
    "file_handles",
];

/// What the marker outside the rootfs holds; escape.c fails any section that
/// reads "OUTSIDE".
const MARKER: &str = "OUTSIDE the root: reading this is an escape\n";

#[test]
fn escapes_from_a_bundle_root_stay_inside() {
    let bundle = Bundle::new("escape");
    bundle.install_program("escape", Toolchain::GlibcStatic);
    let marker = bundle.path().join("secret");
    fs::write(&marker, MARKER).expect("write the marker outside the rootfs");
    let rootfs = bundle.rootfs();
    fs::write(rootfs.join("secret"), "inside the root\n").expect("write the rootfs's secret");
    fs::create_dir_all(rootfs.join("etc")).expect("create rootfs/etc");
    fs::write(rootfs.join("etc/shadow"), "the rootfs's shadow\n").expect("write rootfs/etc/shadow");
    let outside_program = bundle.path().join("outside_prog");
    fs::copy(compile("escape", Toolchain::GlibcStatic), &outside_program).expect("copy a program outside the rootfs");
    let links: [(&str, &Path); 7] = [
        ("abs_shadow", Path::new("/etc/shadow")),
        ("abs_marker", &marker),
        ("abs_prog", &outside_program),
        ("bin/rel_prog", Path::new("../../outside_prog")),
        ("bin/rel_marker", Path::new("../../../../../../../../../../secret")),
        ("up", Path::new("..")),
        ("bin/up_chain", Path::new("../up/../../up/..")),
    ];
    for (link, target) in links {
        symlink(target, rootfs.join(link)).unwrap_or_else(|e| panic!("cannot link rootfs/{link}: {e}"));
    }
    let marker_env = format!("MARKER_HOST_PATH={}", marker.display());
    bundle.write_spec(&Spec::new(&["/bin/escape"]).env(&["PATH=/bin", &marker_env]));

    let out = bundle.run(&[]);
    assert_fixture(&out, &sections_ok(ESCAPE_SECTIONS));
    assert_eq!(fs::read_to_string(&marker).expect("the marker is still there"), MARKER);
}

/// A static Go program (`CGO_ENABLED=0 go build`, Debian's golang-go): with
/// no argument it prints from four goroutines; with `walk DIR` it walks DIR.
const GO_PROGRAM: &str = r#"package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "walk" {
		err := filepath.WalkDir(os.Args[2], func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if d.IsDir() {
				fmt.Printf("%s dir\n", path)
			} else {
				fmt.Printf("%s %d bytes\n", path, info.Size())
			}
			return nil
		})
		if err != nil {
			fmt.Println("walk:", err)
			os.Exit(1)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lines []string
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			sum := 0
			for k := 0; k <= 100000*(n+1); k++ {
				sum += k
			}
			mu.Lock()
			lines = append(lines, fmt.Sprintf("goroutine %d sum %d", n, sum))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}
"#;

/// Builds `GO_PROGRAM` statically (once per test binary) and returns its
/// path. The build cache is kept under the target's tmp directory between
/// runs; nothing is downloaded.
fn go_program() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = run_dir().join("go");
        fs::create_dir_all(&dir).expect("create the Go build directory");
        let source = dir.join("main.go");
        fs::write(&source, GO_PROGRAM).expect("write the Go program");
        let binary = dir.join("goprog");
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache");
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg(&source)
            .current_dir(&dir)
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", &cache)
            .env("GOPATH", dir.join("gopath"))
            .env("GOENV", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .output()
            .unwrap_or_else(|e| panic!("cannot run go: {e}: install golang-go"));
        assert!(
            out.status.success(),
            "go build failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        binary
    })
}

/// A bundle running the Go program with `args`, a small tree at /data to walk.
fn go_bundle(test: &str, args: &[&str]) -> Bundle {
    let bundle = Bundle::new(test);
    bundle.install("goprog", go_program());
    let data = bundle.rootfs().join("data");
    fs::create_dir_all(data.join("sub")).expect("create rootfs/data/sub");
    fs::write(data.join("a.txt"), "12345").expect("write rootfs/data/a.txt");
    fs::write(data.join("sub/b.txt"), "1234567890").expect("write rootfs/data/sub/b.txt");
    let argv: Vec<&str> = std::iter::once("/bin/goprog").chain(args.iter().copied()).collect();
    bundle.write_spec(&Spec::new(&argv));
    bundle
}

#[test]
fn go_program_prints_from_four_goroutines() {
    go_bundle("go-goroutines", &[])
        .run(&[])
        .assert_code(0)
        .assert_stdout(
            "goroutine 0 sum 5000050000\ngoroutine 1 sum 20000100000\n\
             goroutine 2 sum 45000150000\ngoroutine 3 sum 80000200000\n",
        )
        .assert_no_leftover();
}

#[test]
fn go_program_walks_a_directory() {
    go_bundle("go-walk", &["walk", "/data"])
        .run(&[])
        .assert_code(0)
        .assert_stdout("/data dir\n/data/a.txt 5 bytes\n/data/sub dir\n/data/sub/b.txt 10 bytes\n")
        .assert_no_leftover();
}
