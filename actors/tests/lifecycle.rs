//! Container life cycles driven through a `SandboxHandle` against the
//! scripted `FakeKernel`.

#![deny(unsafe_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordon_actors::protocol::ContainerStatus;
use cordon_actors::testing::{FakeKernel, ProcessScript, container, process};
use cordon_actors::{ControlError, SandboxConfig, SandboxHandle, WatchdogAction, WatchdogConfig, start_sandbox};
use cordon_kernel::ExitStatus;
use cordon_kernel::control::handle::{ContainerId, SignalTarget, StuckTask};

fn root() -> ContainerId {
    ContainerId("root".into())
}

fn config() -> SandboxConfig {
    SandboxConfig {
        root: root(),
        watchdog: WatchdogConfig::default(),
        forward_signals: false,
        panic_signal: None,
    }
}

/// A fake that knows `sleep` (runs until killed), `true`, `fail` (exits 4)
/// and `late` (exits 7 after 50 ms).
fn fake() -> Arc<FakeKernel> {
    let kernel = Arc::new(FakeKernel::new());
    kernel.script("sleep", ProcessScript::until_signalled());
    kernel.script(
        "true",
        ProcessScript::exits_after(Duration::ZERO, ExitStatus::Exited(0)),
    );
    kernel.script(
        "fail",
        ProcessScript::exits_after(Duration::ZERO, ExitStatus::Exited(4)),
    );
    kernel.script(
        "late",
        ProcessScript::exits_after(Duration::from_millis(50), ExitStatus::Exited(7)),
    );
    kernel
}

fn sandbox(kernel: &Arc<FakeKernel>, init: &str) -> SandboxHandle {
    start_sandbox(kernel.clone(), config(), container(&[init])).expect("the sandbox starts")
}

async fn status(sandbox: &SandboxHandle, id: &ContainerId) -> ContainerStatus {
    sandbox.state(id).await.expect("the container exists").status
}

#[actix_rt::test]
async fn start_exec_and_wait() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Created);
    let init = sandbox.start(&root()).await.unwrap();
    let state = sandbox.state(&root()).await.unwrap();
    assert_eq!((state.status, state.pid), (ContainerStatus::Running, Some(init)));

    // `true` exits before create_process returns: the early exit is kept.
    let pid = sandbox.exec(&root(), process(&["true"])).await.unwrap();
    assert_eq!(sandbox.wait_pid(&root(), pid, false).await, Ok(ExitStatus::Exited(0)));
    let pid = sandbox.exec(&root(), process(&["fail"])).await.unwrap();
    assert_eq!(sandbox.wait_pid(&root(), pid, true).await, Ok(ExitStatus::Exited(4)));
    // Cleared after reporting.
    assert!(matches!(
        sandbox.wait_pid(&root(), pid, false).await,
        Err(ControlError::NoSuchProcess { .. })
    ));
    let pid = sandbox.exec(&root(), process(&["late"])).await.unwrap();
    assert_eq!(sandbox.wait_pid(&root(), pid, false).await, Ok(ExitStatus::Exited(7)));

    let missing = sandbox.exec(&root(), process(&["nonexistent"])).await;
    assert!(matches!(missing, Err(ControlError::StartFailed { errno, .. }) if errno == libc::ENOENT));

    let processes = sandbox.processes(&root()).await.unwrap();
    assert_eq!(processes.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![init]);
    assert_eq!(sandbox.stats(&root()).await.unwrap().processes, 1);

    sandbox
        .signal(&root(), SignalTarget::Process(init), libc::SIGKILL)
        .await
        .unwrap();
    assert_eq!(sandbox.wait(&root()).await, Ok(ExitStatus::Signaled(libc::SIGKILL)));
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Stopped);
    assert!(matches!(
        sandbox.start(&root()).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Stopped,
            ..
        })
    ));
}

#[actix_rt::test]
async fn two_waiters_get_the_same_status() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    sandbox.start(&root()).await.unwrap();
    let first = actix_rt::spawn({
        let sandbox = sandbox.clone();
        async move { sandbox.wait(&root()).await }
    });
    let second = actix_rt::spawn({
        let sandbox = sandbox.clone();
        async move { sandbox.wait(&root()).await }
    });
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    assert!(!first.is_finished() && !second.is_finished(), "both waits are pending");
    sandbox
        .signal(&root(), SignalTarget::AllProcesses, libc::SIGTERM)
        .await
        .unwrap();
    let expected = Ok(ExitStatus::Signaled(libc::SIGTERM));
    assert_eq!(first.await.unwrap(), expected);
    assert_eq!(second.await.unwrap(), expected);
}

