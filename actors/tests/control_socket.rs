//! The control socket end to end: a Controller serving a sandbox on the
//! `FakeKernel`, and blocking clients (well-behaved or not) on other threads.

#![deny(unsafe_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cordon_actors::client::{Client, ClientError};
use cordon_actors::controller::{self, ControllerConfig, SpecResolver, SubcontainerRequest};
use cordon_actors::protocol::frame;
use cordon_actors::protocol::{
    ANSWER_LEN, ContainerStatus, ExecProcess, HELLO_LEN, MAGIC, PROTOCOL_VERSION, Reply, Request, WireSignalTarget,
};
use cordon_actors::testing::{FakeKernel, ProcessScript, container, process};
use cordon_actors::{ContainerSpec, ControlError, SandboxConfig, WatchdogConfig, start_sandbox};
use cordon_kernel::control::handle::ContainerId;
use cordon_kernel::{ExitStatus, RootFs};

/// Makes a subcontainer whose init is the program named by the "spec".
struct ProgramNameResolver;

impl SpecResolver for ProgramNameResolver {
    fn resolve(&self, request: SubcontainerRequest) -> Result<ContainerSpec, String> {
        let mut init = process(&[&request.spec_json]);
        init.stdio = request.stdio;
        Ok(ContainerSpec {
            root: RootFs {
                dir: request.root,
                readonly: true,
                overlay: false,
                mounts: Vec::new(),
            },
            init,
        })
    }
}

