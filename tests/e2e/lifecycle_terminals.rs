//! Terminals through the control plane, as runc's callers use them: the
//! master of a container's pty sent to a console socket (`create
//! --console-socket`, `exec --detach --tty --console-socket`), `exec -t`
//! on this test's own pty or on pipes, `run` of a container with
//! `process.terminal` without a terminal, and runc's refusals.
//!
//! The keyboard's signals are checked through the console: ^C written to
//! the master interrupts the shell's foreground job, which only happens if
//! the process holding the replica forwards it to the foreground group.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{Bundle, Spec, poll, process_is_dead};
use crate::lifecycle::{Container, Pending, finish};

/// How long output may take to appear on a terminal.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);

/// The environment of the shells on these terminals.
const SHELL_ENV: &[&str] = &["PATH=/bin", "HOME=/", "TERM=dumb"];

/// Accepts one connection on a console socket and takes the fd it carries,
/// checking the message is runc's: the master's name and exactly one fd.
fn receive_master(listener: &UnixListener) -> OwnedFd {
    let (connection, _) = listener.accept().expect("the console socket gets a connection");
    let (name, mut fds) = cordon::terminal::receive_console(&connection).expect("a message");
    assert_eq!(name, b"/dev/ptmx", "the payload names the master");
    assert_eq!(fds.len(), 1, "one fd: {fds:?}");
    fds.remove(0)
}

/// The master side of a terminal: what was written to it so far, read on a
/// thread of its own until the terminal ends.
struct Screen {
    master: File,
    seen: Arc<Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
}

impl Screen {
    fn new(master: OwnedFd) -> Screen {
        let master = File::from(master);
        let mut reading = master.try_clone().expect("dup the master");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once no process has the replica open.
            while let Ok(n @ 1..) = reading.read(&mut buf) {
                into.lock().expect("screen poisoned").extend_from_slice(&buf[..n]);
            }
        });
        Screen { master, seen, reader }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().expect("screen poisoned")).into_owned()
    }

    /// Types `keys` on the terminal's keyboard.
    fn type_keys(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("write the master");
    }

    /// Waits until the screen shows `needle`, panicking with the screen
    /// after `timeout`.
    #[track_caller]
    fn wait_for(&self, needle: &str, timeout: Duration) {
        let shown = poll(timeout, || self.text().contains(needle).then_some(()));
        assert!(
            shown.is_some(),
            "{needle:?} not shown within {timeout:?}:\n{:?}",
            self.text()
        );
    }

    /// Everything shown, once the terminal has ended.
    fn ended(self) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        while !self.reader.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the terminal never ended:\n{:?}",
                self.text()
            );
            thread::sleep(Duration::from_millis(10));
        }
        self.text()
    }
}

/// How many processes the container has, as `ps` lists them.
fn process_count(container: &Container) -> usize {
    let listed = container
        .cordon(&["ps", "--format", "json", container.id()])
        .success()
        .json();
    listed.as_array().map_or(0, Vec::len)
}

/// Whether `ps` lists a process running `command` asleep in a system call.
fn sleeps_in(container: &Container, command: &str) -> bool {
    let table = container.cordon(&["ps", container.id()]).success().stdout.clone();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(2) == Some(&"S") && fields.last() == Some(&command)
    })
}

/// ^C on a shell's terminal, while the shell waits for `sleep 30` in the
/// foreground, ends the sleep: the shell runs the next command at once.
fn interrupt_a_foreground_sleep(screen: &mut Screen, container: &Container) {
    screen.type_keys("sleep 30; echo not interrupted\n");
    // Named `sleep`, it has been exec'd, after the shell's child made its
    // group the terminal's foreground.
    let sleeping = poll(SCREEN_TIMEOUT, || sleeps_in(container, "sleep").then_some(()));
    assert!(sleeping.is_some(), "the sleep never ran:\n{:?}", screen.text());
    let interrupted = Instant::now();
    screen.type_keys("\x03");
    screen.type_keys("echo back\n");
    screen.wait_for("\r\nback\r\n", SCREEN_TIMEOUT);
    assert!(
        interrupted.elapsed() < Duration::from_secs(25),
        "the sleep ran its course"
    );
    assert!(!screen.text().contains("\r\nnot interrupted"), "{:?}", screen.text());
}

/// `create --console-socket`: the init's terminal is a pty whose master the
/// socket gets. An interactive busybox shell runs on it, names it, is
/// interrupted by ^C, and its exit status reaches `cordon wait`.
#[test]
fn console_socket_gets_the_init_terminal() {
    let spec = Spec::new(&["/bin/busybox", "sh"]).env(SHELL_ENV).terminal();
    let container = Container::with_spec("console", &spec);
    let socket = container.bundle.path().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind the console socket");
    container.create(&["--console-socket".as_ref(), socket.as_os_str()]);
    let mut screen = Screen::new(receive_master(&listener));
    container.cordon(&["start", container.id()]).success();

    screen.type_keys("/bin/busybox tty; test -t 0 && test -t 1 && test -t 2 && echo hi\n");
    screen.wait_for("\r\nhi\r\n", SCREEN_TIMEOUT);
    assert!(screen.text().contains("\r\n/dev/console\r\n"), "{:?}", screen.text());
    interrupt_a_foreground_sleep(&mut screen, &container);

    let waiter = container.spawn(&["wait", container.id()]);
    screen.type_keys("exit 3\n");
    let waited = waiter.finish();
    assert_eq!(waited.success().json()["exitStatus"], 3, "{waited:#?}");
    container.cordon(&["delete", container.id()]).success();
    assert!(!container.state_dir().exists());
}

