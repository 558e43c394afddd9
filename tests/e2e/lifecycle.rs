//! The runc life cycle through the control socket: create, start, state,
//! exec, kill, wait, pause, events, delete, each as its own `cordon`
//! command, and what happens when the sandbox process dies under them.
//!
//! `create` leaves a sandbox process running in the background after it
//! exits, so these commands do not run under `reaper`; each test owns a
//! state root of its own, and its `Container` guard kills the sandbox
//! process it started (by the pid and start time its record names) and
//! removes the root, pass or fail.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cordon_actors::ControlError;
use cordon_actors::client::Client;
use cordon_actors::protocol::frame;
use cordon_actors::protocol::{
    ANSWER_LEN, ContainerStatus, HELLO_LEN, MAGIC, MAX_FRAME_LEN, PROTOCOL_VERSION, Reply, Verdict,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::common::{Bundle, Spec, cordon_bin, poll, process_is_dead, run_dir};

/// How long one cordon command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How fast a request must fail once the sandbox process is gone.
const FAIL_FAST: Duration = Duration::from_secs(1);

/// What a `cordon` command did.
#[derive(Debug)]
pub(crate) struct Ran {
    command: String,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    #[track_caller]
    pub(crate) fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self
    }

    /// Asserts the command failed with exactly one `cordon: ` line
    /// containing `needle`.
    #[track_caller]
    pub(crate) fn fails_with(&self, needle: &str) -> &Self {
        assert!(
            matches!(self.code, Some(code) if code != 0),
            "expected a failure: {self:#?}"
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("cordon: ") && lines[0].contains(needle),
            "expected one `cordon: ` line containing {needle:?}: {self:#?}"
        );
        self
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {self:#?}", self.command))
    }
}

/// Waits for `child` within `COMMAND_TIMEOUT`, killing it on timeout.
pub(crate) fn finish(
    mut child: Child,
    command: String,
    stdout: impl FnOnce() -> String,
    stderr: impl FnOnce() -> String,
) -> Ran {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for cordon") {
            Some(status) => break status,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command} did not finish within {COMMAND_TIMEOUT:?}");
            }
        }
    };
    Ran {
        command,
        code: status.code(),
        stdout: stdout(),
        stderr: stderr(),
    }
}

/// A container under a state root of its own, from a busybox bundle.
pub(crate) struct Container {
    pub(crate) bundle: Bundle,
    root: PathBuf,
    /// Where the container's own stdio go (create's stdout and stderr).
    output: PathBuf,
}

impl Container {
    /// A bundle whose init runs `args` with busybox, not created yet.
    pub(crate) fn new(test: &str, args: &[&str]) -> Container {
        Container::with_spec(test, &Spec::new(args))
    }

    /// A bundle with busybox and `spec`, not created yet.
    pub(crate) fn with_spec(test: &str, spec: &Spec) -> Container {
        let bundle = Bundle::with_busybox(test, spec);
        let root = run_dir().join("state").join(bundle.id());
        let _ = fs::remove_dir_all(&root);
        let output = bundle.path().join("container-output");
        Container { bundle, root, output }
    }

