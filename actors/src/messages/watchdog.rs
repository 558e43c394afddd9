//! Messages to the Watchdog.

use actix::prelude::*;

use cordon_kernel::control::handle::{ContainerId, StuckTask};

/// The Watchdog, as the actors that report to it reach it.
#[derive(Clone)]
pub(crate) struct WatchdogAddr {
    pub start_began: Recipient<StartBegan>,
    pub start_ended: Recipient<StartEnded>,
    pub task_stuck: Recipient<TaskStuck>,
    pub container_gone: Recipient<ContainerGone>,
}

/// A container began creating a process.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StartBegan {
    pub container: ContainerId,
    pub token: u64,
}

/// A process creation finished, successfully or not.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StartEnded {
    pub container: ContainerId,
    pub token: u64,
}

/// The kernel itself reported a stuck task.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TaskStuck(pub StuckTask);

/// A container was deleted: starts it had in flight will never end.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ContainerGone(pub ContainerId);