/// A container created in a pod's sandbox with `process.terminal` gets its
/// terminal through the console socket too: a shell runs on it, and its
/// exit status reaches `cordon wait`. (Keyboard signals on it are not
/// forwarded: no process holds it as its controlling terminal.)
#[test]
fn a_pod_container_gets_its_terminal_through_the_console_socket() {
    let pod = Container::new("pod-console-sandbox", &["/bin/busybox", "sleep", "60"]);
    pod.create(&[]);
    pod.cordon(&["start", pod.id()]).success();
    let spec = Spec::new(&["/bin/busybox", "sh"]).env(SHELL_ENV).terminal();
    let app = Container::in_pod("pod-console-app", &spec, &pod);
    let socket = app.bundle.path().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind the console socket");
    app.create(&["--console-socket".as_ref(), socket.as_os_str()]);
    let mut screen = Screen::new(receive_master(&listener));
    app.cordon(&["start", app.id()]).success();

    screen.type_keys("test -t 0 && test -t 1 && test -t 2 && echo on a tty\n");
    screen.wait_for("\r\non a tty\r\n", SCREEN_TIMEOUT);
    let waiter = app.spawn(&["wait", app.id()]);
    screen.type_keys("exit 3\n");
    let waited = waiter.finish();
    assert_eq!(waited.success().json()["exitStatus"], 3, "{waited:#?}");
    app.cordon(&["delete", app.id()]).success();
    assert_eq!(pod.status(), "running");
    pod.cordon(&["delete", "--force", pod.id()]).success();
}

/// `exec --detach --tty --console-socket`: the exec'd shell's terminal is a
/// new pty whose master the socket gets; the waiting `cordon exec` behind
/// it forwards ^C to the shell's foreground job and ends with the shell.
#[test]
fn detached_exec_sends_its_terminal_to_the_console_socket() {
    let container = Container::new("exec-console", &["/bin/busybox", "sleep", "60"]);
    container.create(&[]);
    container.cordon(&["start", container.id()]).success();
    let socket = container.bundle.path().join("console.sock");
    let listener = UnixListener::bind(&socket).expect("bind the console socket");
    let pid_file = container.bundle.path().join("exec.pid");
    container
        .cordon_detaching(&[
            OsStr::new("exec"),
            "--detach".as_ref(),
            "--tty".as_ref(),
            "--console-socket".as_ref(),
            socket.as_os_str(),
            "--pid-file".as_ref(),
            pid_file.as_os_str(),
            "--env".as_ref(),
            "TERM=dumb".as_ref(),
            container.id().as_ref(),
            "/bin/busybox".as_ref(),
            "sh".as_ref(),
        ])
        .success();
    let mut screen = Screen::new(receive_master(&listener));
    let monitor: u32 = std::fs::read_to_string(&pid_file)
        .expect("the pid file")
        .parse()
        .expect("a pid");

    screen.type_keys("test -t 0 && test -t 1 && test -t 2 && echo on a tty\n");
    screen.wait_for("\r\non a tty\r\n", SCREEN_TIMEOUT);
    interrupt_a_foreground_sleep(&mut screen, &container);
    screen.type_keys("exit 7\n");
    screen.ended();
    assert!(
        poll(Duration::from_secs(5), || process_is_dead(monitor).then_some(())).is_some(),
        "the exec's waiting command {monitor} outlived its process"
    );
    container.cordon(&["delete", "--force", container.id()]).success();
}

