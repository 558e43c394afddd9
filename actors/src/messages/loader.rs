//! Messages to the Loader, and what a container is made of.

use actix::prelude::*;

use cordon_kernel::RootFs;
use cordon_kernel::control::handle::{ContainerId, KernelEvent, NewProcess};

use super::container::ContainerRequest;
use crate::error::ControlError;

/// What a container is made of: the root its processes see and its init.
#[derive(Debug)]
pub struct ContainerSpec {
    pub root: RootFs,
    pub init: NewProcess,
}

/// Creates a container (not yet started).
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub(crate) struct CreateContainer {
    pub id: ContainerId,
    pub spec: ContainerSpec,
}

/// A request for the container `id`, forwarded to its actor.
pub(crate) struct Route<M> {
    pub id: ContainerId,
    pub message: M,
}

impl<M, T> Message for Route<M>
where
    M: ContainerRequest + Message<Result = Result<T, ControlError>>,
    T: Send + 'static,
{
    type Result = Result<T, ControlError>;
}

/// Deletes a container and forgets it.
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub(crate) struct DeleteContainer {
    pub id: ContainerId,
    pub force: bool,
}

/// Pauses (true) or resumes (false) every task of the sandbox.
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub(crate) struct Pause(pub bool);

/// Kills every container and marks the sandbox as shut down.
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub(crate) struct Shutdown;

/// Something the kernel reported, from the event bridge.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Event(pub KernelEvent);

/// A host signal the sandbox process received, for the root container's
/// foreground process.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ForwardSignal(pub i32);

/// Logs the state of every task and aborts the sandbox process: the
/// watchdog's panic action and `--panic-signal`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Abort {
    pub reason: String,
}