#[actix_rt::test]
async fn a_wait_after_the_exit_gets_the_cached_status() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "fail");
    sandbox.start(&root()).await.unwrap();
    assert_eq!(sandbox.wait(&root()).await, Ok(ExitStatus::Exited(4)));
    assert_eq!(sandbox.wait(&root()).await, Ok(ExitStatus::Exited(4)));
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Stopped);
}

#[actix_rt::test]
async fn a_start_that_fails_answers_waiters_with_the_reason() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "nonexistent");
    let waiter = actix_rt::spawn({
        let sandbox = sandbox.clone();
        async move { sandbox.wait(&root()).await }
    });
    let started = sandbox.start(&root()).await;
    assert!(matches!(started, Err(ControlError::StartFailed { .. })));
    assert_eq!(waiter.await.unwrap(), started.map(|_| ExitStatus::Exited(0)));
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Stopped);
}

#[actix_rt::test]
async fn a_signal_to_an_unknown_container_is_not_found() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    let unknown = ContainerId("nope".into());
    assert_eq!(
        sandbox
            .signal(&unknown, SignalTarget::AllProcesses, libc::SIGKILL)
            .await,
        Err(ControlError::NotFound { id: "nope".into() })
    );
    assert!(kernel.signals().is_empty());
}

#[actix_rt::test]
async fn a_created_container_is_stopped_by_the_signals_that_end_runcs_init() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    let waiter = actix_rt::spawn({
        let sandbox = sandbox.clone();
        async move { sandbox.wait(&root()).await }
    });
    // runc's waiting init ignores these.
    for signal in [0, libc::SIGUSR1, libc::SIGCHLD, libc::SIGSTOP, libc::SIGRTMIN()] {
        sandbox.signal(&root(), SignalTarget::Foreground, signal).await.unwrap();
    }
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Created);
    assert_eq!(
        sandbox.signal(&root(), SignalTarget::Process(1), libc::SIGKILL).await,
        Err(ControlError::NoSuchProcess {
            id: "root".into(),
            pid: 1
        })
    );
    assert_eq!(
        sandbox.signal(&root(), SignalTarget::Foreground, 65).await,
        Err(ControlError::InvalidSignal(65))
    );
    assert!(!waiter.is_finished());

    sandbox
        .signal(&root(), SignalTarget::AllProcesses, libc::SIGTERM)
        .await
        .unwrap();
    let expected = Ok(ExitStatus::Signaled(libc::SIGTERM));
    assert_eq!(waiter.await.unwrap(), expected);
    assert_eq!(sandbox.wait(&root()).await, expected);
    let state = sandbox.state(&root()).await.unwrap();
    assert_eq!((state.status, state.pid), (ContainerStatus::Stopped, None));
    assert!(matches!(
        sandbox.start(&root()).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Stopped,
            ..
        })
    ));
    assert!(matches!(
        sandbox.signal(&root(), SignalTarget::Foreground, libc::SIGKILL).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Stopped,
            ..
        })
    ));
    // Nothing ran, so nothing was signalled in the kernel.
    assert!(kernel.signals().is_empty(), "{:?}", kernel.signals());
    sandbox.delete(&root(), false).await.unwrap();
    assert!(!kernel.has_container(&root()));
}

#[actix_rt::test]
async fn a_signal_during_the_start_reaches_the_init_once_it_runs() {
    let kernel = fake();
    kernel.script(
        "slow",
        ProcessScript::until_signalled().with_start_delay(Duration::from_millis(300)),
    );
    let sandbox = sandbox(&kernel, "slow");
    let start = actix_rt::spawn({
        let sandbox = sandbox.clone();
        async move { sandbox.start(&root()).await }
    });
    // Once the fake is loading the init, the container is starting; before,
    // a KILL would stop the created container instead.
    for _ in 0..5000 {
        if kernel.is_loading() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(kernel.is_loading(), "the start never began");
    sandbox
        .signal(&root(), SignalTarget::Foreground, libc::SIGKILL)
        .await
        .unwrap();
    let init = start.await.unwrap().unwrap();
    assert_eq!(sandbox.wait(&root()).await, Ok(ExitStatus::Signaled(libc::SIGKILL)));
    assert_eq!(
        kernel.signals().first().map(|sent| (sent.target, sent.signal)),
        Some((SignalTarget::Foreground, libc::SIGKILL)),
        "init {init}"
    );
}

#[actix_rt::test]
async fn exec_into_a_created_or_stopped_container_is_refused() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "true");
    assert!(matches!(
        sandbox.exec(&root(), process(&["true"])).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Created,
            ..
        })
    ));
    sandbox.start(&root()).await.unwrap();
    sandbox.wait(&root()).await.unwrap();
    assert!(matches!(
        sandbox.exec(&root(), process(&["true"])).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Stopped,
            ..
        })
    ));
}