    /// A container of `sandbox`'s pod, as containerd's CRI plugin creates
    /// one: its own busybox bundle and root, the annotations naming the
    /// sandbox, and the sandbox's state root.
    pub(crate) fn in_pod(test: &str, spec: &Spec, sandbox: &Container) -> Container {
        let bundle = Bundle::with_busybox(test, spec);
        let mut config = spec.to_json();
        config["annotations"] = serde_json::json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": sandbox.id(),
        });
        bundle.write_config_json(&config);
        let output = bundle.path().join("container-output");
        Container {
            bundle,
            root: sandbox.root.clone(),
            output,
        }
    }

    pub(crate) fn id(&self) -> &str {
        self.bundle.id()
    }

    pub(crate) fn command(&self, args: &[&OsStr]) -> (Command, String) {
        let mut command = Command::new(cordon_bin());
        command.arg("--root").arg(&self.root).args(args).stdin(Stdio::null());
        let rendered = format!(
            "cordon --root {} {}",
            self.root.display(),
            args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
        );
        (command, rendered)
    }

    /// Runs `cordon --root R <args>` with its output captured by pipes; for
    /// commands that leave no process behind.
    pub(crate) fn cordon<S: AsRef<OsStr>>(&self, args: &[S]) -> Ran {
        self.spawn(args).finish()
    }

    pub(crate) fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Pending {
        let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        let (command, rendered) = self.command(&args);
        Pending::start(command, rendered)
    }

    /// Runs a command as the user `uid` (and group `uid`), with no
    /// supplementary groups.
    fn cordon_as<S: AsRef<OsStr>>(&self, uid: u32, args: &[S]) -> Ran {
        let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        let (mut command, rendered) = self.command(&args);
        command.uid(uid).gid(uid);
        Pending::start(command, format!("(as uid {uid}) {rendered}")).finish()
    }

    fn socket(&self) -> PathBuf {
        self.state_dir().join("control.sock")
    }

    /// Runs a command that leaves the sandbox process behind (`create`,
    /// `run --detach`): its stdout and stderr, which the container inherits,
    /// go to `self.output` rather than to pipes that would stay open.
    pub(crate) fn cordon_detaching<S: AsRef<OsStr>>(&self, args: &[S]) -> Ran {
        let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        let (mut command, rendered) = self.command(&args);
        let out = File::create(&self.output).expect("create the output file");
        let err = File::create(self.output.with_extension("err")).expect("create the error file");
        let child = command
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {rendered}: {e}"));
        let errors = self.output.with_extension("err");
        finish(child, rendered, String::new, || {
            fs::read_to_string(&errors).unwrap_or_default()
        })
    }

    /// `create --bundle B ID`, asserting it worked.
    pub(crate) fn create(&self, extra: &[&OsStr]) {
        let mut args: Vec<&OsStr> = vec!["create".as_ref(), "--bundle".as_ref(), self.bundle.path().as_os_str()];
        args.extend_from_slice(extra);
        args.push(self.id().as_ref());
        self.cordon_detaching(&args).success();
    }

    /// The OCI state, as `cordon state` prints it.
    fn state(&self) -> Value {
        self.cordon(&["state", self.id()]).success().json()
    }

    pub(crate) fn status(&self) -> String {
        self.state()["status"].as_str().expect("a status string").to_owned()
    }

    /// The sandbox process, from the container's record.
    fn sandbox_pid(&self) -> i32 {
        let record: Value = serde_json::from_str(
            &fs::read_to_string(self.state_dir().join("state.json")).expect("the container has a record"),
        )
        .expect("the record is JSON");
        i32::try_from(record["sandbox_pid"].as_i64().expect("a sandbox pid")).expect("pids fit i32")
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.root.join(self.id())
    }

    /// What the container wrote to its stdout.
    fn container_output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Only the sandbox process this test's create started, if it still
        // runs: its record names it, and its stubs die with it.
        if let Ok(text) = fs::read_to_string(self.state_dir().join("state.json")) {
            if let Ok(record) = serde_json::from_str::<Value>(&text) {
                let pid = record["sandbox_pid"].as_i64().and_then(|pid| u32::try_from(pid).ok());
                let start = record["sandbox_start_time"].as_u64();
                if let (Some(pid), Some(start)) = (pid, start) {
                    if start_time(pid) == Some(start) {
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The start time of a live process (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    fields.get(19)?.parse().ok()
}

/// A `cordon` command running in the background.
pub(crate) struct Pending {
    pub(crate) child: Child,
    pub(crate) rendered: String,
}

impl Pending {
    /// Starts `command` with its stdout and stderr piped.
    fn start(mut command: Command, rendered: String) -> Pending {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {rendered}: {e}"));
        Pending { child, rendered }
    }

    pub(crate) fn finish(mut self) -> Ran {
        let mut stdout = self.child.stdout.take().expect("stdout is piped");
        let mut stderr = self.child.stderr.take().expect("stderr is piped");
        let out = thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let err = thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        finish(
            self.child,
            self.rendered,
            || out.join().expect("stdout reader"),
            || err.join().expect("stderr reader"),
        )
    }
}

#[track_caller]
fn assert_gone(pid: i32) {
    let gone = poll(Duration::from_secs(5), || process_is_dead(pid as u32).then_some(()));
    assert!(gone.is_some(), "sandbox process {pid} still runs");
}

#[test]
fn create_start_state_kill_wait_delete() {
    let container = Container::new("lifecycle-basic", &["/bin/busybox", "sleep", "30"]);
    let pid_file = container.bundle.path().join("sandbox.pid");
    container.create(&["--pid-file".as_ref(), pid_file.as_os_str()]);

    let state = container.state();
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], container.id());
    assert_eq!(state["bundle"].as_str().map(Path::new), Some(container.bundle.path()));
    assert!(
        state["ociVersion"].is_string() && state["annotations"].is_object(),
        "{state}"
    );
    let pid = state["pid"].as_i64().expect("a created container has a pid");
    // As runc writes it: the number, no newline. It is the container's
    // monitor, a host process that lives as long as the init.
    assert_eq!(fs::read_to_string(&pid_file).expect("the pid file"), pid.to_string());
    assert_ne!(pid, i64::from(container.sandbox_pid()));
    let monitor = u32::try_from(pid).expect("a pid");
    assert!(!process_is_dead(monitor), "the monitor {monitor} is not running");
    let socket = fs::metadata(container.state_dir().join("control.sock")).expect("the control socket");
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);

    container.cordon(&["start", container.id()]).success();
    assert_eq!(container.status(), "running");
    container
        .cordon(&["start", container.id()])
        .fails_with("is running: cannot start");
    let ps = container
        .cordon(&["ps", "--format", "json", container.id()])
        .success()
        .json();
    assert_eq!(ps, serde_json::json!([1]));
    let list = container.cordon(&["list", "--quiet"]).success().stdout.clone();
    assert_eq!(list, format!("{}\n", container.id()));

    // The init has no handler for SIGTERM: as with runc, only KILL ends it.
    container.cordon(&["kill", container.id(), "TERM"]).success();
    container.cordon(&["kill", container.id(), "KILL"]).success();
    let waited = container.cordon(&["wait", container.id()]).success().json();
    assert_eq!(waited["exitStatus"], 128 + libc::SIGKILL, "{waited}");
    let state = container.state();
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("stopped"), Some(0)),
        "{state}"
    );
    assert!(
        poll(Duration::from_secs(5), || process_is_dead(monitor).then_some(())).is_some(),
        "the monitor {monitor} outlived the init"
    );
    container
        .cordon(&["kill", container.id(), "NOSUCH"])
        .fails_with("unknown signal \"NOSUCH\"");

    let sandbox = container.sandbox_pid();
    container.cordon(&["delete", container.id()]).success();
    assert!(!container.state_dir().exists());
    assert_gone(sandbox);
    container
        .cordon(&["state", container.id()])
        .fails_with("does not exist");
}