/// Serves a sandbox whose root container runs `sleep` on a fresh socket,
/// which anyone may connect to (the peer check is what is under test).
fn serve(name: &str, config: ControllerConfig) -> PathBuf {
    let kernel = Arc::new(FakeKernel::new());
    kernel.script("sleep", ProcessScript::until_signalled());
    kernel.script(
        "true",
        ProcessScript::exits_after(Duration::ZERO, ExitStatus::Exited(0)),
    );
    let sandbox_config = SandboxConfig {
        root: ContainerId("root".into()),
        watchdog: WatchdogConfig::default(),
        forward_signals: false,
        panic_signal: None,
    };
    let sandbox = start_sandbox(kernel, sandbox_config, container(&["sleep"])).unwrap();
    let path = std::env::temp_dir().join(format!("cordon-actors-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    controller::serve(listener, sandbox, config, Arc::new(ProgramNameResolver)).unwrap();
    path
}

/// Runs blocking client code while the test's arbiter serves.
async fn client<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    actix_rt::task::spawn_blocking(work).await.unwrap()
}

fn dev_null() -> File {
    File::options().read(true).write(true).open("/dev/null").unwrap()
}

fn exec_process(program: &str) -> ExecProcess {
    ExecProcess {
        argv: vec![program.into()],
        env: Vec::new(),
        cwd: "/".into(),
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        capabilities: None,
        no_new_privileges: false,
        terminal: false,
    }
}

/// Connects and completes the handshake by hand.
fn handshaken(path: &Path) -> UnixStream {
    let mut stream = UnixStream::connect(path).unwrap();
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    stream.write_all(&hello).unwrap();
    let mut answer = [0; ANSWER_LEN];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(answer[HELLO_LEN], 0, "accepted");
    stream
}

/// Reads one reply frame, then checks the server closed the connection.
fn last_reply(stream: &mut UnixStream) -> Result<Reply, ControlError> {
    let reply = frame::read_blocking(stream.as_fd()).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the connection closed after the error");
    frame::decode(&reply.payload).unwrap()
}

fn still_serving(path: &Path) {
    let mut client = Client::connect(path).unwrap();
    assert_eq!(client.state("root").unwrap().id, "root");
}

#[actix_rt::test]
async fn requests_drive_the_sandbox_through_the_socket() {
    let path = serve("flow", ControllerConfig::default());
    client(move || {
        let mut client = Client::connect(&path).unwrap();
        assert_eq!(client.state("root").unwrap().status, ContainerStatus::Created);
        let init = client.start_root().unwrap();
        let state = client.state("root").unwrap();
        assert_eq!((state.status, state.pid), (ContainerStatus::Running, Some(init)));

        let (stdin, stdout, stderr) = (dev_null(), dev_null(), dev_null());
        let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
        let pid = client.exec("root", exec_process("true"), &stdio).unwrap();
        assert_eq!(client.wait_pid("root", pid, true).unwrap(), ExitStatus::Exited(0));

        // A request with the wrong fds is refused; the connection goes on.
        let refused = client.exec("root", exec_process("true"), &stdio[..1]);
        assert!(matches!(refused, Err(ClientError::Remote(ControlError::BadRequest(_)))));
        // One terminal fd, which must be a terminal.
        let terminal = ExecProcess {
            terminal: true,
            ..exec_process("true")
        };
        let refused = client.exec("root", terminal.clone(), &stdio[..1]);
        assert!(matches!(refused, Err(ClientError::Remote(ControlError::BadRequest(_)))));
        let pty = nix::pty::openpty(None, None).unwrap();
        let pid = client.exec("root", terminal, &[pty.slave.as_fd()]).unwrap();
        assert_eq!(client.wait_pid("root", pid, true).unwrap(), ExitStatus::Exited(0));
        match client.call(&Request::Processes { id: "root".into() }, &[]).unwrap() {
            Reply::Processes(processes) => assert_eq!(processes[0].pid, init),
            reply => panic!("unexpected {reply:?}"),
        }

        let rootfs = File::open("/").unwrap();
        let create = Request::CreateSubcontainer {
            id: "sub".into(),
            bundle: "/nowhere".into(),
            spec_json: "sleep".into(),
            terminal: false,
        };
        let fds: [BorrowedFd; 4] = [rootfs.as_fd(), stdio[0], stdio[1], stdio[2]];
        assert_eq!(client.call(&create, &fds).unwrap(), Reply::Done);
        let started = client.call(&Request::StartSubcontainer { id: "sub".into() }, &[]);
        assert!(matches!(started, Ok(Reply::Pid(_))));
        let destroy = Request::DestroySubcontainer { id: "sub".into() };
        assert_eq!(client.call(&destroy, &[]).unwrap(), Reply::Done);
        assert!(matches!(
            client.state("sub"),
            Err(ClientError::Remote(ControlError::NotFound { .. }))
        ));
        let destroy_root = client.call(&Request::DestroySubcontainer { id: "root".into() }, &[]);
        assert!(matches!(
            destroy_root,
            Err(ClientError::Remote(ControlError::BadRequest(_)))
        ));

        client
            .signal("root", WireSignalTarget::AllProcesses, libc::SIGKILL)
            .unwrap();
        assert_eq!(client.wait("root").unwrap(), ExitStatus::Signaled(libc::SIGKILL));
        assert_eq!(client.call(&Request::Shutdown, &[]).unwrap(), Reply::Done);
    })
    .await;
}

#[actix_rt::test]
async fn a_malformed_frame_closes_only_its_connection() {
    let path = serve("malformed", ControllerConfig::default());
    client(move || {
        let bystander = Client::connect(&path).unwrap();
        let mut stream = handshaken(&path);
        stream.write_all(&5u32.to_le_bytes()).unwrap();
        stream.write_all(&[0xff; 5]).unwrap();
        assert!(matches!(last_reply(&mut stream), Err(ControlError::Malformed(_))));

        let mut stream = handshaken(&path);
        stream.write_all(&(2u32 << 20).to_le_bytes()).unwrap();
        assert!(matches!(
            last_reply(&mut stream),
            Err(ControlError::FrameTooLarge { .. })
        ));

        let mut stream = handshaken(&path);
        stream.write_all(&100u32.to_le_bytes()).unwrap();
        stream.write_all(b"cut short").unwrap();
        drop(stream);

        let mut stream = UnixStream::connect(&path).unwrap();
        // Exactly a hello's length, so that nothing is left unread at close.
        stream.write_all(b"GARBAGE!").unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        assert!(answer.is_empty(), "garbage gets no answer");

        let mut bystander = bystander;
        assert_eq!(bystander.state("root").unwrap().status, ContainerStatus::Created);
        still_serving(&path);
    })
    .await;
}

#[actix_rt::test]
async fn a_peer_that_is_neither_root_nor_the_owner_is_refused() {
    let path = serve("peer", ControllerConfig::default());
    client(move || {
        let refused = std::thread::spawn({
            let path = path.clone();
            move || {
                // setuid(2) through glibc would change every thread of the test
                // process; the raw system call changes only this thread, whose
                // credentials SO_PEERCRED records at connect.
                let set = rustix::thread::set_thread_uid(rustix::thread::Uid::from_raw(65534));
                assert_eq!(set, Ok(()), "the tests run as root");
                Client::connect(&path).err()
            }
        })
        .join()
        .unwrap();
        assert!(matches!(refused, Some(ClientError::PermissionDenied)), "{refused:?}");
        still_serving(&path);
    })
    .await;
}

#[actix_rt::test]
async fn connections_beyond_the_limit_are_busy_and_idle_ones_are_closed() {
    let config = ControllerConfig {
        max_connections: 1,
        idle_timeout: Duration::from_millis(100),
        ..ControllerConfig::default()
    };
    let path = serve("limits", config);
    client(move || {
        let mut first = Client::connect(&path).unwrap();
        assert!(matches!(Client::connect(&path), Err(ClientError::Busy)));
        std::thread::sleep(Duration::from_millis(300));
        assert!(matches!(first.state("root"), Err(ClientError::Frame(_))));
        // The idle connection is gone: its place is free again.
        still_serving(&path);
    })
    .await;
}
