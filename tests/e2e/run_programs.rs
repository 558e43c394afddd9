//! Real programs run by `cordon run` (and `cordon do`): each test checks what
//! the program printed and the exit status cordon reported, and that no
//! process outlived the run.
//!
//! The sandbox has no filesystem yet, so the programs only use stdio.

use std::ffi::OsStr;

use crate::common::{Bundle, Outcome, Spec, TEST_HOSTNAME, Toolchain, assert_contains};

/// Runs `rootfs/bin/<program> <args...>` compiled with `toolchain`.
fn run_program(test: &str, program: &str, toolchain: Toolchain, args: &[&str]) -> Outcome {
    run_program_with(test, program, toolchain, args, &[])
}

/// Like `run_program`, with global cordon flags before `run`.
fn run_program_with(test: &str, program: &str, toolchain: Toolchain, args: &[&str], global: &[&str]) -> Outcome {
    let argv0 = format!("/bin/{program}");
    let argv: Vec<&str> = std::iter::once(argv0.as_str()).chain(args.iter().copied()).collect();
    let bundle = Bundle::with_program(test, program, toolchain, &Spec::new(&argv));
    bundle.run(global)
}

/// Runs a busybox applet through its `rootfs/bin/<applet>` symlink.
fn run_busybox(test: &str, spec: &Spec) -> Outcome {
    let bundle = Bundle::with_busybox(test, spec);
    bundle.run(&[])
}

fn hello(test: &str, toolchain: Toolchain) {
    run_program(test, "hello", toolchain, &[])
        .assert_code(0)
        .assert_stdout("hello from cordon\n")
        .assert_no_leftover();
}

#[test]
fn hello_glibc_static() {
    hello("hello-glibc", Toolchain::GlibcStatic);
}

#[test]
fn hello_musl_static() {
    hello("hello-musl", Toolchain::MuslStatic);
}

#[test]
fn hello_static_pie() {
    hello("hello-pie", Toolchain::StaticPie);
}

#[test]
fn hello_without_cpu_pinning() {
    run_program_with(
        "hello-unpinned",
        "hello",
        Toolchain::GlibcStatic,
        &[],
        &["--pin-cpu", "false"],
    )
    .assert_code(0)
    .assert_stdout("hello from cordon\n")
    .assert_no_leftover();
}

#[test]
fn exit_status_propagates() {
    for status in [0, 7, 255] {
        let arg = status.to_string();
        run_program("exit-status", "exit_with", Toolchain::GlibcStatic, &[&arg])
            .assert_code(status)
            .assert_stdout("")
            .assert_no_leftover();
    }
}

#[test]
fn exit_status_propagates_musl() {
    run_program("exit-status-musl", "exit_with", Toolchain::MuslStatic, &["7"])
        .assert_code(7)
        .assert_no_leftover();
}

#[test]
fn init_is_pid_1_and_unknown_syscalls_are_enosys() {
    for toolchain in [Toolchain::GlibcStatic, Toolchain::MuslStatic] {
        run_program("getpid", "getpid", toolchain, &[])
            .assert_code(0)
            .assert_stdout("pid=1\nppid=0\nENOSYS ok\n")
            .assert_no_leftover();
    }
}

#[test]
fn bad_user_pointer_is_efault() {
    let out = run_program("efault", "efault", Toolchain::GlibcStatic, &[]);
    out.assert_code(0)
        .assert_stdout(&format!("result=-1 errno={}\n", libc::EFAULT))
        .assert_no_leftover();
}

#[test]
fn segfault_is_status_139_after_earlier_output() {
    for toolchain in [Toolchain::GlibcStatic, Toolchain::MuslStatic] {
        run_program("segv", "segv", toolchain, &[])
            .assert_code(128 + libc::SIGSEGV)
            .assert_stdout("before the crash\n")
            .assert_no_leftover();
    }
}

#[test]
fn store_to_read_only_page_is_sigsegv() {
    run_program("mprotect-segv", "mprotect_segv", Toolchain::GlibcStatic, &[])
        .assert_code(128 + libc::SIGSEGV)
        .assert_stdout("read-only now\n")
        .assert_no_leftover();
}

/// The `name=value` lines the uname fixture prints.
fn field<'a>(out: &'a Outcome, name: &str) -> &'a str {
    let prefix = format!("{name}=");
    out.stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name}= line\n{out}"))
}

#[test]
fn uname_shows_sandbox_release_and_spec_hostname() {
    let host_release = crate::common::host_release();
    let out = run_program("uname", "uname", Toolchain::GlibcStatic, &[]);
    out.assert_code(0).assert_no_leftover();
    assert_eq!(field(&out, "sysname"), "Linux", "{out}");
    assert_eq!(field(&out, "nodename"), TEST_HOSTNAME, "{out}");
    assert_eq!(field(&out, "machine"), "x86_64", "{out}");
    let release = field(&out, "release");
    assert!(!release.is_empty(), "empty release\n{out}");
    assert_ne!(
        release, host_release,
        "the host's release leaked into the sandbox\n{out}"
    );
}

#[test]
fn memory_management_glibc() {
    run_program("memory-glibc", "memory", Toolchain::GlibcStatic, &[])
        .assert_code(0)
        .assert_stdout("memory ok\n")
        .assert_no_leftover();
}