#[test]
fn exec_into_a_running_container_captures_its_output_and_status() {
    let container = Container::new("lifecycle-exec", &["/bin/busybox", "sleep", "30"]);
    container.create(&[]);
    container
        .cordon(&["exec", container.id(), "/bin/busybox", "echo", "from exec"])
        .fails_with("is created: cannot exec");
    container.cordon(&["start", container.id()]).success();

    let ran = container.cordon(&["exec", container.id(), "/bin/busybox", "echo", "from exec"]);
    assert_eq!(ran.success().stdout, "from exec\n", "{ran:#?}");
    let ran = container.cordon(&[
        "exec",
        container.id(),
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "echo out; exit 7",
    ]);
    assert_eq!((ran.code, ran.stdout.as_str()), (Some(7), "out\n"), "{ran:#?}");
    let ran = container.cordon(&[
        "exec",
        "--env",
        "FOO=bar",
        "-u",
        "1000:100",
        container.id(),
        "/bin/busybox",
        "sh",
        "-c",
        "echo $FOO $PATH; /bin/busybox id -u; /bin/busybox id -g",
    ]);
    assert_eq!(ran.success().stdout, "bar /bin:/usr/bin\n1000\n100\n", "{ran:#?}");
    container
        .cordon(&["exec", container.id(), "/bin/nosuch"])
        .fails_with("not found");

    // A process file instead of the command line.
    let process = container.bundle.path().join("process.json");
    let json = serde_json::json!({
        "args": ["/bin/busybox", "echo", "from a process file"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "user": { "uid": 0, "gid": 0 },
    });
    fs::write(&process, json.to_string()).expect("write process.json");
    let ran = container.cordon(&[
        OsStr::new("exec"),
        "--process".as_ref(),
        process.as_os_str(),
        container.id().as_ref(),
    ]);
    assert_eq!(ran.success().stdout, "from a process file\n", "{ran:#?}");

    // Exec'd processes join the container's processes while they run. The
    // detached exec's monitor keeps its stdio: files, not this test's pipes.
    let pid_file = container.bundle.path().join("exec.pid");
    container
        .cordon_detaching(&[
            OsStr::new("exec"),
            "--detach".as_ref(),
            "--pid-file".as_ref(),
            pid_file.as_os_str(),
            container.id().as_ref(),
            "/bin/busybox".as_ref(),
            "sleep".as_ref(),
            "30".as_ref(),
        ])
        .success();
    let monitor: u32 = fs::read_to_string(&pid_file)
        .expect("the pid file")
        .parse()
        .expect("a pid");
    let ps = container
        .cordon(&["ps", "--format", "json", container.id()])
        .success()
        .json();
    assert_eq!(ps.as_array().map(Vec::len), Some(2), "{ps}");
    let table = container.cordon(&["ps", container.id()]).success().stdout.clone();
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.lines().skip(1).all(|line| line.ends_with("busybox")), "{table}");

    container.cordon(&["delete", "--force", container.id()]).success();
    // The detached exec's monitor learns its process is gone, and ends.
    assert!(
        poll(Duration::from_secs(5), || process_is_dead(monitor).then_some(())).is_some(),
        "the exec monitor {monitor} outlived the container"
    );
}

#[test]
fn concurrent_waiters_and_a_late_wait_get_the_same_status() {
    let container = Container::new("lifecycle-wait", &["/bin/busybox", "sh", "-c", "sleep 1; exit 3"]);
    container.create(&[]);
    let waiters: Vec<Pending> = (0..2).map(|_| container.spawn(&["wait", container.id()])).collect();
    container.cordon(&["start", container.id()]).success();
    for waiter in waiters {
        let waited = waiter.finish();
        assert_eq!(waited.success().json()["exitStatus"], 3, "{waited:#?}");
    }
    let late = container.cordon(&["wait", container.id()]).success().json();
    assert_eq!(late["exitStatus"], 3);
    let by_pid = container
        .cordon(&["wait", "--pid", "1", container.id()])
        .success()
        .json();
    assert_eq!(by_pid["exitStatus"], 3);
    assert_eq!(container.status(), "stopped");
    container.cordon(&["delete", container.id()]).success();
}

#[test]
fn delete_needs_force_while_running() {
    let container = Container::new("lifecycle-force", &["/bin/busybox", "sleep", "30"]);
    container.create(&[]);
    container.cordon(&["start", container.id()]).success();
    let sandbox = container.sandbox_pid();
    container
        .cordon(&["delete", container.id()])
        .fails_with("is running: stop it first, or delete it with --force");
    assert_eq!(container.status(), "running");
    container.cordon(&["delete", "--force", container.id()]).success();
    assert!(!container.state_dir().exists());
    assert_gone(sandbox);
}

