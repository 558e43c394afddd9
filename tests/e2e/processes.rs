//! Processes, pipes and signals end to end: C programs that fork, exec, wait,
//! pipe and catch signals, and busybox shell command lines that do the same.
//!
//! The C programs (tests/fixtures/{fork_wait,fork_exec,exec_script,pipes,
//! signals,orphan,pgrp}.c, sharing check.h) are split into named sections; a
//! run prints `<section> ok` for each section that passed and
//! `FAIL <section> line N: <what> [...]` for each check that did not, so a
//! failure here names the check. They pass on the host too (`gcc -static` and
//! run them), which is how they were checked against Linux.
//!
//! The sandbox has no filesystem yet beyond executing files from the bundle's
//! rootfs: the programs use stdio and pipes only. The busybox shell tests
//! name the variants that need more than that (`/dev/null`, `/proc/self/exe`,
//! opening a script) in their doc comments.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::{Bundle, Outcome, Spec, Toolchain, assert_fixture, sections_ok};

/// How long one run may take. Only bounds a hang (a signal never delivered,
/// a read never woken): the slowest run, fork_exec's 1000-round loop, takes
/// 10–40 s on two busy cores.
const TIMEOUT: Duration = Duration::from_secs(180);

/// Busybox applets the shell tests call by path, on top of
/// `crate::common::BUSYBOX_APPLETS`.
const SHELL_APPLETS: &[&str] = &["tr", "sort", "head", "seq", "kill", "false"];

/// Runs the bundle's config.json within `TIMEOUT`.
fn run(bundle: &Bundle) -> Outcome {
    crate::common::spawn_cordon(&bundle.run_args(&[])).wait(TIMEOUT)
}

/// A bundle running `/bin/<program> <args...>` compiled with `toolchain`.
fn program_bundle(test: &str, program: &str, toolchain: Toolchain, args: &[&str]) -> Bundle {
    let argv0 = format!("/bin/{program}");
    let argv: Vec<&str> = std::iter::once(argv0.as_str()).chain(args.iter().copied()).collect();
    Bundle::with_program(test, program, toolchain, &Spec::new(&argv))
}

