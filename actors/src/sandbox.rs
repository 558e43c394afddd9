//! Starting a sandbox's actors, and the typed handle everything outside the
//! crate drives them with.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use cordon_kernel::ExitStatus;
use cordon_kernel::RootFs;
use cordon_kernel::control::handle::{ContainerId, KernelHandle, NewProcess, Pid, ProcessInfo, SignalTarget, Usage};

use crate::container::{Exec, Processes, Signal, Start, State, Stats, Wait, WaitPid};
use crate::error::ControlError;
use crate::loader::{CreateContainer, DeleteContainer, Loader, Pause, Route, Shutdown};
use crate::protocol::ContainerState;
use crate::signals::{HostSignals, SignalForwarder};
use crate::watchdog::WatchdogConfig;

/// What a container is made of: the root its processes see and its init.
#[derive(Debug)]
pub struct ContainerSpec {
    pub root: RootFs,
    pub init: NewProcess,
}

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
        Loader::new(
            ctx,
            kernel,
            config.watchdog.clone(),
            config.root.clone(),
            root_spec.init,
            shutdown_tx,
        )
    });
    crate::bridge::spawn(events, loader.clone()).map_err(StartError::Bridge)?;
    if let Some(signals) = signals {
        SignalForwarder::new(loader.clone(), config.panic_signal, signals).start();
    }
    Ok(SandboxHandle {
        loader,
        root: config.root,
        shutdown: shutdown_rx,
    })
}

/// The control plane of one sandbox, as Rust code drives it. Cheap to clone;
/// usable from any thread, its futures complete once the actors answer.
#[derive(Clone)]
pub struct SandboxHandle {
    loader: Addr<Loader>,
    root: ContainerId,
    shutdown: watch::Receiver<bool>,
}

impl SandboxHandle {
    /// The root container's id.
    pub fn root(&self) -> &ContainerId {
        &self.root
    }

    async fn ask<M, T>(&self, message: M) -> Result<T, ControlError>
    where
        M: Message<Result = Result<T, ControlError>> + Send + 'static,
        T: Send + 'static,
        Loader: Handler<M>,
    {
        self.loader
            .send(message)
            .await
            .unwrap_or(Err(ControlError::ShuttingDown))
    }

    async fn route<M, T>(&self, id: &ContainerId, message: M) -> Result<T, ControlError>
    where
        M: Message<Result = Result<T, ControlError>> + Send + 'static,
        T: Send + 'static,
        crate::container::ContainerActor: Handler<M>,
    {
        self.ask(Route {
            id: id.clone(),
            message,
        })
        .await
    }

    /// Creates a container beside the others; it starts with [`Self::start`].
    pub async fn create(&self, id: ContainerId, spec: ContainerSpec) -> Result<(), ControlError> {
        self.ask(CreateContainer { id, spec }).await
    }

    /// Starts a created container's init; returns its pid once loaded.
    pub async fn start(&self, id: &ContainerId) -> Result<Pid, ControlError> {
        self.route(id, Start).await
    }

    /// Starts a process in a running container; returns its pid.
    pub async fn exec(&self, id: &ContainerId, process: NewProcess) -> Result<Pid, ControlError> {
        self.route(id, Exec(process)).await
    }

    /// Waits for the container's init to exit. Every waiter gets the same
    /// status, and so does a wait after the exit.
    pub async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, ControlError> {
        self.route(id, Wait).await
    }

    /// Waits for a process started by `start` or `exec`; with `clear`, the
    /// sandbox forgets it once reported.
    pub async fn wait_pid(&self, id: &ContainerId, pid: Pid, clear: bool) -> Result<ExitStatus, ControlError> {
        self.route(id, WaitPid { pid, clear }).await
    }

    /// Sends a signal into a running or paused container.
    pub async fn signal(&self, id: &ContainerId, target: SignalTarget, signal: i32) -> Result<(), ControlError> {
        self.route(id, Signal { target, signal }).await
    }

    /// The container's live processes.
    pub async fn processes(&self, id: &ContainerId) -> Result<Vec<ProcessInfo>, ControlError> {
        self.route(id, Processes).await
    }

    /// What the container's processes use.
    pub async fn stats(&self, id: &ContainerId) -> Result<Usage, ControlError> {
        self.route(id, Stats).await
    }

    /// The container's status and init pid.
    pub async fn state(&self, id: &ContainerId) -> Result<ContainerState, ControlError> {
        self.route(id, State).await
    }

    /// Stops every task of the sandbox; every running container is paused.
    pub async fn pause(&self) -> Result<(), ControlError> {
        self.ask(Pause(true)).await
    }

    /// Lets a paused sandbox run again.
    pub async fn resume(&self) -> Result<(), ControlError> {
        self.ask(Pause(false)).await
    }

    /// Frees everything the sandbox holds for the container. One that still
    /// has processes needs `force`, which kills them; pending waiters get
    /// [`ControlError::Deleted`].
    pub async fn delete(&self, id: &ContainerId, force: bool) -> Result<(), ControlError> {
        self.ask(DeleteContainer { id: id.clone(), force }).await
    }

    /// Kills and deletes every container; [`Self::shut_down`] then completes.
    pub async fn shutdown(&self) -> Result<(), ControlError> {
        self.ask(Shutdown).await
    }

    /// Completes once a shutdown has been served (or the actors are gone):
    /// what the sandbox process waits for before it exits.
    pub async fn shut_down(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the Loader is gone, which is shut down too.
        let _ = shutdown.wait_for(|done| *done).await;
    }
}
