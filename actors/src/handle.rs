//! The typed handle everything outside the crate drives a sandbox's
//! actors with.

use actix::prelude::*;
use tokio::sync::watch;

use cordon_kernel::ExitStatus;
use cordon_kernel::control::handle::{ContainerId, NewProcess, Pid, ProcessInfo, SignalTarget, Usage};

use crate::error::ControlError;
use crate::loader::Loader;
use crate::messages::container::{ContainerRequest, Exec, Processes, Signal, Start, State, Stats, Wait, WaitPid};
use crate::messages::loader::{ContainerSpec, CreateContainer, DeleteContainer, Pause, Route, Shutdown};
use crate::protocol::ContainerState;

/// The control plane of one sandbox, as Rust code drives it. Cheap to clone;
/// usable from any thread, its futures complete once the actors answer.
#[derive(Clone)]
pub struct SandboxHandle {
    loader: Addr<Loader>,
    root: ContainerId,
    shutdown: watch::Receiver<bool>,
}

impl SandboxHandle {
    /// The handle of the sandbox whose Loader is `loader`, with root container
    /// `root`; `shutdown` turns true once a shutdown has been served.
    pub(crate) fn new(loader: Addr<Loader>, root: ContainerId, shutdown: watch::Receiver<bool>) -> SandboxHandle {
        SandboxHandle { loader, root, shutdown }
    }

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
        M: ContainerRequest + Message<Result = Result<T, ControlError>>,
        T: Send + 'static,
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
