//! Host signals reach the root container. A test binary of its own: the
//! forwarder takes these signals over for the whole process.

#![deny(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use cordon_actors::testing::{FakeKernel, ProcessScript, SentSignal, container};
use cordon_actors::{SandboxConfig, WatchdogConfig, start_sandbox};
use cordon_kernel::ExitStatus;
use cordon_kernel::control::handle::{ContainerId, SignalTarget};

#[actix_rt::test]
async fn host_signals_go_to_the_root_containers_foreground() {
    let kernel = Arc::new(FakeKernel::new());
    kernel.script("sleep", ProcessScript::until_signalled());
    let root = ContainerId("root".into());
    let config = SandboxConfig {
        root: root.clone(),
        watchdog: WatchdogConfig::default(),
        forward_signals: true,
        panic_signal: None,
    };
    let sandbox = start_sandbox(kernel.clone(), config, container(&["sleep"])).unwrap();
    sandbox.start(&root).await.unwrap();

    // SIGWINCH does not end the init; SIGTERM does.
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGWINCH).unwrap();
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(sandbox.wait(&root).await, Ok(ExitStatus::Signaled(libc::SIGTERM)));
    let forwarded = |signal| SentSignal {
        container: root.clone(),
        target: SignalTarget::Foreground,
        signal,
    };
    // Then the init's exit kills what is left of the container.
    assert_eq!(
        kernel.signals()[..2],
        [forwarded(libc::SIGWINCH), forwarded(libc::SIGTERM)]
    );
}
