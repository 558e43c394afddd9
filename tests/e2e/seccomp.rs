//! Seccomp end to end: the OCI profile a bundle's `linux.seccomp` gives
//! (enforced by cordon's kernel on every application call, for the init
//! and for processes `exec` adds), and tests/fixtures/seccomp.c, the
//! filters applications install themselves (seccomp(2), PR_SET_SECCOMP),
//! run natively and in a bundle.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Bundle, Spec, Toolchain, assert_fixture, compile, run_dir, sections_ok, spawn_cordon};
use crate::lifecycle::Container;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Allows everything but: mkdir answers EPERM; chmod to a set-user-id
/// mode EACCES (an argument condition); sync kills the process.
fn profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" },
            { "names": ["chmod", "fchmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ" }] },
            { "names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 2, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ" }] },
            { "names": ["sync"], "action": "SCMP_ACT_KILL_PROCESS" },
            { "names": ["arm_fadvise64_64", "no_such_call"], "action": "SCMP_ACT_ERRNO" }
        ]
    })
}

const SCRIPT: &str = "mkdir /tmp/d 2>&1; echo mkdir=$?; touch /tmp/f; echo touch=$?; \
                      chmod 644 /tmp/f; echo chmod=$?; chmod 4755 /tmp/f 2>&1; echo setuid=$?; \
                      sync; echo sync=$?";

#[test]
fn a_profile_answers_the_calls_it_names() {
    let spec = Spec::new(&["/bin/sh", "-c", SCRIPT])
        .tmpfs("/tmp", &["mode=1777"])
        .seccomp(profile());
    let bundle = Bundle::with_busybox("seccomp-profile", &spec);
    bundle.link_applets(&["mkdir", "touch", "chmod", "sync"]);
    let out = spawn_cordon(&bundle.run_args(&[])).wait(TIMEOUT);
    assert_eq!(out.code, Some(0), "{out}");
    // sync is killed by SIGSYS (31): the shell reports 128 + 31.
    assert_eq!(
        out.stdout,
        "mkdir: can't create directory '/tmp/d': Operation not permitted\nmkdir=1\ntouch=0\nchmod=0\n\
         chmod: /tmp/f: Permission denied\nsetuid=1\nsync=159\n",
        "{out}"
    );
}

/// A process `exec` starts runs under its container's profile, as with runc.
#[test]
fn exec_runs_under_the_containers_profile() {
    let spec = Spec::new(&["sleep", "1000"])
        .tmpfs("/tmp", &["mode=1777"])
        .seccomp(profile());
    let container = Container::with_spec("seccomp-exec", &spec);
    container.bundle.link_applets(&["mkdir"]);
    let id = container.id();
    container.create(&[]);
    container.cordon(&["start", id]).success();
    let ran = container.cordon(&["exec", id, "sh", "-c", "mkdir /tmp/d 2>&1; echo $?"]);
    assert_eq!(
        ran.success().stdout.as_str(),
        "mkdir: can't create directory '/tmp/d': Operation not permitted\n1\n"
    );
    container.cordon(&["delete", "--force", id]).success();
}

#[test]
fn a_bad_profile_is_a_clear_error() {
    let spec = Spec::new(&["/bin/true"]).seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ERRNO",
                       "args": [{ "index": 7, "value": 0, "op": "SCMP_CMP_EQ" }] }]
    }));
    let bundle = Bundle::with_busybox("seccomp-bad-profile", &spec);
    let out = bundle.run(&[]);
    out.assert_failure();
    assert!(out.stderr.contains("argument index 7"), "{out}");
}

const SECTIONS: &[&str] = &[
    "strict",
    "errno",
    "args",
    "trap",
    "kill",
    "precedence",
    "inherit",
    "tsync",
    "validation",
    "actions",
    "nnp",
];

fn native_fixture(toolchain: Toolchain) {
    let program = compile("seccomp", toolchain);
    let out = Command::new(&program)
        .current_dir(run_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout == sections_ok(SECTIONS),
        "natively, seccomp ({toolchain:?}) {}:\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sandboxed_fixture(test: &str, toolchain: Toolchain) {
    let spec = Spec::new(&["/bin/seccomp"]).tmpfs("/tmp", &["mode=1777"]);
    let bundle = Bundle::with_program(test, "seccomp", toolchain, &spec);
    let out = spawn_cordon(&bundle.run_args(&[])).wait(TIMEOUT);
    assert_fixture(&out, &sections_ok(SECTIONS));
}

#[test]
fn application_filters_as_on_linux_glibc() {
    native_fixture(Toolchain::GlibcStatic);
    sandboxed_fixture("seccomp-glibc", Toolchain::GlibcStatic);
}

#[test]
fn application_filters_as_on_linux_musl() {
    native_fixture(Toolchain::MuslStatic);
    sandboxed_fixture("seccomp-musl", Toolchain::MuslStatic);
}