#[test]
fn a_dead_sandbox_fails_every_request_at_once() {
    let container = Container::new("lifecycle-dead", &["/bin/busybox", "sleep", "30"]);
    container.create(&[]);
    container.cordon(&["start", container.id()]).success();
    let sandbox = container.sandbox_pid();
    let pending = container.spawn(&["wait", container.id()]);
    // The wait is registered once its connection is served; a little time
    // lets it get there (if it does not, it fails on connect just the same).
    thread::sleep(Duration::from_millis(200));

    kill(Pid::from_raw(sandbox), Signal::SIGKILL).expect("SIGKILL the sandbox process");
    let killed = Instant::now();
    let waited = pending.finish();
    assert!(
        killed.elapsed() < FAIL_FAST,
        "the pending wait took {:?}",
        killed.elapsed()
    );
    waited.fails_with("its sandbox process is gone");

    assert_gone(sandbox);
    let started = Instant::now();
    assert_eq!(container.status(), "stopped");
    for args in [
        &["kill", container.id(), "KILL"][..],
        &["exec", container.id(), "/bin/busybox", "true"],
        &["start", container.id()],
        &["wait", container.id()],
        &["pause", container.id()],
    ] {
        container.cordon(args).fails_with("its sandbox process is gone");
    }
    assert!(
        started.elapsed() < 6 * FAIL_FAST,
        "the failures took {:?}",
        started.elapsed()
    );
    container.cordon(&["delete", container.id()]).success();
    assert!(!container.state_dir().exists());
}

#[test]
fn pause_resume_and_stats() {
    let container = Container::new("lifecycle-pause", &["/bin/busybox", "sleep", "30"]);
    container.create(&[]);
    container.cordon(&["start", container.id()]).success();
    container.cordon(&["pause", container.id()]).success();
    assert_eq!(container.status(), "paused");
    let table = container.cordon(&["ps", container.id()]).success().stdout.clone();
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|line| line.split_whitespace().nth(2) == Some("T")),
        "{table}"
    );
    container.cordon(&["resume", container.id()]).success();
    assert_eq!(container.status(), "running");

    let event = container
        .cordon(&["events", "--stats", container.id()])
        .success()
        .json();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], container.id());
    assert_eq!(event["data"]["pids"]["current"], 1, "{event}");
    assert!(event["data"]["memory"]["usage"]["usage"].as_u64() > Some(0), "{event}");
    container.cordon(&["delete", "--force", container.id()]).success();
}

#[test]
fn run_detach_leaves_it_running_and_create_refuses_a_taken_id() {
    let container = Container::new(
        "lifecycle-detach",
        &["/bin/busybox", "sh", "-c", "echo detached; sleep 30"],
    );
    container
        .cordon_detaching(&[
            OsStr::new("run"),
            "--detach".as_ref(),
            "--bundle".as_ref(),
            container.bundle.path().as_os_str(),
            container.id().as_ref(),
        ])
        .success();
    assert_eq!(container.status(), "running");
    let echoed = poll(Duration::from_secs(5), || {
        let output = container.container_output();
        (!output.is_empty()).then_some(output)
    });
    assert_eq!(echoed.as_deref(), Some("detached\n"));
    let again = container.cordon(&[
        OsStr::new("create"),
        "--bundle".as_ref(),
        container.bundle.path().as_os_str(),
        container.id().as_ref(),
    ]);
    again.fails_with("already exists");
    container.cordon(&["delete", "--force", container.id()]).success();
}

#[test]
fn a_failed_create_leaves_nothing() {
    let container = Container::new("lifecycle-bad", &["/bin/busybox", "true"]);
    let missing = container.bundle.path().join("nowhere");
    let ran = container.cordon(&[
        OsStr::new("create"),
        "--bundle".as_ref(),
        missing.as_os_str(),
        "x".as_ref(),
    ]);
    ran.fails_with("does not exist");
    assert!(!container.root.join("x").exists());
}

#[test]
fn run_forwards_host_signals_to_the_container() {
    let script = "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do sleep 1; done";
    let bundle = Bundle::with_busybox("lifecycle-forward", &Spec::new(&["/bin/busybox", "sh", "-c", script]));
    let running = crate::common::spawn_cordon(&bundle.run_args(&[]));
    let reaper = running.reaper_pid();
    let cordon =
        poll(COMMAND_TIMEOUT, || crate::common::children_of(reaper).first().copied()).expect("cordon run started");
    // Below `cordon run`: the sandbox process, the shell's stub, and once
    // the loop runs (the trap is set by then) the stub of its first sleep.
    let trap_set = poll(COMMAND_TIMEOUT, || {
        (crate::common::descendants_of(cordon).len() >= 3).then_some(())
    });
    assert!(trap_set.is_some(), "the shell never reached its loop");
    kill(Pid::from_raw(cordon as i32), Signal::SIGTERM).expect("SIGTERM cordon run");
    let out = running.wait(COMMAND_TIMEOUT);
    out.assert_code(5)
        .assert_stdout("ready\ngot TERM\n")
        .assert_no_leftover();
}

