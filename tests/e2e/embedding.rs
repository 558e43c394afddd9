//! `cordon::Sandbox` from a Rust program (this test binary): a sandbox
//! process started over a busybox bundle, confined by its seccomp filter,
//! driven through its socket; what the init and an exec'd process print
//! comes back, signals and waits work, and dropping it leaves nothing.

use std::path::PathBuf;
use std::time::Duration;

use cordon::{ExitStatus, Sandbox, SandboxError, SandboxStdio};
use cordon_actors::ControlError;

use crate::common::{Bundle, Spec, cordon_bin, poll, proc_status_field, process_is_dead};

/// A sandbox over a busybox bundle whose init runs `args`.
fn sandbox(test: &str, args: &[&str], stdio: SandboxStdio) -> (Bundle, Sandbox) {
    let bundle = Bundle::with_busybox(test, &Spec::new(args));
    let sandbox = Sandbox::builder()
        .runtime(cordon_bin())
        .bundle(bundle.path())
        .stdio(stdio)
        .build()
        .expect("the sandbox builds");
    (bundle, sandbox)
}

/// The private directory of the sandbox process `pid`, from its command
/// line (`... boot --bundle DIR/bundle ID`).
fn private_dir(pid: u32) -> PathBuf {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the sandbox process runs");
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let bundle = args
        .iter()
        .position(|arg| *arg == b"--bundle")
        .and_then(|i| args.get(i + 1))
        .expect("boot has --bundle");
    PathBuf::from(String::from_utf8(bundle.to_vec()).expect("UTF-8"))
        .parent()
        .expect("the bundle is in the private directory")
        .to_owned()
}

#[test]
fn an_embedded_sandbox_runs_in_a_confined_sandbox_process() {
    let (_bundle, sandbox) = sandbox(
        "embed-init",
        &["/bin/busybox", "sh", "-c", "echo from the init; sleep 60"],
        SandboxStdio::Piped,
    );
    let pid = sandbox.process_id();
    assert_ne!(pid, std::process::id());
    // Mode 2: a seccomp filter.
    assert_eq!(proc_status_field(pid, "Seccomp").as_deref(), Some("2"));
    let dir = private_dir(pid);
    assert!(dir.is_dir(), "{}", dir.display());

    assert_eq!(sandbox.start().expect("the init starts"), 1);
    let output = sandbox
        .exec(["/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"])
        .expect("the exec runs");
    assert_eq!(output.status, ExitStatus::Exited(3));
    assert_eq!(
        (output.stdout.as_slice(), output.stderr.as_slice()),
        (&b"out\n"[..], &b"err\n"[..])
    );
    match sandbox.exec(["/bin/nosuch"]) {
        Err(SandboxError::Control(ControlError::StartFailed { errno, .. })) => assert_eq!(errno, libc::ENOENT),
        other => panic!("expected a start failure, got {other:?}"),
    }

    // The shell has no SIGTERM handler: as an init it ignores it.
    sandbox.signal(libc::SIGTERM).expect("SIGTERM is sent");
    sandbox.signal_all(libc::SIGKILL).expect("SIGKILL is sent");
    let output = sandbox.wait_with_output().expect("the init ends");
    assert_eq!(output.status, ExitStatus::Signaled(libc::SIGKILL));
    assert_eq!(output.stdout, b"from the init\n");
    assert_eq!(sandbox.wait().expect("a late wait"), output.status);

    drop(sandbox);
    assert!(
        poll(Duration::from_secs(5), || process_is_dead(pid).then_some(())).is_some(),
        "the sandbox process {pid} outlived its Sandbox"
    );
    assert!(!dir.exists(), "{} is left", dir.display());
}

#[test]
fn dropping_a_running_sandbox_ends_it() {
    let (_bundle, sandbox) = sandbox("embed-drop", &["/bin/busybox", "sleep", "60"], SandboxStdio::Null);
    sandbox.start().expect("the init starts");
    let pid = sandbox.process_id();
    drop(sandbox);
    assert!(process_is_dead(pid), "the sandbox process {pid} outlived its Sandbox");
}

#[test]
fn a_sandbox_over_the_host_root_runs_host_programs() {
    let sandbox = Sandbox::builder()
        .runtime(cordon_bin())
        .rootfs("/")
        .command(["/bin/sleep", "60"])
        .hostname("embedded")
        .stdio(SandboxStdio::Null)
        .build()
        .expect("the sandbox builds");
    sandbox.start().expect("the init starts");
    let output = sandbox.exec(["/bin/hostname"]).expect("hostname runs");
    assert_eq!(
        (output.status, output.stdout.as_slice()),
        (ExitStatus::Exited(0), &b"embedded\n"[..])
    );
    // The memory overlay keeps the sandbox's writes.
    let marker = format!("/tmp/cordon-embed-{}", std::process::id());
    let output = sandbox
        .exec(["/bin/sh", "-c", &format!("echo kept > {marker} && cat {marker}")])
        .expect("sh runs");
    assert_eq!(output.stdout, b"kept\n", "{output:?}");
    assert!(!std::path::Path::new(&marker).exists(), "the host's /tmp was written");
}

/// An embedding program's sandbox process (`boot --die-with PID`) ends
/// when that program ends, whichever of its threads built the sandbox: here
/// a `sleep` stands for the program, and its SIGKILL ends the sandbox.
#[test]
fn a_sandbox_process_ends_with_the_program_that_created_it() {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;
    use std::process::{Command, Stdio};

    use cordon_kernel::sys::spawn::ChildSetup;

    let bundle = Bundle::with_busybox("embed-creator", &Spec::new(&["/bin/busybox", "sleep", "60"]));
    let mut creator = Command::new("/bin/sleep").arg("100").spawn().expect("sleep starts");
    let listener = UnixListener::bind(bundle.path().join("control.sock")).expect("bind the socket");
    // Close-on-exec: the sandbox process holds the write end at fd 4 only,
    // so the pipe ends when it closes that.
    let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("a pipe");
    let mut command = Command::new(cordon_bin());
    command
        .arg("--log")
        .arg(bundle.path().join("sandbox.log"))
        .args(["boot", "--bundle"])
        .arg(bundle.path())
        .args(["--die-with", &creator.id().to_string(), "embed-creator"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut sandbox = ChildSetup::new()
        .fd(listener.as_fd(), 3)
        .fd(ready_write.as_fd(), 4)
        .spawn(command)
        .expect("boot starts");
    drop((ready_write, listener));
    let mut ready = String::new();
    std::fs::File::from(ready_read)
        .read_to_string(&mut ready)
        .expect("the ready pipe");
    assert_eq!(ready, "ready");
    assert!(
        sandbox.try_wait().expect("try_wait").is_none(),
        "the sandbox ended early"
    );

    creator.kill().expect("kill the creator");
    creator.wait().expect("reap the creator");
    let ended = poll(Duration::from_secs(10), || sandbox.try_wait().expect("try_wait"));
    if ended.is_none() {
        let _ = sandbox.kill();
        let _ = sandbox.wait();
        panic!("the sandbox process outlived its creator");
    }
}