/// `exec -t` with a terminal as stdin (this test's own pty, as a shell in
/// a terminal would have): the process gets that terminal.
#[test]
fn exec_tty_passes_a_terminal_stdin_through() {
    let container = Container::new("exec-tty", &["/bin/busybox", "sleep", "60"]);
    container.create(&[]);
    container.cordon(&["start", container.id()]).success();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let replica = File::from(pty.slave);
    let args = [
        "exec",
        "-t",
        container.id(),
        "/bin/busybox",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && test -t 2 && echo on a tty; exit 4",
    ];
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let (mut command, rendered) = container.command(&args);
    let mut child = command
        .stdin(replica.try_clone().expect("dup the replica"))
        .stdout(replica)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {rendered}: {e}"));
    // This test holds the master only: the terminal ends with the process.
    drop(command);
    let screen = Screen::new(pty.master);
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let ran = finish(child, rendered, String::new, move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    assert_eq!(ran.code, Some(4), "{ran:#?}");
    assert_eq!(screen.ended(), "on a tty\r\n");
    container.cordon(&["delete", "--force", container.id()]).success();
}

/// `exec -t` with pipes as stdio: the process still gets a terminal, a new
/// pty `cordon exec` copies to and from; the end of stdin is the
/// terminal's end of file.
#[test]
fn exec_tty_without_a_terminal_copies_through_a_pty() {
    let container = Container::new("exec-pipes", &["/bin/busybox", "sleep", "60"]);
    container.create(&[]);
    container.cordon(&["start", container.id()]).success();
    let script = "test -t 0 && test -t 1 && test -t 2 && echo on a tty; read x; echo got $x; \
                  cat; echo cat ended; exit 5";
    let args = ["exec", "-t", container.id(), "/bin/busybox", "sh", "-c", script];
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let (mut command, rendered) = container.command(&args);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {rendered}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(b"input\n").expect("write stdin");
    drop(stdin);
    let ran = Pending { child, rendered }.finish();
    assert_eq!(ran.code, Some(5), "{ran:#?}");
    // The terminal ends lines with \r\n and echoes the input when it
    // arrives, before or after the first line.
    assert_eq!(
        ran.stdout.replacen("input\r\n", "", 1),
        "on a tty\r\ngot input\r\ncat ended\r\n",
        "{ran:#?}"
    );
    container.cordon(&["delete", "--force", container.id()]).success();
}

/// `run` of a container with `process.terminal` and no terminal to pass
/// on (stdin is /dev/null here): the init gets a new pty, named
/// /dev/console, whose output `run` copies to its stdout.
#[test]
fn run_without_a_terminal_gives_the_init_a_pty() {
    let script = "test -t 0 && test -t 1 && test -t 2 && echo on a tty; /bin/busybox tty; exit 9";
    let spec = Spec::new(&["/bin/busybox", "sh", "-c", script]).terminal();
    let bundle = Bundle::with_busybox("run-pty", &spec);
    bundle
        .run(&[])
        .assert_code(9)
        .assert_stdout("on a tty\r\n/dev/console\r\n")
        .assert_no_leftover();
}

/// runc's rules: a command that detaches needs a console socket for a
/// process with a terminal, and a console socket is for that case only.
/// Nothing is left behind by a refusal.
#[test]
fn terminals_and_console_sockets_are_refused_as_runc_refuses_them() {
    let spec = Spec::new(&["/bin/busybox", "sh"]).terminal();
    let with_terminal = Container::with_spec("refuse-tty", &spec);
    let path = with_terminal.bundle.path().as_os_str();
    let id = with_terminal.id();
    let socket = with_terminal.bundle.path().join("console.sock");
    let socket = socket.as_os_str();
    with_terminal
        .cordon(&[OsStr::new("create"), "--bundle".as_ref(), path, id.as_ref()])
        .fails_with("cannot give the process a terminal when create detaches without --console-socket");
    with_terminal
        .cordon(&[OsStr::new("run"), "-d".as_ref(), "--bundle".as_ref(), path, id.as_ref()])
        .fails_with("cannot give the process a terminal when run detaches without --console-socket");
    with_terminal
        .cordon(&[
            OsStr::new("run"),
            "--console-socket".as_ref(),
            socket,
            "--bundle".as_ref(),
            path,
            id.as_ref(),
        ])
        .fails_with("cannot use --console-socket unless run detaches");
    // A console socket nobody listens on.
    with_terminal
        .cordon(&[
            OsStr::new("create"),
            "--console-socket".as_ref(),
            socket,
            "--bundle".as_ref(),
            path,
            id.as_ref(),
        ])
        .fails_with("cannot send the terminal to the console socket");
    assert!(!with_terminal.state_dir().exists());

    let container = Container::new("refuse-socket", &["/bin/busybox", "sleep", "60"]);
    let id = container.id();
    container
        .cordon(&[
            OsStr::new("create"),
            "--console-socket".as_ref(),
            socket,
            "--bundle".as_ref(),
            container.bundle.path().as_os_str(),
            id.as_ref(),
        ])
        .fails_with("cannot use --console-socket unless create detaches and the process has a terminal");
    assert!(!container.state_dir().exists());
    container.create(&[]);
    container.cordon(&["start", id]).success();
    container
        .cordon(&["exec", "-d", "-t", id, "/bin/busybox", "true"])
        .fails_with("cannot give the process a terminal when exec detaches without --console-socket");
    container
        .cordon(&[
            OsStr::new("exec"),
            "-t".as_ref(),
            "--console-socket".as_ref(),
            socket,
            id.as_ref(),
            "/bin/busybox".as_ref(),
            "true".as_ref(),
        ])
        .fails_with("cannot use --console-socket unless exec detaches");
    container
        .cordon(&[
            OsStr::new("exec"),
            "-d".as_ref(),
            "--console-socket".as_ref(),
            socket,
            id.as_ref(),
            "/bin/busybox".as_ref(),
            "true".as_ref(),
        ])
        .fails_with("the process has a terminal");
    assert_eq!(process_count(&container), 1, "a refused exec started nothing");
    container.cordon(&["delete", "--force", id]).success();
}