/// Containers of one pod: a sandbox container, and containers created in
/// its sandbox process with their own roots (the annotations containerd
/// sets), each with its own processes, exec, wait, signals and delete.
#[test]
fn a_pod_runs_containers_with_their_own_roots_in_one_sandbox() {
    let pod = Container::new("pod-sandbox", &["/bin/busybox", "sleep", "1000"]);
    fs::write(pod.bundle.rootfs().join("marker"), "the sandbox\n").expect("the sandbox's marker");
    pod.create(&[]);
    pod.cordon(&["start", pod.id()]).success();

    let app = Container::in_pod("pod-app", &Spec::new(&["/bin/busybox", "sleep", "1000"]), &pod);
    fs::write(app.bundle.rootfs().join("marker"), "the app\n").expect("the app's marker");
    // A bind mount, opened by the sandbox process under its seccomp filter.
    let shared = app.bundle.path().join("shared");
    fs::create_dir_all(&shared).expect("the shared directory");
    fs::write(shared.join("note"), "bound\n").expect("the shared note");
    let mut config: Value =
        serde_json::from_str(&fs::read_to_string(app.bundle.path().join("config.json")).expect("config.json"))
            .expect("JSON");
    config["mounts"]
        .as_array_mut()
        .expect("mounts")
        .push(serde_json::json!({
            "destination": "/shared", "type": "bind", "source": "shared", "options": ["rbind", "ro"],
        }));
    app.bundle.write_config_json(&config);
    app.create(&[]);
    assert_eq!(app.status(), "created");
    // One sandbox process serves both.
    assert_eq!(app.sandbox_pid(), pod.sandbox_pid());
    app.cordon(&["start", app.id()]).success();
    assert_eq!(app.status(), "running");

    // Each sees its own root.
    let ran = app.cordon(&["exec", app.id(), "/bin/busybox", "cat", "/marker"]);
    assert_eq!(ran.success().stdout, "the app\n", "{ran:#?}");
    let ran = pod.cordon(&["exec", pod.id(), "/bin/busybox", "cat", "/marker"]);
    assert_eq!(ran.success().stdout, "the sandbox\n", "{ran:#?}");
    let ran = app.cordon(&["exec", app.id(), "/bin/busybox", "cat", "/shared/note"]);
    assert_eq!(ran.success().stdout, "bound\n", "{ran:#?}");
    let ran = app.cordon(&["exec", app.id(), "/bin/busybox", "sh", "-c", "exit 4"]);
    assert_eq!(ran.code, Some(4), "{ran:#?}");

    // Each lists only its own processes.
    let ps = |container: &Container| -> Vec<i64> {
        let listed = container
            .cordon(&["ps", "--format", "json", container.id()])
            .success()
            .json();
        listed
            .as_array()
            .expect("a list")
            .iter()
            .map(|p| p.as_i64().expect("a pid"))
            .collect()
    };
    let pod_pids = ps(&pod);
    let app_pids = ps(&app);
    assert_eq!(pod_pids, [1], "the sandbox's init is pid 1");
    assert_eq!(app_pids.len(), 1, "{app_pids:?}");
    assert_ne!(app_pids, pod_pids);

    // Another container that exits on its own: wait gets its status.
    let short = Container::in_pod("pod-short", &Spec::new(&["/bin/busybox", "sh", "-c", "exit 5"]), &pod);
    short.create(&[]);
    short.cordon(&["start", short.id()]).success();
    let waited = short.cordon(&["wait", short.id()]).success().json();
    assert_eq!(waited["exitStatus"], 5, "{waited}");
    assert_eq!(short.status(), "stopped");
    short.cordon(&["delete", short.id()]).success();
    short.cordon(&["state", short.id()]).fails_with("does not exist");

    // Killing and deleting one container leaves the sandbox running.
    let waiter = app.spawn(&["wait", app.id()]);
    app.cordon(&["delete", app.id()]).fails_with("stop it first");
    app.cordon(&["kill", app.id(), "KILL"]).success();
    assert_eq!(waiter.finish().success().json()["exitStatus"], 137);
    app.cordon(&["delete", app.id()]).success();
    assert!(!app.state_dir().exists());
    assert_eq!(pod.status(), "running");
    let ran = pod.cordon(&["exec", pod.id(), "/bin/busybox", "echo", "still here"]);
    assert_eq!(ran.success().stdout, "still here\n", "{ran:#?}");

    // A container of a sandbox that is gone: stopped, and delete cleans up.
    let late = Container::in_pod("pod-late", &Spec::new(&["/bin/busybox", "sleep", "1000"]), &pod);
    late.create(&[]);
    late.cordon(&["start", late.id()]).success();
    let sandbox = pod.sandbox_pid();
    pod.cordon(&["delete", "--force", pod.id()]).success();
    assert_gone(sandbox);
    assert_eq!(late.status(), "stopped");
    late.cordon(&["delete", late.id()]).success();
    assert!(!late.state_dir().exists());

    // A container naming no live sandbox is refused, leaving nothing.
    let orphan = Container::in_pod("pod-orphan", &Spec::new(&["/bin/busybox", "true"]), &pod);
    let mut args: Vec<&OsStr> = vec!["create".as_ref(), "--bundle".as_ref(), orphan.bundle.path().as_os_str()];
    args.push(orphan.id().as_ref());
    orphan.cordon(&args).fails_with("does not exist");
    assert!(!orphan.state_dir().exists());
}

/// How many sockets process `pid` holds: for a sandbox process, its control
/// listener and one per connection it serves.
fn sockets_of(pid: i32) -> usize {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:")))
        .count()
}