#[actix_rt::test]
async fn delete_while_waiting_answers_the_waiters_and_frees_the_container() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    sandbox.start(&root()).await.unwrap();
    let pid = sandbox.exec(&root(), process(&["sleep"])).await.unwrap();
    let waiters = [
        actix_rt::spawn({
            let sandbox = sandbox.clone();
            async move { sandbox.wait(&root()).await }
        }),
        actix_rt::spawn({
            let sandbox = sandbox.clone();
            async move { sandbox.wait_pid(&root(), pid, false).await }
        }),
    ];
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    assert!(matches!(
        sandbox.delete(&root(), false).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Running,
            ..
        })
    ));
    sandbox.delete(&root(), true).await.unwrap();
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), Err(ControlError::Deleted { id: "root".into() }));
    }
    assert_eq!(
        sandbox.state(&root()).await,
        Err(ControlError::NotFound { id: "root".into() })
    );
    assert!(!kernel.has_container(&root()));
}

#[actix_rt::test]
async fn pause_and_resume_the_sandbox() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    sandbox.start(&root()).await.unwrap();
    sandbox.pause().await.unwrap();
    assert!(kernel.is_paused());
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Paused);
    assert!(matches!(
        sandbox.exec(&root(), process(&["true"])).await,
        Err(ControlError::InvalidState {
            status: ContainerStatus::Paused,
            ..
        })
    ));
    sandbox.resume().await.unwrap();
    assert!(!kernel.is_paused());
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Running);
}

#[actix_rt::test]
async fn subcontainers_live_and_die_on_their_own() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    sandbox.start(&root()).await.unwrap();
    let sub = ContainerId("sub".into());
    sandbox.create(sub.clone(), container(&["sleep"])).await.unwrap();
    assert!(matches!(
        sandbox.create(sub.clone(), container(&["sleep"])).await,
        Err(ControlError::AlreadyExists { .. })
    ));
    sandbox.start(&sub).await.unwrap();
    assert_eq!(sandbox.processes(&sub).await.unwrap().len(), 1);
    sandbox.delete(&sub, true).await.unwrap();
    assert_eq!(status(&sandbox, &root()).await, ContainerStatus::Running);
    assert_eq!(sandbox.processes(&root()).await.unwrap().len(), 1);
}

#[actix_rt::test]
async fn shutdown_deletes_every_container() {
    let kernel = fake();
    let sandbox = sandbox(&kernel, "sleep");
    sandbox.start(&root()).await.unwrap();
    sandbox.shutdown().await.unwrap();
    sandbox.shut_down().await;
    assert!(!kernel.has_container(&root()));
}

/// A `tracing` writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[actix_rt::test]
async fn the_watchdog_reports_stuck_tasks_and_slow_starts_once() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let kernel = fake();
    kernel.script(
        "slow",
        ProcessScript::until_signalled().with_start_delay(Duration::from_millis(150)),
    );
    let config = SandboxConfig {
        watchdog: WatchdogConfig {
            period: Duration::from_millis(10),
            task_timeout: Duration::from_millis(100),
            start_timeout: Duration::from_millis(30),
            action: WatchdogAction::Log,
        },
        ..config()
    };
    let sandbox = start_sandbox(kernel.clone(), config, container(&["slow"])).unwrap();
    kernel.set_stuck(StuckTask {
        container: root(),
        tid: 42,
        syscall: "futex",
        duration: Duration::from_secs(5),
    });
    // Under the threshold: not reported.
    kernel.set_stuck(StuckTask {
        container: root(),
        tid: 43,
        syscall: "read",
        duration: Duration::from_millis(50),
    });
    sandbox.start(&root()).await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(50)).await;

    let text = logs.text();
    let stuck: Vec<_> = text
        .lines()
        .filter(|line| line.contains("task stuck in the kernel"))
        .collect();
    assert_eq!(stuck.len(), 1, "reported once: {text}");
    assert!(stuck[0].contains("tid=42") && stuck[0].contains("futex") && stuck[0].contains("duration_ms=5000"));
    assert!(!text.contains("tid=43"), "{text}");
    let slow: Vec<_> = text
        .lines()
        .filter(|line| line.contains("process start not completed"))
        .collect();
    assert_eq!(slow.len(), 1, "{text}");
    assert!(slow[0].contains("container=root"));
}
