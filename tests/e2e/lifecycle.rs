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
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
        let (mut command, rendered) = self.command(&args);
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {rendered}: {e}"));
        Pending { child, rendered }
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
    // As runc writes it: the number, no newline.
    assert_eq!(fs::read_to_string(&pid_file).expect("the pid file"), pid.to_string());
    assert_eq!(pid, i64::from(container.sandbox_pid()));
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