/// The script, in order, on one container.
#[test]
fn the_runc_script_from_create_to_delete() {
    let container = Container::new("lifecycle-script", &["sleep", "1000"]);
    let id = container.id();
    container.create(&[]);
    assert_eq!(container.status(), "created");
    container.cordon(&["start", id]).success();
    assert_eq!(container.status(), "running");

    let hi = container.cordon(&["exec", id, "echo", "hi"]);
    assert_eq!(
        (hi.code, hi.stdout.as_str(), hi.stderr.as_str()),
        (Some(0), "hi\n", ""),
        "{hi:#?}"
    );
    let four = container.cordon(&["exec", id, "sh", "-c", "exit 4"]);
    assert_eq!((four.code, four.stdout.as_str()), (Some(4), ""), "{four:#?}");

    container
        .cordon_detaching(&["exec", "--detach", id, "sleep", "500"])
        .success();
    let table = container.cordon(&["ps", id]).success().stdout.clone();
    let commands: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().last())
        .collect();
    assert_eq!(commands, ["sleep", "sleep"], "{table}");
    let pids = container.cordon(&["ps", "--format", "json", id]).success().json();
    let exec_pid = pids
        .as_array()
        .and_then(|pids| pids.iter().filter_map(Value::as_i64).find(|pid| *pid != 1))
        .unwrap_or_else(|| panic!("no exec'd process in {pids}"));
    // Their arguments, as the container's own ps sees them.
    let inside = container.cordon(&["exec", id, "/bin/busybox", "ps", "-o", "pid,args"]);
    let rows: Vec<String> = inside
        .success()
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for row in ["1 sleep 1000".to_owned(), format!("{exec_pid} sleep 500")] {
        assert!(rows.contains(&row), "no {row:?} in {rows:#?}");
    }

    // Two waits, then the KILL: both get the same status.
    let sandbox = container.sandbox_pid();
    let before = sockets_of(sandbox);
    let waiters: Vec<Pending> = (0..2).map(|_| container.spawn(&["wait", id])).collect();
    let pending = poll(COMMAND_TIMEOUT, || (sockets_of(sandbox) >= before + 2).then_some(()));
    assert!(pending.is_some(), "the sandbox never served both waits");
    container.cordon(&["kill", id, "KILL"]).success();
    let statuses: Vec<Value> = waiters
        .into_iter()
        .map(|waiter| waiter.finish().success().json())
        .collect();
    let expected = serde_json::json!({ "id": id, "exitStatus": 128 + libc::SIGKILL });
    assert_eq!(statuses, [expected.clone(), expected]);

    container.cordon(&["delete", id]).success();
    assert_gone(sandbox);
    container.cordon(&["state", id]).fails_with("does not exist");
}

#[test]
fn fifty_concurrent_execs_all_succeed() {
    let container = Container::new("lifecycle-execs", &["sleep", "1000"]);
    let id = container.id();
    container.create(&[]);
    container.cordon(&["start", id]).success();
    let execs: Vec<Pending> = (0..50).map(|_| container.spawn(&["exec", id, "true"])).collect();
    for exec in execs {
        let ran = exec.finish();
        assert_eq!(
            (ran.code, ran.stdout.as_str(), ran.stderr.as_str()),
            (Some(0), "", ""),
            "{ran:#?}"
        );
    }
    // Each was waited for and cleared: only the init is left.
    let pids = container.cordon(&["ps", "--format", "json", id]).success().json();
    assert_eq!(pids, serde_json::json!([1]));
    container.cordon(&["delete", "--force", id]).success();
}

/// Connects to the control socket and completes the handshake.
fn handshaken(socket: &Path) -> UnixStream {
    let mut stream = UnixStream::connect(socket).expect("connect to the control socket");
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    stream.write_all(&hello).expect("send the hello");
    let mut answer = [0; ANSWER_LEN];
    stream.read_exact(&mut answer).expect("read the answer");
    assert_eq!(answer[HELLO_LEN], Verdict::Accepted as u8, "accepted");
    stream
}

/// Reads what is left on `stream` until the sandbox closes it (a close
/// with bytes it never read resets the connection).
fn rest_of(mut stream: UnixStream) -> Vec<u8> {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest,
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => rest,
        Err(err) => panic!("cannot read to the close: {err}"),
    }
}