#[test]
fn memory_management_musl() {
    run_program("memory-musl", "memory", Toolchain::MuslStatic, &[])
        .assert_code(0)
        .assert_stdout("memory ok\n")
        .assert_no_leftover();
}

#[test]
fn busybox_echo() {
    run_busybox("bb-echo", &Spec::new(&["/bin/echo", "hello", "world"]))
        .assert_code(0)
        .assert_stdout("hello world\n")
        .assert_no_leftover();
}

#[test]
fn busybox_uname_a() {
    let host_release = crate::common::host_release();
    let out = run_busybox("bb-uname", &Spec::new(&["/bin/uname", "-a"]));
    out.assert_code(0).assert_no_leftover();
    assert_eq!(out.stdout.lines().count(), 1, "uname -a prints one line\n{out}");
    assert_contains(&out, &out.stdout, TEST_HOSTNAME);
    assert!(
        !out.stdout.contains(&host_release),
        "the host's release {host_release:?} leaked into the sandbox\n{out}"
    );
}

/// The numbers in busybox id's `groups=` field (`10,20` or `10(wheel),20(x)`).
fn groups(out: &Outcome) -> Vec<u32> {
    let field = out
        .stdout
        .split_whitespace()
        .find_map(|f| f.strip_prefix("groups="))
        .unwrap_or_else(|| panic!("no groups= in id's output\n{out}"));
    field
        .split(',')
        .map(|g| {
            let number = g.split('(').next().unwrap_or(g);
            number.parse().unwrap_or_else(|_| panic!("bad group {g:?}\n{out}"))
        })
        .collect()
}

#[test]
fn busybox_id_reports_spec_user() {
    let spec = Spec::new(&["/bin/id"]).user(1000, 1000, &[10, 20]);
    let out = run_busybox("bb-id", &spec);
    out.assert_code(0).assert_no_leftover();
    let fields: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(fields.iter().any(|f| f.starts_with("uid=1000")), "no uid=1000\n{out}");
    assert!(fields.iter().any(|f| f.starts_with("gid=1000")), "no gid=1000\n{out}");
    let groups = groups(&out);
    assert!(
        groups.contains(&10) && groups.contains(&20),
        "groups {groups:?} lack 10 and 20\n{out}"
    );
    assert!(
        !groups.contains(&0),
        "root's group leaked into the supplementary groups\n{out}"
    );
}

#[test]
fn busybox_env_is_exactly_the_spec_env() {
    let spec = Spec::new(&["/bin/env"]).env(&["PATH=/bin:/usr/bin", "FOO=bar"]);
    let out = run_busybox("bb-env", &spec);
    out.assert_code(0).assert_no_leftover();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"PATH=/bin:/usr/bin"), "PATH missing\n{out}");
    assert!(lines.contains(&"FOO=bar"), "FOO=bar missing\n{out}");
    // cargo runs this test with CARGO_* set; none of it may reach the sandbox.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("CARGO")) {
        assert!(
            !lines.iter().any(|l| l.starts_with(&format!("{name}="))),
            "the host's {name} leaked into the sandbox\n{out}"
        );
    }
}

#[test]
fn strace_shows_calls_and_enosys() {
    let out = run_program_with("strace-hello", "hello", Toolchain::GlibcStatic, &[], &["--strace"]);
    out.assert_code(0)
        .assert_stdout("hello from cordon\n")
        .assert_no_leftover();
    assert!(
        out.stderr.lines().any(|l| l.contains("write(")),
        "no write( in the trace\n{out}"
    );
    assert!(
        out.stderr.lines().any(|l| l.contains("exit_group(")),
        "no exit_group( in the trace\n{out}"
    );

    let out = run_program_with("strace-enosys", "getpid", Toolchain::GlibcStatic, &[], &["--strace"]);
    out.assert_code(0)
        .assert_stdout("pid=1\nppid=0\nENOSYS ok\n")
        .assert_no_leftover();
    assert!(
        out.stderr.lines().any(|l| l.contains("ENOSYS")),
        "no ENOSYS in the trace\n{out}"
    );
}

#[test]
fn do_runs_host_busybox() {
    let busybox = crate::common::host_busybox().to_str().expect("a UTF-8 path");
    let out = crate::common::run_cordon(&["do", "--", busybox, "echo", "via-do"]);
    out.assert_code(0).assert_stdout("via-do\n").assert_no_leftover();
}

#[test]
fn do_runs_a_static_program_from_the_host() {
    let hello = crate::common::compile("hello", Toolchain::GlibcStatic);
    let out = crate::common::run_cordon(&[OsStr::new("do"), OsStr::new("--"), hello.as_os_str()]);
    out.assert_code(0)
        .assert_stdout("hello from cordon\n")
        .assert_no_leftover();
}

#[test]
fn do_propagates_exit_status() {
    let exit_with = crate::common::compile("exit_with", Toolchain::MuslStatic);
    let out = crate::common::run_cordon(&[
        OsStr::new("do"),
        OsStr::new("--"),
        exit_with.as_os_str(),
        OsStr::new("7"),
    ]);
    out.assert_code(7).assert_stdout("").assert_no_leftover();
}