/// Writes `rootfs/bin/<name>` with `contents` and `mode`.
fn install_file(bundle: &Bundle, name: &str, contents: &str, mode: u32) {
    let path = bundle.rootfs().join("bin").join(name);
    fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Runs the named sections of a fixture program and expects each to pass.
pub(crate) fn check_sections(test: &str, program: &str, toolchain: Toolchain, sections: &[&str]) {
    let bundle = program_bundle(test, program, toolchain, sections);
    assert_fixture(&run(&bundle), &sections_ok(sections));
}

// fork_wait.c: fork, exit, wait4, waitid, ECHILD, zombies.

const FORK_WAIT: &[&str] = &["fork", "exit_status", "wnohang", "sigkill", "waitid", "echild", "many"];

#[test]
fn fork_and_wait_glibc() {
    check_sections("fork-wait-glibc", "fork_wait", Toolchain::GlibcStatic, FORK_WAIT);
}

/// musl's fork is the fork system call, glibc's is clone.
#[test]
fn fork_and_wait_musl() {
    check_sections("fork-wait-musl", "fork_wait", Toolchain::MuslStatic, FORK_WAIT);
}

// fork_exec.c: fork/vfork/posix_spawn + execve of busybox, a fork-exec-wait loop.

fn fork_exec(test: &str, toolchain: Toolchain) {
    let bundle = program_bundle(test, "fork_exec", toolchain, &[]);
    bundle.install_busybox();
    let expected = "from-exec\nexec_echo ok\n\
                    ONLY=this\nexec_env ok\n\
                    from-vfork\nvfork ok\n\
                    from-spawn\nposix_spawn ok\n\
                    exec_resets ok\n\
                    loop ok\n";
    assert_fixture(&run(&bundle), expected);
}

#[test]
fn fork_exec_glibc() {
    fork_exec("fork-exec-glibc", Toolchain::GlibcStatic);
}

#[test]
fn fork_exec_musl() {
    fork_exec("fork-exec-musl", Toolchain::MuslStatic);
}

/// The re-executed program relocates itself at the same address again.
#[test]
fn fork_exec_static_pie() {
    fork_exec("fork-exec-pie", Toolchain::StaticPie);
}

// exec_script.c: `#!` scripts and execve's errors.

/// A bundle with exec_script and the scripts and broken files its header
/// describes, all in rootfs/bin.
fn exec_script_bundle(test: &str, toolchain: Toolchain) -> Bundle {
    let bundle = program_bundle(test, "exec_script", toolchain, &[]);
    install_file(&bundle, "args.sh", "#!/bin/exec_script show-args two words\n", 0o755);
    install_file(&bundle, "noarg.sh", "#!/bin/exec_script\n", 0o755);
    install_file(&bundle, "spaces.sh", "#! /bin/exec_script  spaced arg \t\n", 0o755);
    install_file(&bundle, "bad_interp.sh", "#!/bin/no-such-interpreter\n", 0o755);
    install_file(&bundle, "blank.sh", "#!\n", 0o755);
    install_file(&bundle, "noexec", "#!/bin/exec_script\n", 0o644);
    install_file(&bundle, "garbage", "this is not a program\n", 0o755);
    install_file(&bundle, "empty", "", 0o755);
    bundle
}

const EXEC_SCRIPT: &[&str] = &["shebang_arg", "shebang_noarg", "shebang_spaces", "errors"];

#[test]
fn exec_scripts_and_errors_glibc() {
    let bundle = exec_script_bundle("exec-script-glibc", Toolchain::GlibcStatic);
    assert_fixture(&run(&bundle), &sections_ok(EXEC_SCRIPT));
}

#[test]
fn exec_scripts_and_errors_musl() {
    let bundle = exec_script_bundle("exec-script-musl", Toolchain::MuslStatic);
    assert_fixture(&run(&bundle), &sections_ok(EXEC_SCRIPT));
}

/// Every script's interpreter is then a dynamically linked program.
#[test]
fn exec_scripts_and_errors_musl_dynamic() {
    let bundle = exec_script_bundle("exec-script-musl-dynamic", Toolchain::MuslDynamic);
    assert_fixture(&run(&bundle), &sections_ok(EXEC_SCRIPT));
}

// pipes.c

const PIPES: &[&str] = &[
    "flags", "transfer", "eof", "sigpipe", "nonblock", "capacity", "atomic", "dup",
];

#[test]
fn pipes_glibc() {
    check_sections("pipes-glibc", "pipes", Toolchain::GlibcStatic, PIPES);
}

#[test]
fn pipes_musl() {
    check_sections("pipes-musl", "pipes", Toolchain::MuslStatic, PIPES);
}

// signals.c: one test per section, so each feature passes or fails on its own.

fn signals(section: &str) {
    check_sections(
        &format!("signals-{section}"),
        "signals",
        Toolchain::GlibcStatic,
        &[section],
    );
}

/// SA_SIGINFO: si_signo, si_code (SI_USER, SI_TKILL) and si_pid for kill,
/// raise, tgkill, tkill to oneself and kill from a child.
#[test]
fn signals_siginfo() {
    signals("siginfo");
}

/// A blocked signal stays pending (sigpending) and arrives once on unblock.
#[test]
fn signals_pending() {
    signals("pending");
}

#[test]
fn signals_sa_resethand() {
    signals("resethand");
}

/// SA_NODEFER nests, without it the second delivery waits; sa_mask applies.
#[test]
fn signals_sa_nodefer_and_sa_mask() {
    signals("nodefer");
}

/// sigaltstack and SA_ONSTACK: the handler's locals lie in the alternate stack.
#[test]
fn signals_alternate_stack() {
    signals("altstack");
}

/// siglongjmp out of a SIGSEGV handler (NULL store: si_addr 0, SEGV_MAPERR),
/// SEGV_ACCERR, and a handler that mprotects the page and returns.
#[test]
fn signals_sigsegv_handler() {
    signals("segv");
}

/// SIGFPE (FPE_INTDIV), SIGILL from ud2 resumed by editing the ucontext's rip
/// and rax, SIGTRAP from int3 (SI_KERNEL).
#[test]
fn signals_fault_signals() {
    signals("faults");
}

/// Unbounded recursion caught by a SIGSEGV handler on the alternate stack.
#[test]
fn signals_stack_overflow_on_alternate_stack() {
    signals("stack_overflow");
}

/// General registers, xmm0-15 and MXCSR intact across a handler that
/// clobbers them; the fxsave image in the frame; an edit of it honoured.
#[test]
fn signals_registers_and_sse_state() {
    signals("registers");
}

/// ymm0-15 (all 256 bits) intact across a handler; the frame's xsave image.
#[test]
fn signals_avx_state() {
    let expected = if std::arch::is_x86_feature_detected!("avx") {
        "avx ok\n"
    } else {
        "avx: the CPU has no AVX, nothing to check\navx ok\n"
    };
    let bundle = program_bundle("signals-avx", "signals", Toolchain::GlibcStatic, &["avx"]);
    assert_fixture(&run(&bundle), expected);
}

#[test]
fn signals_sigsuspend() {
    signals("sigsuspend");
}

/// read restarted under SA_RESTART, EINTR without; nanosleep always EINTR.
#[test]
fn signals_sa_restart_and_eintr() {
    signals("restart");
}

#[test]
fn signals_pause() {
    signals("pause");
}

/// SIGCHLD's siginfo (CLD_EXITED, CLD_KILLED, si_pid, si_status).
#[test]
fn signals_sigchld() {
    signals("sigchld");
}

/// Default actions: terminate, core, ignore; SIGKILL through a full mask.
#[test]
fn signals_default_actions() {
    signals("defaults");
}

#[test]
fn signals_kill_errors() {
    signals("kill_errors");
}

/// Real-time signals queue; sigqueue's SI_QUEUE and value (rt_sigqueueinfo).
#[test]
fn signals_realtime_queueing() {
    signals("rt_queue");
}

/// sigwaitinfo and sigtimedwait (rt_sigtimedwait).
#[test]
fn signals_sigwaitinfo() {
    signals("sigwait");
}

/// Every section again, built with musl (its own sigaction restorer, raise
/// through tkill, fork through the fork system call).
#[test]
fn signals_musl() {
    let sections = [
        "siginfo",
        "pending",
        "resethand",
        "nodefer",
        "altstack",
        "segv",
        "faults",
        "stack_overflow",
        "registers",
        "sigsuspend",
        "restart",
        "pause",
        "sigchld",
        "defaults",
        "kill_errors",
    ];
    check_sections("signals-musl", "signals", Toolchain::MuslStatic, &sections);
}

// orphan.c

/// An orphan is re-parented to init (pid 1, this program) and reaped by it,
/// running or already a zombie.
#[test]
fn orphans_reparented_to_init() {
    check_sections(
        "orphan",
        "orphan",
        Toolchain::GlibcStatic,
        &["reparent", "orphan_zombie"],
    );
}

/// When init exits, the processes it leaves (blocked in read, in pause,
/// spinning, an orphan) end with it, as in a PID namespace.
#[test]
fn init_exit_ends_every_process() {
    let bundle = program_bundle(
        "init-exit",
        "orphan",
        Toolchain::GlibcStatic,
        &["--exit-leaving-children"],
    );
    assert_fixture(&run(&bundle), "init exits\n");
}

// pgrp.c

#[test]
fn sessions_and_process_groups() {
    check_sections("pgrp", "pgrp", Toolchain::GlibcStatic, &["setsid", "setpgid", "killpg"]);
}

// Busybox shell command lines: `/bin/sh -c SCRIPT` as the init.
//
// This busybox (Debian's busybox-static) runs applets named without a slash
// by re-executing /proc/self/exe, except the "noexec" ones (seq, sort, head),
// which run in the forked child. Absolute paths (/bin/tr) are executed as
// they are. A non-interactive ash opens /dev/null as the stdin of a
// background job. Every command line here was checked with the same rootfs
// under chroot(8) on the host (no /proc, no /dev): all pass there except the
// background job, which prints "done 2" for want of /dev/null.

/// Runs `/bin/sh -c <script>` in a busybox bundle with `SHELL_APPLETS` linked.
fn shell(test: &str, script: &str) -> Outcome {
    let bundle = Bundle::with_busybox(test, &Spec::new(&["/bin/sh", "-c", script]));
    bundle.link_applets(SHELL_APPLETS);
    run(&bundle)
}

/// Asserts a shell run printed `expected`, exited `code`, left nothing.
#[track_caller]
fn assert_shell(out: &Outcome, expected: &str, code: i32) {
    out.assert_stdout(expected).assert_code(code).assert_no_leftover();
}

/// The shell starts and its exit status is cordon's: nothing else here works
/// if this does not.
#[test]
fn shell_runs_and_exits() {
    assert_shell(&shell("sh-exit", "echo hi; exit 7"), "hi\n", 7);
}

#[test]
fn shell_pipeline_with_absolute_paths() {
    assert_shell(&shell("sh-pipe-abs", "/bin/echo hello | /bin/tr a-z A-Z"), "HELLO\n", 0);
}

/// busybox first tries execve("/proc/self/exe") for `tr`; on ENOENT it tries
/// each PATH entry (`tr`, then `/bin/tr`) without a stat. So this needs that
/// first execve to work or to fail cleanly with ENOENT.
#[test]
fn shell_pipeline_with_applet_names() {
    assert_shell(&shell("sh-pipe-names", "echo hello | tr a-z A-Z"), "HELLO\n", 0);
}

/// seq, sort and head are busybox "noexec" applets: fork without exec.
#[test]
fn shell_three_stage_pipeline() {
    assert_shell(&shell("sh-sort", "seq 1 1000 | sort -rn | head -1"), "1000\n", 0);
}

#[test]
fn shell_subshell_exit_status() {
    assert_shell(&shell("sh-subshell", "(exit 3); echo $?"), "3\n", 0);
}

#[test]
fn shell_command_substitution() {
    assert_shell(&shell("sh-subst", "x=$(echo sub); echo $x"), "sub\n", 0);
}

/// The background job's stdin is /dev/null (from the bundle's /dev mount):
/// without it the job exits 2 ("can't open '/dev/null'").
#[test]
fn shell_background_job_and_wait() {
    let started = Instant::now();
    let out = shell("sh-bg-wait", "/bin/sleep 0.2 & wait $!; echo \"done $?\"");
    assert_shell(&out, "done 0\n", 0);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "finished in {:?}, before sleep 0.2 could have\n{out}",
        started.elapsed()
    );
}