/// Bad bytes on the control socket cost their own connection only: the
/// sandbox process (under its own seccomp filter) serves on.
#[test]
fn garbage_on_the_control_socket_leaves_the_sandbox_serving() {
    let container = Container::new("lifecycle-garbage", &["sleep", "1000"]);
    let id = container.id();
    container.create(&[]);
    container.cordon(&["start", id]).success();
    // The socket's path may be too long for an address: reach it through
    // an fd of its directory, as cordon does.
    let dir = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(container.state_dir())
        .expect("open the state directory");
    let socket = PathBuf::from(format!("/proc/self/fd/{}/control.sock", dir.as_raw_fd()));
    let mut bystander = Client::connect(&socket).expect("a client connects");

    // Not a hello: no answer, the connection closes.
    let mut stream = UnixStream::connect(&socket).expect("connect");
    let mut noise = 0x9e37_79b9_7f4a_7c15_u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            noise as u8
        })
        .collect();
    stream.write_all(&garbage).expect("send garbage");
    assert_eq!(rest_of(stream), b"", "garbage gets no answer");

    // A length prefix past the limit: an error reply, then the close.
    let mut stream = handshaken(&socket);
    stream.write_all(&u32::MAX.to_le_bytes()).expect("send the prefix");
    let reply = frame::read_blocking(stream.as_fd()).expect("an error reply");
    let reply: Result<Reply, ControlError> = frame::decode(&reply.payload).expect("a reply");
    assert_eq!(
        reply,
        Err(ControlError::FrameTooLarge {
            len: u64::from(u32::MAX),
            max: MAX_FRAME_LEN as u64,
        })
    );
    assert_eq!(rest_of(stream), b"");

    // A frame that is not a request: an error reply, then the close.
    let mut stream = handshaken(&socket);
    stream.write_all(&8u32.to_le_bytes()).expect("send the prefix");
    stream.write_all(&garbage[..8]).expect("send the payload");
    let reply = frame::read_blocking(stream.as_fd()).expect("an error reply");
    let reply: Result<Reply, ControlError> = frame::decode(&reply.payload).expect("a reply");
    assert!(matches!(reply, Err(ControlError::Malformed(_))), "{reply:?}");
    assert_eq!(rest_of(stream), b"");

    // A frame cut short: the sandbox closes without a reply.
    let mut stream = handshaken(&socket);
    stream.write_all(&100u32.to_le_bytes()).expect("send the prefix");
    stream.write_all(b"cut short").expect("send part of the payload");
    stream.shutdown(Shutdown::Write).expect("end the frame early");
    assert_eq!(rest_of(stream), b"");

    let state = bystander.state(id).expect("the bystander is still served");
    assert_eq!(state.status, ContainerStatus::Running);
    assert_eq!(container.status(), "running");
    let ran = container.cordon(&["exec", id, "echo", "still serving"]);
    assert_eq!(ran.success().stdout, "still serving\n");
    container.cordon(&["delete", "--force", id]).success();
}

/// Only root and the sandbox's owner are served: the files' modes stop
/// another user first, and SO_PEERCRED when the test opens them up.
#[test]
fn another_user_is_refused() {
    const NOBODY: u32 = 65534;
    let container = Container::new("lifecycle-peer", &["sleep", "1000"]);
    let id = container.id();
    container.create(&[]);
    container.cordon(&["start", id]).success();
    let record = container.state_dir().join("state.json");

    // The record is the owner's alone (0600).
    container
        .cordon_as(NOBODY, &["state", id])
        .fails_with("state.json: Permission denied");
    // With the record readable, the socket's mode (0600) refuses.
    fs::set_permissions(&record, fs::Permissions::from_mode(0o644)).expect("chmod the record");
    container
        .cordon_as(NOBODY, &["state", id])
        .fails_with("control.sock: Permission denied");
    // With the socket open to all, the sandbox itself refuses the peer.
    fs::set_permissions(container.socket(), fs::Permissions::from_mode(0o666)).expect("chmod the socket");
    for args in [&["state", id][..], &["exec", id, "true"], &["kill", id, "KILL"]] {
        container
            .cordon_as(NOBODY, args)
            .fails_with("the sandbox refused the connection: permission denied");
    }

    assert_eq!(container.status(), "running");
    let ran = container.cordon(&["exec", id, "echo", "still mine"]);
    assert_eq!(ran.success().stdout, "still mine\n");
    container.cordon(&["delete", "--force", id]).success();
}

/// The lines the container has printed so far.
fn lines_printed(container: &Container) -> usize {
    container.container_output().lines().count()
}

/// A paused container makes no progress, and makes it again once resumed:
/// its init prints a line every 20 ms.
#[test]
fn pause_stops_progress_and_resume_continues_it() {
    let container = Container::new(
        "lifecycle-progress",
        &["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.02; done"],
    );
    let id = container.id();
    container.create(&[]);
    container.cordon(&["start", id]).success();
    let counting = poll(COMMAND_TIMEOUT, || (lines_printed(&container) >= 3).then_some(()));
    assert!(
        counting.is_some(),
        "the init never counted: {:?}",
        container.container_output()
    );

    container.cordon(&["pause", id]).success();
    assert_eq!(container.status(), "paused");
    // A write already inside the kernel may still land: let it.
    thread::sleep(Duration::from_millis(200));
    let paused_at = lines_printed(&container);
    // Running, it would print some 50 lines in this second.
    thread::sleep(Duration::from_secs(1));
    assert_eq!(lines_printed(&container), paused_at, "the count went on while paused");

    container.cordon(&["resume", id]).success();
    assert_eq!(container.status(), "running");
    let resumed = poll(COMMAND_TIMEOUT, || {
        (lines_printed(&container) > paused_at + 2).then_some(())
    });
    assert!(resumed.is_some(), "the count did not go on after resume");
    let output = container.container_output();
    let counted: Vec<usize> = output.lines().map(|line| line.parse().expect("a count")).collect();
    assert!(
        counted.iter().enumerate().all(|(n, count)| *count == n + 1),
        "lost or repeated counts: {output:?}"
    );
    container.cordon(&["delete", "--force", id]).success();
}

