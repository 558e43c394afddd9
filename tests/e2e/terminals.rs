//! Terminals end to end: tests/fixtures/pty.c opens /dev/ptmx and its
//! replica and checks the line discipline, controlling terminals and job
//! control section by section (it passes on the host too, run as
//! `setsid -w ./pty </dev/null`); a busybox shell runs interactively on a
//! replica; tests/fixtures/host_tty.c runs with cordon's stdio on a host
//! terminal (on the host: `script -qec ./host_tty /dev/null`).

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::common::{Bundle, RUN_TIMEOUT, Spec, Toolchain, cordon_bin, reaper};
use crate::processes::check_sections;

const SECTIONS: &[&str] = &[
    "open",
    "echo",
    "canonical",
    "raw",
    "interrupt",
    "signals",
    "ctty",
    "background",
    "close",
];

#[test]
fn pseudo_terminals_glibc() {
    check_sections("pty-glibc", "pty", Toolchain::GlibcStatic, SECTIONS);
}

#[test]
fn pseudo_terminals_musl() {
    check_sections("pty-musl", "pty", Toolchain::MuslStatic, SECTIONS);
}

/// tests/fixtures/pty_shell.c starts `busybox sh -i` in a new session on a
/// pty replica (its controlling terminal), types `echo hi; exit 3` and
/// reads the transcript: the shell's job control (/dev/tty, tcsetpgrp) and
/// line editing (raw mode) run on cordon's terminal.
#[test]
fn interactive_busybox_shell_on_a_pty() {
    let spec = Spec::new(&["/bin/pty_shell", "/bin/sh", "-i"]).env(&["PATH=/bin", "HOME=/", "TERM=dumb"]);
    let bundle = Bundle::with_busybox("pty-shell", &spec);
    bundle.install_program("pty_shell", Toolchain::GlibcStatic);
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout("saw hi\nexit 3\n")
        .assert_no_leftover();
}

/// What a run on a host terminal showed.
struct TerminalRun {
    code: Option<i32>,
    /// The terminal's output, with ONLCR's "\r\n" turned back into "\n".
    screen: String,
    /// reaper's report and cordon's own messages.
    stderr: String,
}

/// Runs the bundle with cordon's stdin and stdout on a new host pty, as
/// `cordon run` in a terminal would be, and reads the screen until the
/// last process on the terminal is gone.
fn run_on_host_terminal(bundle: &Bundle) -> TerminalRun {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let replica = File::from(pty.slave);
    let mut child = Command::new(reaper())
        .arg(cordon_bin())
        .args(bundle.run_args(&[]))
        .stdin(replica.try_clone().expect("dup the replica"))
        .stdout(replica)
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start reaper cordon");
    let mut master = File::from(pty.master);
    let screen = thread::spawn(move || {
        let mut screen = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once no process has the replica open.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&screen).replace("\r\n", "\n")
    });
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for reaper") {
            break status;
        }
        if Instant::now() > deadline {
            let pid = i32::try_from(child.id()).expect("pids fit i32");
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait();
            panic!("cordon on a host terminal did not finish within {RUN_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    TerminalRun {
        code: status.code(),
        screen: screen.join().expect("the screen reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

/// The init's controlling terminal is the host terminal cordon runs in:
/// tcgetsid/tcgetpgrp, /dev/tty, tcsetpgrp to a child's group and back,
/// SIGTTIN for a background reader, SIGTTOU for a background writer under
/// TOSTOP, tcsetattr reaching the host terminal.
#[test]
fn the_init_controls_the_host_terminal() {
    let sections = ["ctty", "foreground", "background", "tostop", "termios"];
    let bundle = Bundle::with_program(
        "host-tty",
        "host_tty",
        Toolchain::GlibcStatic,
        &Spec::new(&["/bin/host_tty"]),
    );
    let run = run_on_host_terminal(&bundle);
    let expected: String = sections.iter().map(|s| format!("{s} ok\n")).collect();
    assert!(
        run.code == Some(0) && run.screen == expected && run.stderr.contains("leftover=0 "),
        "exit code {:?}\n--- screen ---\n{}\n--- stderr ---\n{}",
        run.code,
        run.screen,
        run.stderr
    );
}

/// /dev/console is the init's controlling terminal; a container whose init
/// has none (stdio are pipes here) gets ENXIO, as Linux gives for a console
/// nobody set up.
#[test]
fn console_without_a_terminal_is_enxio() {
    let spec = Spec::new(&["/bin/sh", "-c", "cat /dev/console 2>&1; echo status $?"]);
    let bundle = Bundle::with_busybox("console", &spec);
    bundle.link_applets(&["cat"]);
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    assert!(out.stdout.contains("No such device or address"), "{out}");
    assert!(out.stdout.ends_with("status 1\n"), "{out}");
}

/// `process.terminal` under `cordon run` in a terminal: that terminal is
/// passed through as all three of the init's stdio (cordon's stderr is a
/// pipe here) and is its console.
#[test]
fn run_in_a_terminal_passes_it_to_an_init_with_a_terminal() {
    let script = "test -t 0 && test -t 1 && test -t 2 && echo on a tty; /bin/busybox tty";
    let spec = Spec::new(&["/bin/busybox", "sh", "-c", script]).terminal();
    let bundle = Bundle::with_busybox("host-tty-terminal", &spec);
    let run = run_on_host_terminal(&bundle);
    assert!(
        run.code == Some(0) && run.screen == "on a tty\n/dev/console\n" && run.stderr.contains("leftover=0 "),
        "exit code {:?}\n--- screen ---\n{}\n--- stderr ---\n{}",
        run.code,
        run.screen,
        run.stderr
    );
}