/// The background job opens /dev/null for its stdin first; whether the kill
/// lands before or after that, the job dies of SIGKILL.
#[test]
fn shell_kill_9_of_background_child_is_137() {
    let out = shell("sh-kill-9", "/bin/sleep 100 & kill -9 $!; wait $!; echo $?");
    assert_shell(&out, "137\n", 0);
}

#[test]
fn shell_trap_handler() {
    let out = shell("sh-trap", "trap \"echo trapped\" USR1; kill -USR1 $$; echo after");
    assert_shell(&out, "trapped\nafter\n", 0);
}

/// The inner shell is not init, so its SIGTERM to itself is fatal.
#[test]
fn shell_kill_term_self_is_143() {
    let out = shell("sh-kill-term", "/bin/sh -c 'kill -TERM $$'; echo $?");
    assert_shell(&out, "143\n", 0);
}

#[test]
fn shell_loop_of_fork_exec() {
    let script = "i=0; while [ $i -lt 100 ]; do /bin/true || exit 1; i=$((i+1)); done; echo $i";
    assert_shell(&shell("sh-loop", script), "100\n", 0);
}

/// `#!/bin/sh -e` with an argument: needs the shell to open the script,
/// which waits for the filesystems issue.
#[test]
fn shell_script_with_interpreter_argument() {
    let bundle = Bundle::with_busybox(
        "sh-script",
        &Spec::new(&["/bin/sh", "-c", "/bin/script.sh one two; echo \"status $?\""]),
    );
    bundle.link_applets(SHELL_APPLETS);
    install_file(
        &bundle,
        "script.sh",
        "#!/bin/sh -e\necho \"script: $# args: $1 $2\"\n/bin/false\necho not reached\n",
        0o755,
    );
    assert_shell(&run(&bundle), "script: 2 args: one two\nstatus 1\n", 0);
}