/// `kill` of a created container stops it, as runc's: only signals that
/// end runc's waiting init do.
#[test]
fn kill_stops_a_created_container() {
    let container = Container::new("lifecycle-kill-created", &["sleep", "1000"]);
    let id = container.id();
    container.create(&[]);
    container.cordon(&["kill", id, "USR1"]).success();
    assert_eq!(container.status(), "created");

    let waiter = container.spawn(&["wait", id]);
    container.cordon(&["kill", id, "KILL"]).success();
    let waited = waiter.finish().success().json();
    assert_eq!(
        waited,
        serde_json::json!({ "id": id, "exitStatus": 128 + libc::SIGKILL })
    );
    let state = container.state();
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("stopped"), Some(0)),
        "{state}"
    );
    container.cordon(&["start", id]).fails_with("is stopped: cannot start");
    container
        .cordon(&["kill", id, "KILL"])
        .fails_with("is stopped: cannot signal");

    let sandbox = container.sandbox_pid();
    container.cordon(&["delete", id]).success();
    assert!(!container.state_dir().exists());
    assert_gone(sandbox);
}

/// A rootfs user database for the `--user` tests.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100:Alice:/home/alice:/bin/sh\n";
const GROUP: &str = "root:x:0:\nusers:x:100:\nstaff:x:50:alice\naudio:x:29:alice\n";

#[test]
fn exec_user_names_resolve_in_the_container() {
    let container = Container::new("lifecycle-users", &["sleep", "1000"]);
    let id = container.id();
    let etc = container.bundle.rootfs().join("etc");
    fs::create_dir_all(&etc).expect("make rootfs/etc");
    fs::write(etc.join("passwd"), PASSWD).expect("write /etc/passwd");
    fs::write(etc.join("group"), GROUP).expect("write /etc/group");
    container.create(&[]);
    container.cordon(&["start", id]).success();

    let ids = |user: &str| {
        let ran = container.cordon(&["exec", "--user", user, id, "sh", "-c", "id -u; id -g; id -G"]);
        ran.success().stdout.clone()
    };
    // Linux keeps the supplementary groups sorted (groups_sort).
    assert_eq!(ids("alice"), "1000\n100\n100 29 50\n");
    assert_eq!(ids("alice:staff"), "1000\n50\n50\n");
    assert_eq!(ids("alice:7"), "1000\n7\n7\n");
    assert_eq!(ids("1000:audio"), "1000\n29\n29\n");
    container
        .cordon(&["exec", "--user", "mallory", id, "true"])
        .fails_with("no user \"mallory\" in the container's /etc/passwd");
    container
        .cordon(&["exec", "--user", "alice:wheel", id, "true"])
        .fails_with("no group \"wheel\" in the container's /etc/group");

    // A link out of the rootfs resolves inside it: the host's /etc/group
    // (which has a daemon group) is not what is read.
    fs::remove_file(etc.join("group")).expect("remove /etc/group");
    symlink("../../../../../../../../../../etc/group", etc.join("group")).expect("link /etc/group");
    container
        .cordon(&["exec", "--user", "alice:daemon", id, "true"])
        .fails_with("cannot read the container's /etc/group");
    container.cordon(&["delete", "--force", id]).success();
}

/// containerd's shim runs `create --pid-file` as a child subreaper and
/// takes the exit of the pid in the pid file as the container's: the
/// monitor named there is re-parented to it and exits with the init's
/// status, for a sandbox's container and for a pod's.
#[test]
fn a_subreaper_sees_the_pid_file_process_exit_with_the_container() {
    let shim = crate::common::compile("shim", crate::common::Toolchain::Native);
    let pod = Container::new("shim-sandbox", &["/bin/busybox", "sh", "-c", "sleep 30; exit 9"]);
    let app = Container::in_pod("shim-app", &Spec::new(&["/bin/busybox", "sh", "-c", "exit 6"]), &pod);
    let create_under_shim = |container: &Container| -> (Child, i32) {
        let pid_file = container.bundle.path().join("container.pid");
        let mut command = Command::new(&shim);
        command
            .arg(cordon_bin())
            .arg("--root")
            .arg(&container.root)
            .args(["create", "--bundle"])
            .arg(container.bundle.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(container.id())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let child = command.spawn().expect("the shim starts");
        let pid = poll(COMMAND_TIMEOUT, || fs::read_to_string(&pid_file).ok()?.parse().ok()).expect("the pid file");
        (child, pid)
    };
    let (pod_shim, pod_pid) = create_under_shim(&pod);
    pod.cordon(&["start", pod.id()]).success();
    let (app_shim, app_pid) = create_under_shim(&app);
    app.cordon(&["start", app.id()]).success();
    assert_eq!(app.cordon(&["wait", app.id()]).success().json()["exitStatus"], 6);
    // The shim's `kill --all ID KILL` after an exit, as runc takes it.
    app.cordon(&["kill", "--all", app.id(), "KILL"]).success();
    app.cordon(&["kill", app.id(), "KILL"]).fails_with("stopped");
    pod.cordon(&["kill", pod.id(), "KILL"]).success();
    assert_eq!(pod.cordon(&["wait", pod.id()]).success().json()["exitStatus"], 137);
    // Deleting the containers ends the sandbox process, the shims' last child.
    app.cordon(&["delete", app.id()]).success();
    pod.cordon(&["delete", pod.id()]).success();
    let reaped = |shim: Child| -> String {
        let output = shim.wait_with_output().expect("the shim ends");
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let pod_reaped = reaped(pod_shim);
    assert!(
        pod_reaped.lines().any(|line| line == format!("{pod_pid} exited 137")),
        "{pod_reaped}"
    );
    let app_reaped = reaped(app_shim);
    assert!(
        app_reaped.lines().any(|line| line == format!("{app_pid} exited 6")),
        "{app_reaped}"
    );
}
