//! Users and privileges end to end: tests/fixtures/credentials.c (the
//! set*id family, filesystem ids, groups, capget/capset, the bounding and
//! ambient sets, securebits, what execve does to capabilities, a
//! set-user-id file, no_new_privs, kill's permission rules) run natively and
//! in a bundle, and bundles whose spec narrows the capabilities, compared
//! with the same shell commands run natively under `setpriv` with the same
//! sets, as runc would set them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::{
    Bundle, Outcome, Spec, Toolchain, assert_fixture, compile, host_busybox, run_dir, sections_ok, spawn_cordon,
};

const TIMEOUT: Duration = Duration::from_secs(120);

const SECTIONS: &[&str] = &[
    "ids",
    "saved",
    "fsuid",
    "groups",
    "capsets",
    "bounding",
    "securebits",
    "exec_caps",
    "setuid_exec",
    "no_new_privs",
    "kill_rules",
    "dumpable",
    "uts",
];

/// A scratch directory of this test binary, emptied first, that anyone
/// may create files in (mode 1777, as /tmp).
fn scratch(name: &str) -> PathBuf {
    let dir = run_dir().join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", dir.display()));
    dir
}

/// Runs the fixture on the host, where its expectations come from.
fn native_fixture(toolchain: Toolchain) {
    let program = compile("credentials", toolchain);
    let tmp = scratch(&format!("credentials-native-{toolchain:?}"));
    let out = Command::new(&program)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout == sections_ok(SECTIONS),
        "natively, credentials ({toolchain:?}) {}:\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&tmp);
}

fn sandboxed_fixture(test: &str, toolchain: Toolchain) {
    let spec = Spec::new(&["/bin/credentials"]).tmpfs("/tmp", &["mode=1777"]);
    let bundle = Bundle::with_program(test, "credentials", toolchain, &spec);
    let out = spawn_cordon(&bundle.run_args(&[])).wait(TIMEOUT);
    assert_fixture(&out, &sections_ok(SECTIONS));
}

#[test]
fn credentials_as_on_linux_glibc() {
    native_fixture(Toolchain::GlibcStatic);
    sandboxed_fixture("credentials-glibc", Toolchain::GlibcStatic);
}

/// musl's set*id calls reach every thread through a signal of its own.
#[test]
fn credentials_as_on_linux_musl() {
    native_fixture(Toolchain::MuslStatic);
    sandboxed_fixture("credentials-musl", Toolchain::MuslStatic);
}

/// What the spec-capability tests print: the process's sets, its
/// no_new_privs, its uid, and whether it may chown.
const REPORT: &str = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; id -u; \
                      cd \"$DIR\" && touch f && chown 1 f 2>&1; echo chown=$?";

/// Runs `REPORT` natively, as `setpriv` with `options` sets it up.
fn native_report(name: &str, options: &[&str]) -> String {
    let dir = scratch(name);
    let out = Command::new("setpriv")
        .args(options)
        .arg(host_busybox())
        .args(["sh", "-c", REPORT])
        .env("DIR", &dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run setpriv (util-linux): {e}"));
    assert!(
        out.status.success(),
        "setpriv {options:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout).expect("the report is UTF-8")
}

/// Runs `REPORT` in a bundle with `spec`'s process settings.
fn sandboxed_report(test: &str, spec: Spec) -> Outcome {
    let spec = spec.env(&["PATH=/bin", "DIR=/tmp"]).tmpfs("/tmp", &["mode=1777"]);
    let bundle = Bundle::with_busybox(test, &spec);
    bundle.link_applets(&["grep", "touch", "chown"]);
    spawn_cordon(&bundle.run_args(&[])).wait(TIMEOUT)
}

#[track_caller]
fn assert_same(native: &str, out: &Outcome) {
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, native, "the sandbox and setpriv disagree\n{out}");
}

/// runc's default set without CAP_AUDIT_WRITE, and no_new_privs: root holds
/// CAP_KILL and CAP_NET_BIND_SERVICE only (CapEff 0x420) and cannot chown.
#[test]
fn spec_capabilities_narrow_root() {
    let native = native_report(
        "credentials-root-native",
        &[
            "--bounding-set",
            "-all,+kill,+net_bind_service",
            "--inh-caps",
            "-all",
            "--no-new-privs",
        ],
    );
    assert!(native.contains("CapEff:\t0000000000000420\n"), "{native}");
    assert!(native.contains("Operation not permitted"), "{native}");
    let caps = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let spec = Spec::new(&["/bin/sh", "-c", REPORT])
        .capabilities(json!({ "bounding": caps, "effective": caps, "permitted": caps }))
        .no_new_privileges();
    assert_same(&native, &sandboxed_report("credentials-root", spec));
}

/// An ordinary user keeps exactly its ambient capabilities across the exec
/// of its program.
#[test]
fn spec_ambient_capabilities_reach_an_ordinary_user() {
    let native = native_report(
        "credentials-user-native",
        &[
            "--reuid",
            "1000",
            "--regid",
            "1000",
            "--clear-groups",
            "--bounding-set",
            "-all,+net_bind_service",
            "--inh-caps",
            "-all,+net_bind_service",
            "--ambient-caps",
            "-all,+net_bind_service",
        ],
    );
    assert!(native.contains("CapEff:\t0000000000000400\n"), "{native}");
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    let spec = Spec::new(&["/bin/sh", "-c", REPORT])
        .user(1000, 1000, &[])
        .capabilities(json!({
            "bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps
        }));
    assert_same(&native, &sandboxed_report("credentials-user", spec));
}

/// Without a `capabilities` object root keeps every capability: the same
/// as the host's root without narrowing (its bounding set aside).
#[test]
fn spec_without_capabilities_keeps_roots() {
    let out = sandboxed_report("credentials-full", Spec::new(&["/bin/sh", "-c", REPORT]));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("CapEff:\t000001ffffffffff\n"), "{out}");
    assert!(out.stdout.contains("NoNewPrivs:\t0\n"), "{out}");
    assert!(out.stdout.contains("chown=0\n"), "{out}");
}

