//! Starting a sandbox's actors: the one place that knows every actor, and
//! wires each to the addresses of the others it sends to.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use cordon_kernel::control::handle::{ContainerId, KernelHandle};

use crate::container::ContainerActor;
use crate::error::ControlError;
use crate::handle::SandboxHandle;
use crate::loader::{Loader, StartContainer};
use crate::messages::container::ContainerAddr;
use crate::messages::loader::ContainerSpec;
use crate::messages::watchdog::WatchdogAddr;
use crate::signals::{HostSignals, SignalForwarder};
use crate::watchdog::{Watchdog, WatchdogConfig};

/// How a sandbox's control plane runs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The root container, created with the sandbox.
    pub root: ContainerId,
    pub watchdog: WatchdogConfig,
    /// Forward SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH
    /// received by this process to the root container. This takes those
    /// signals over for the whole process: set it in the sandbox process, not
    /// in a program that embeds several sandboxes.
    pub forward_signals: bool,
    /// A host signal that aborts the sandbox after logging every task.
    pub panic_signal: Option<i32>,
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the root container: {0}")]
    RootContainer(#[source] ControlError),
    #[error("cannot start the kernel event bridge: {0}")]
    Bridge(#[source] std::io::Error),
    #[error("cannot listen for host signals: {0}")]
    Signals(#[source] std::io::Error),
}

/// Starts the actors of a sandbox on the current actix arbiter, with the
/// root container created (not started).
///
/// Must be called from inside a running actix system (`actix::System`,
/// `#[actix::test]`); the actors live as long as it does.
pub fn start_sandbox(
    kernel: Arc<dyn KernelHandle>,
    config: SandboxConfig,
    root_spec: ContainerSpec,
) -> Result<SandboxHandle, StartError> {
    let signals = match config.forward_signals {
        true => Some(HostSignals::listen(config.panic_signal).map_err(StartError::Signals)?),
        false => None,
    };
    kernel
        .create_container(&config.root, root_spec.root)
        .map_err(|err| StartError::RootContainer(ControlError::from_handle(&config.root.0, err)))?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let events = kernel.events();
    let loader = Loader::create(|ctx| {
        let watchdog = Watchdog::new(Arc::clone(&kernel), config.watchdog.clone(), ctx.address().recipient());
        let watchdog = WatchdogAddr::from(watchdog.start());
        let task_stuck = watchdog.task_stuck.clone();
        let container_kernel = Arc::clone(&kernel);
        let start_container: StartContainer = Box::new(move |id, init| {
            let actor = ContainerActor::new(id, Arc::clone(&container_kernel), watchdog.clone(), init);
            ContainerAddr::from(actor.start())
        });
        Loader::new(
            kernel,
            config.root.clone(),
            root_spec.init,
            start_container,
            task_stuck,
            shutdown_tx,
        )
    });
    crate::bridge::spawn(events, loader.clone().recipient()).map_err(StartError::Bridge)?;
    if let Some(signals) = signals {
        SignalForwarder::new(
            loader.clone().recipient(),
            loader.clone().recipient(),
            config.panic_signal,
            signals,
        )
        .start();
    }
    Ok(SandboxHandle::new(loader, config.root, shutdown_rx))
}
