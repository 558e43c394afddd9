//! Messages to a container's actor, and the requests the Loader routes to
//! it. Which are legal in which state is the actor's state machine, in
//! `container.rs`.

use actix::prelude::*;

use cordon_kernel::ExitStatus;
use cordon_kernel::control::handle::{NewProcess, Pid, ProcessInfo, SignalTarget, Usage};

use crate::error::ControlError;
use crate::protocol::ContainerState;

/// How a process ended, or why it never ran.
pub(crate) type ExitResult = Result<ExitStatus, ControlError>;

/// A container's actor, as the Loader reaches it: a mailbox for each
/// message it takes (all of them one queue, in the order sent).
#[derive(Clone)]
pub(crate) struct ContainerAddr {
    pub start: Recipient<Start>,
    pub exec: Recipient<Exec>,
    pub wait: Recipient<Wait>,
    pub wait_pid: Recipient<WaitPid>,
    pub signal: Recipient<Signal>,
    pub processes: Recipient<Processes>,
    pub stats: Recipient<Stats>,
    pub state: Recipient<State>,
    pub process_exited: Recipient<ProcessExited>,
    pub set_paused: Recipient<SetPaused>,
    pub delete: Recipient<Delete>,
}

/// A request for one container, which the Loader routes to that
/// container's actor (see `messages::loader::Route`).
pub(crate) trait ContainerRequest: Message + Send + Sized + 'static
where
    Self::Result: Send,
{
    /// The mailbox of `container` this request goes to.
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self>;
}

/// Starts the init. Legal only in Created; replies with its pid.
#[derive(Message)]
#[rtype(result = "Result<Pid, ControlError>")]
pub(crate) struct Start;

impl ContainerRequest for Start {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.start
    }
}

/// Starts another process in a running container; replies with its pid.
#[derive(Message)]
#[rtype(result = "Result<Pid, ControlError>")]
pub(crate) struct Exec(pub NewProcess);

impl ContainerRequest for Exec {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.exec
    }
}

/// Waits for the init to exit; a wait after the exit gets the same status.
#[derive(Message)]
#[rtype(result = "ExitResult")]
pub(crate) struct Wait;

impl ContainerRequest for Wait {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.wait
    }
}

/// Waits for a process this container started.
#[derive(Message)]
#[rtype(result = "ExitResult")]
pub(crate) struct WaitPid {
    pub pid: Pid,
    pub clear: bool,
}

impl ContainerRequest for WaitPid {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.wait_pid
    }
}

/// Sends a signal into a running or paused container. A created container
/// has only its init to come: `Foreground` and `AllProcesses` mean it, and
/// a signal that would end it stops the container (see
/// `ends_a_created_container` in `container.rs`); while the init is being
/// loaded, the signal waits for it.
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub(crate) struct Signal {
    pub target: SignalTarget,
    pub signal: i32,
}

impl ContainerRequest for Signal {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.signal
    }
}

/// The container's live processes.
#[derive(Message)]
#[rtype(result = "Result<Vec<ProcessInfo>, ControlError>")]
pub(crate) struct Processes;

impl ContainerRequest for Processes {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.processes
    }
}

/// What the container's processes use.
#[derive(Message)]
#[rtype(result = "Result<Usage, ControlError>")]
pub(crate) struct Stats;

impl ContainerRequest for Stats {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.stats
    }
}

/// The container's status and init pid.
#[derive(Message)]
#[rtype(result = "Result<ContainerState, ControlError>")]
pub(crate) struct State;

impl ContainerRequest for State {
    fn mailbox(container: &ContainerAddr) -> &Recipient<Self> {
        &container.state
    }
}

/// A process of this container exited (from the kernel, via the Loader).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ProcessExited {
    pub pid: Pid,
    pub status: ExitStatus,
}

/// The sandbox was paused (true) or resumed (false).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetPaused(pub bool);

/// Frees everything the container holds and stops its actor. A container
/// with processes (starting, running, paused) needs `force`, which kills
/// them; waiters still pending get [`ControlError::Deleted`].
#[derive(Message)]
#[rtype(result = "Result<(), ControlError>")]
pub(crate) struct Delete {
    pub force: bool,
}
