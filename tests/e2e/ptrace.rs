//! ptrace inside the sandbox: the host's strace following a shell pipeline
//! and the host's gdb backtracing a crashing program, under `cordon do`,
//! compared with the same commands run natively; and
//! tests/fixtures/ptrace.c (the requests, stops, events and access rules)
//! run natively and in a bundle.

use std::process::Command;
use std::time::Duration;

use crate::common::{Bundle, Outcome, Spec, Toolchain, assert_fixture, compile, run_cordon, sections_ok, spawn_cordon};

/// Debian's strace and gdb (packages strace, gdb).
const STRACE: &str = "/usr/bin/strace";
const GDB: &str = "/usr/bin/gdb";

const PIPELINE: &str = "echo traced | /bin/cat; /bin/true";

/// The native run of `argv`: its stdout and stderr, after it exited 0.
fn native(argv: &[&str]) -> (String, String) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (.ci/run installs strace and gdb)", argv[0]));
    assert!(
        out.status.success(),
        "natively, {argv:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `cordon do -- argv...`, asserted to exit 0 with nothing left behind.
fn sandboxed(argv: &[&str]) -> Outcome {
    let mut args = vec!["do", "--"];
    args.extend_from_slice(argv);
    let out = run_cordon(&args);
    out.assert_code(0).assert_no_leftover();
    out
}

/// The calls of an strace -f log, without pids and results: what each
/// process asked for, in a comparable form (sorted, as the processes'
/// interleaving differs from run to run).
fn traced_calls(log: &str) -> Vec<String> {
    let mut calls: Vec<String> = log
        .lines()
        .filter_map(|line| {
            let line = line
                .strip_prefix("[pid")
                .map_or(line, |rest| rest.split_once(']').map_or(rest, |(_, l)| l));
            let line = line.trim_start();
            let name = line.split('(').next()?;
            if !["execve", "write", "exit_group"].contains(&name) {
                return None;
            }
            // Addresses differ between runs and layouts: they are masked.
            // The result (after " = ") and "<unfinished ...>" are cut off.
            let words: Vec<&str> = line
                .split_whitespace()
                .map(|word| if word.starts_with("0x") { "0x?" } else { word })
                .collect();
            let call = words.join(" ");
            let call = call.split(" <unfinished").next()?;
            let call = call.rsplit_once(" = ").map_or(call, |(call, _)| call);
            // An interrupted call's line ends before its closing parenthesis.
            Some(call.trim_end_matches(')').to_owned())
        })
        .collect();
    calls.sort();
    calls
}

#[test]
fn strace_follows_a_shell_pipeline() {
    let argv = [
        STRACE,
        "-f",
        "-qq",
        "-e",
        "trace=execve,write,exit_group",
        "-e",
        "signal=none",
        "/bin/sh",
        "-c",
        PIPELINE,
    ];
    let (stdout, log) = native(&argv);
    let out = sandboxed(&argv);
    assert_eq!(out.stdout, stdout, "{out}");
    let calls = traced_calls(&log);
    assert!(
        calls.iter().any(|call| call.starts_with("execve(\"/bin/cat\"")),
        "{log}"
    );
    assert!(
        calls.iter().any(|call| call.starts_with("write(1, \"traced\\n\", 7")),
        "{log}"
    );
    assert_eq!(
        traced_calls(&out.stderr),
        calls,
        "the sandbox and the host disagree on the calls\n{out}"
    );
}

/// gdb runs the program under ptrace, stops it at its SIGSEGV and walks
/// its stack: the same frames as on the host.
#[test]
fn gdb_backtraces_a_crashing_program() {
    let program = compile("backtrace", Toolchain::Native);
    let program = program.to_str().expect("a UTF-8 path");
    let argv = [GDB, "-batch", "-nx", "-ex", "run", "-ex", "bt", program];
    let (native_out, _) = native(&argv);
    let out = sandboxed(&argv);
    let frames = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with('#') || line.starts_with("Program received"))
            .map(|line| {
                // "#1  0x000055555555517d in middle (...) at ...": the frame
                // number and the function.
                let function = line.split(" in ").nth(1).unwrap_or(line);
                let number = line.split_whitespace().next().unwrap_or("");
                format!("{number} {}", function.split(" (").next().unwrap_or(function))
            })
            .collect()
    };
    let expected = frames(&native_out);
    assert!(expected.iter().any(|frame| frame.contains("SIGSEGV")), "{native_out}");
    assert!(expected.iter().any(|frame| frame.ends_with(" middle")), "{native_out}");
    assert_eq!(frames(&out.stdout), expected, "{out}");
}

const SECTIONS: &[&str] = &[
    "traceme",
    "syscall_stops",
    "memory",
    "regs",
    "signals",
    "events",
    "attach",
    "seize",
    "kill",
    "permissions",
];

fn native_fixture(toolchain: Toolchain) {
    let program = compile("ptrace", toolchain);
    let out = Command::new(&program)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout == sections_ok(SECTIONS),
        "natively, ptrace ({toolchain:?}) {}:\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sandboxed_fixture(test: &str, toolchain: Toolchain) {
    let spec = Spec::new(&["/bin/ptrace"]).tmpfs("/tmp", &["mode=1777"]);
    let bundle = Bundle::with_program(test, "ptrace", toolchain, &spec);
    let out = spawn_cordon(&bundle.run_args(&[])).wait(Duration::from_secs(120));
    assert_fixture(&out, &sections_ok(SECTIONS));
}

#[test]
fn ptrace_as_on_linux_glibc() {
    native_fixture(Toolchain::GlibcStatic);
    sandboxed_fixture("ptrace-glibc", Toolchain::GlibcStatic);
}

#[test]
fn ptrace_as_on_linux_musl() {
    native_fixture(Toolchain::MuslStatic);
    sandboxed_fixture("ptrace-musl", Toolchain::MuslStatic);
}