/// The host's setpriv, run inside the sandbox, sets up users and
/// capabilities as it does on the host.
#[test]
fn setpriv_inside_the_sandbox_as_on_the_host() {
    let runs: [&[&str]; 2] = [
        &[
            "--reuid",
            "1000",
            "--regid",
            "1000",
            "--clear-groups",
            "--inh-caps",
            "-all,+net_bind_service",
            "--ambient-caps",
            "-all,+net_bind_service",
            "--bounding-set",
            "-all,+net_bind_service",
        ],
        &["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all,+kill"],
    ];
    for options in runs {
        let mut argv = vec!["/usr/bin/setpriv"];
        argv.extend_from_slice(options);
        argv.extend_from_slice(&[
            "/bin/grep",
            "-E",
            "^(Cap|Uid|Gid|Groups|NoNewPrivs)",
            "/proc/self/status",
        ]);
        let native = Command::new(argv[0]).args(&argv[1..]).output().expect("run setpriv");
        assert!(native.status.success(), "setpriv {options:?}: {native:?}");
        let mut args = vec!["do", "--"];
        args.extend_from_slice(&argv);
        let out = crate::common::run_cordon(&args);
        out.assert_code(0).assert_no_leftover();
        assert_eq!(
            out.stdout,
            String::from_utf8_lossy(&native.stdout),
            "setpriv {options:?}\n{out}"
        );
    }
}

/// apt-get update drops to its `_apt` user for downloading (no_new_privs,
/// setgroups, setresgid, setresuid) and then fails only at name
/// resolution: the sandbox has no network, so nothing leaves it.
#[test]
fn apt_get_update_gets_past_its_privilege_drop() {
    let apt = Command::new("id").args(["-u", "_apt"]).output().expect("run id");
    assert!(apt.status.success(), "no _apt user on this host: {apt:?}");
    let apt_uid = String::from_utf8_lossy(&apt.stdout).trim().to_owned();
    let out = crate::common::run_cordon(&[
        "do",
        "--",
        "/usr/bin/strace",
        "-f",
        "-qq",
        "-e",
        "trace=setgroups,setresgid,setresuid",
        "-e",
        "signal=none",
        "/usr/bin/apt-get",
        "update",
    ]);
    out.assert_code(0).assert_no_leftover();
    // apt's main process takes _apt as its effective uid (seteuid); the
    // download methods it starts drop to it for good (setresuid).
    let effective = format!(", {apt_uid}, ");
    let dropped = out
        .stderr
        .lines()
        .any(|line| line.contains("setresuid(") && line.contains(&effective) && line.ends_with("= 0"));
    assert!(dropped, "apt did not become _apt\n{out}");
    let refused = out
        .stderr
        .lines()
        .any(|line| (line.contains("setgroups(") || line.contains("setres")) && line.contains(" = -1 "));
    assert!(!refused, "a step of the privilege drop failed\n{out}");
    let printed = format!("{}{}", out.stdout, out.stderr);
    assert!(
        printed.contains("Temporary failure resolving"),
        "apt failed before name resolution\n{out}"
    );
    assert!(
        !printed.contains("E: setgroups") && !printed.contains("E: seteuid"),
        "{out}"
    );
}
