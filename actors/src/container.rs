//! One actor per container: its life cycle, the processes it started and
//! everyone waiting on them.
//!
//! ```text
//!  Created ──Start──▶ Starting ──loaded──▶ Running ◀──SetPaused──▶ Paused
//!     │                  │ failed            │ init exits             │
//!     │ killed           ▼                   ▼                        │
//!     └──────────────▶ Stopped ◀─────────────┴────────────────────────┘
//!   Delete (forced unless Created or Stopped) frees everything and stops the actor.
//! ```
//!
//! A created container can be killed before it starts, as runc's can (see
//! [`ends_a_created_container`]); a signal that arrives while the init is
//! being loaded is held and sent once it has a pid.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use cordon_kernel::ExitStatus;
use cordon_kernel::control::handle::{ContainerId, KernelHandle, NewProcess, Pid, ProcessInfo, SignalTarget, Usage};

use crate::error::ControlError;
use crate::messages::container::{
    ContainerAddr, Delete, Exec, ExitResult, ProcessExited, Processes, SetPaused, Signal, Start, State, Stats, Wait,
    WaitPid,
};
use crate::messages::watchdog::{ContainerGone, StartBegan, StartEnded, WatchdogAddr};
use crate::protocol::{ContainerState, ContainerStatus};

/// Where the container is in its life; `Starting` is reported as created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LifeCycle {
    Created,
    /// The init is being loaded on a blocking worker.
    Starting,
    Running,
    Paused,
    Stopped,
}

impl LifeCycle {
    fn status(self) -> ContainerStatus {
        match self {
            LifeCycle::Created | LifeCycle::Starting => ContainerStatus::Created,
            LifeCycle::Running => ContainerStatus::Running,
            LifeCycle::Paused => ContainerStatus::Paused,
            LifeCycle::Stopped => ContainerStatus::Stopped,
        }
    }
}

/// Someone waiting for a process to exit; `clear` asks that the record be
/// dropped once the status is delivered (waitpid's clear-after).
struct Waiter {
    reply: oneshot::Sender<ExitResult>,
    clear: bool,
}

/// A process this container started (its init or an exec).
#[derive(Default)]
struct ProcessRecord {
    status: Option<ExitStatus>,
    waiters: Vec<Waiter>,
}

pub(crate) struct ContainerActor {
    id: ContainerId,
    kernel: Arc<dyn KernelHandle>,
    watchdog: WatchdogAddr,
    life: LifeCycle,
    /// The init's spec, until `Start` takes it.
    init_spec: Option<NewProcess>,
    init_pid: Option<Pid>,
    /// How the container ended: the init's status, or why it never started.
    outcome: Option<ExitResult>,
    /// Waiters for the init, which may be registered before it has a pid.
    init_waiters: Vec<oneshot::Sender<ExitResult>>,
    /// Processes started here, exited or not, until delete or a clearing
    /// waitpid. Exits of processes not started here (forked children) are not
    /// recorded.
    records: HashMap<Pid, ProcessRecord>,
    /// Process creations running on blocking workers.
    starts_in_flight: usize,
    /// Exits that arrived while a creation was in flight, for a pid not yet
    /// known: the kernel may report an exit before `create_process` returns.
    /// Emptied whenever no creation is in flight.
    early_exits: HashMap<Pid, ExitStatus>,
    /// Identifies this container's starts to the watchdog.
    next_start_token: u64,
    /// Signals for the init that arrived while it was Starting.
    held_signals: Vec<(SignalTarget, i32)>,
}

impl ContainerActor {
    pub(crate) fn new(
        id: ContainerId,
        kernel: Arc<dyn KernelHandle>,
        watchdog: WatchdogAddr,
        init: NewProcess,
    ) -> ContainerActor {
        ContainerActor {
            id,
            kernel,
            watchdog,
            life: LifeCycle::Created,
            init_spec: Some(init),
            init_pid: None,
            outcome: None,
            init_waiters: Vec::new(),
            records: HashMap::new(),
            starts_in_flight: 0,
            early_exits: HashMap::new(),
            next_start_token: 0,
            held_signals: Vec::new(),
        }
    }

    fn invalid_state(&self, operation: &str) -> ControlError {
        ControlError::InvalidState {
            id: self.id.0.clone(),
            status: self.life.status(),
            operation: operation.to_owned(),
        }
    }

    /// Creates a process on a blocking worker (loading it does file I/O) and
    /// resolves to its pid, with the watchdog told about the start.
    fn create_process(
        &mut self,
        process: NewProcess,
    ) -> impl ActorFuture<Self, Output = Result<Pid, ControlError>> + use<> {
        self.starts_in_flight += 1;
        let token = self.next_start_token;
        self.next_start_token += 1;
        self.watchdog.start_began.do_send(StartBegan {
            container: self.id.clone(),
            token,
        });
        let kernel = Arc::clone(&self.kernel);
        let id = self.id.clone();
        let create = async move { actix_rt::task::spawn_blocking(move || kernel.create_process(&id, process)).await };
        create.into_actor(self).map(move |joined, act, _ctx| {
            act.watchdog.start_ended.do_send(StartEnded {
                container: act.id.clone(),
                token,
            });
            act.starts_in_flight -= 1;
            let created = match joined {
                Ok(created) => created.map_err(|err| ControlError::from_handle(&act.id.0, err)),
                Err(join) => Err(ControlError::Kernel(format!("process creation panicked: {join}"))),
            };
            if let Ok(pid) = created {
                act.records.insert(pid, ProcessRecord::default());
            }
            created
        })
    }

    /// Applies an exit that arrived before its creation finished, and forgets
    /// early exits once no creation can claim them.
    fn settle_early_exits(&mut self, pid: Option<Pid>) {
        if let Some(status) = pid.and_then(|pid| self.early_exits.remove(&pid)) {
            self.process_exited(pid.expect("an early exit was found by pid"), status);
        }
        if self.starts_in_flight == 0 {
            self.early_exits.clear();
        }
    }

    fn process_exited(&mut self, pid: Pid, status: ExitStatus) {
        let Some(record) = self.records.get_mut(&pid) else {
            if self.starts_in_flight > 0 {
                self.early_exits.insert(pid, status);
            }
            return;
        };
        record.status = Some(status);
        let mut clear = false;
        for waiter in record.waiters.drain(..) {
            clear |= waiter.clear;
            // A waiter that went away no longer needs the status.
            let _ = waiter.reply.send(Ok(status));
        }
        if clear {
            self.records.remove(&pid);
        }
        if self.init_pid == Some(pid) {
            tracing::info!(container = %self.id, pid, ?status, "container init exited");
            self.stop_with(Ok(status));
            // As when a PID namespace's init dies, nothing else may outlive it.
            if let Err(err) = self.kernel.signal(&self.id, SignalTarget::AllProcesses, libc::SIGKILL) {
                tracing::debug!(container = %self.id, error = %err, "nothing left to kill after the init");
            }
        }
    }

    /// Moves to Stopped with `outcome` and tells every init waiter.
    fn stop_with(&mut self, outcome: ExitResult) {
        self.life = LifeCycle::Stopped;
        for waiter in self.init_waiters.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
        self.outcome = Some(outcome);
    }

    /// A signal for a container whose init has not run. Created: one that
    /// ends runc's waiting init ends the container, with the signal as its
    /// status; any other is dropped, as that init drops it. Starting: it is
    /// held until the init has a pid.
    fn signal_before_start(&mut self, target: SignalTarget, signal: i32) -> Result<(), ControlError> {
        if signal != 0 && !cordon_kernel::abi::signal::valid(signal) {
            return Err(ControlError::InvalidSignal(signal));
        }
        if let SignalTarget::Process(pid) | SignalTarget::ProcessGroup(pid) = target {
            return Err(ControlError::NoSuchProcess {
                id: self.id.0.clone(),
                pid,
            });
        }
        if self.life == LifeCycle::Starting {
            self.held_signals.push((target, signal));
        } else if ends_a_created_container(signal) {
            tracing::info!(container = %self.id, signal, "created container killed before its start");
            // Created → Stopped: the init's spec goes, a Start is refused.
            self.init_spec = None;
            self.stop_with(Ok(ExitStatus::Signaled(signal)));
        }
        Ok(())
    }

    /// Sends the signals held while the init was loading, now that it runs.
    fn send_held_signals(&mut self) {
        for (target, signal) in std::mem::take(&mut self.held_signals) {
            if let Err(err) = self.kernel.signal(&self.id, target, signal) {
                tracing::info!(container = %self.id, signal, error = %err, "held signal not delivered");
            }
        }
    }
}

/// Whether `signal` ends a container that is created but not started.
///
/// runc's created container is `runc init` blocked on its exec FIFO: a Go
/// program, and the init of its own PID namespace, so from outside it gets
/// SIGKILL and the signals it has handlers for. The Go runtime exits on
/// SIGHUP, SIGINT and SIGTERM, and after a stack dump on SIGQUIT, SIGILL,
/// SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSTKFLT and SIGSYS; it
/// ignores the rest (os/signal, "Default behavior of signals in Go
/// programs"). That is what `runc kill` of a created container does, signal
/// by signal, with runc 1.1.5. runc's init then exits with status 2 (a
/// namespace's init cannot die of a signal it raises itself); cordon
/// reports the signal that was sent.
fn ends_a_created_container(signal: i32) -> bool {
    matches!(
        signal,
        libc::SIGKILL
            | libc::SIGHUP
            | libc::SIGINT
            | libc::SIGTERM
            | libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGSTKFLT
            | libc::SIGSYS
    )
}

impl Actor for ContainerActor {
    type Context = Context<Self>;
}

impl From<Addr<ContainerActor>> for ContainerAddr {
    fn from(actor: Addr<ContainerActor>) -> ContainerAddr {
        ContainerAddr {
            start: actor.clone().recipient(),
            exec: actor.clone().recipient(),
            wait: actor.clone().recipient(),
            wait_pid: actor.clone().recipient(),
            signal: actor.clone().recipient(),
            processes: actor.clone().recipient(),
            stats: actor.clone().recipient(),
            state: actor.clone().recipient(),
            process_exited: actor.clone().recipient(),
            set_paused: actor.clone().recipient(),
            delete: actor.recipient(),
        }
    }
}

impl Handler<Start> for ContainerActor {
    type Result = ResponseActFuture<Self, Result<Pid, ControlError>>;

    fn handle(&mut self, _: Start, _ctx: &mut Context<Self>) -> Self::Result {
        if self.life != LifeCycle::Created {
            return Box::pin(fut::ready(Err(self.invalid_state("start"))));
        }
        // Created → Starting: the spec is consumed, a second Start is refused.
        let init = self
            .init_spec
            .take()
            .expect("a created container holds its init's spec");
        self.life = LifeCycle::Starting;
        Box::pin(self.create_process(init).map(|created, act, _ctx| {
            match &created {
                Ok(pid) => {
                    tracing::info!(container = %act.id, pid, "container started");
                    act.init_pid = Some(*pid);
                    // Starting → Running, unless a Delete or a pause came first.
                    if act.life == LifeCycle::Starting {
                        act.life = LifeCycle::Running;
                    }
                    act.settle_early_exits(Some(*pid));
                    if act.life != LifeCycle::Stopped {
                        act.send_held_signals();
                    }
                }
                Err(err) => {
                    // The requester gets the error; this is for the log.
                    tracing::info!(container = %act.id, error = %err, "container failed to start");
                    // Starting → Stopped: nothing runs, waiters learn why.
                    act.stop_with(Err(err.clone()));
                    act.settle_early_exits(None);
                    act.held_signals.clear();
                }
            }
            created
        }))
    }
}

impl Handler<Exec> for ContainerActor {
    type Result = ResponseActFuture<Self, Result<Pid, ControlError>>;

    fn handle(&mut self, Exec(process): Exec, _ctx: &mut Context<Self>) -> Self::Result {
        if self.life != LifeCycle::Running {
            return Box::pin(fut::ready(Err(self.invalid_state("exec"))));
        }
        Box::pin(self.create_process(process).map(|created, act, _ctx| {
            match &created {
                Ok(pid) => tracing::debug!(container = %act.id, pid, "exec started"),
                Err(err) => tracing::debug!(container = %act.id, error = %err, "exec failed"),
            }
            act.settle_early_exits(created.as_ref().ok().copied());
            created
        }))
    }
}

impl Handler<Wait> for ContainerActor {
    type Result = ResponseFuture<ExitResult>;

    fn handle(&mut self, _: Wait, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(outcome) = &self.outcome {
            return Box::pin(std::future::ready(outcome.clone()));
        }
        let (reply, receive) = oneshot::channel();
        self.init_waiters.push(reply);
        let id = self.id.0.clone();
        Box::pin(async move { receive.await.unwrap_or(Err(ControlError::Deleted { id })) })
    }
}

impl Handler<WaitPid> for ContainerActor {
    type Result = ResponseFuture<ExitResult>;

    fn handle(&mut self, WaitPid { pid, clear }: WaitPid, _ctx: &mut Context<Self>) -> Self::Result {
        let id = self.id.0.clone();
        let Some(record) = self.records.get_mut(&pid) else {
            return Box::pin(std::future::ready(Err(ControlError::NoSuchProcess { id, pid })));
        };
        if let Some(status) = record.status {
            if clear {
                self.records.remove(&pid);
            }
            return Box::pin(std::future::ready(Ok(status)));
        }
        let (reply, receive) = oneshot::channel();
        record.waiters.push(Waiter { reply, clear });
        Box::pin(async move { receive.await.unwrap_or(Err(ControlError::Deleted { id })) })
    }
}

impl Handler<Signal> for ContainerActor {
    type Result = Result<(), ControlError>;

    fn handle(&mut self, Signal { target, signal }: Signal, _ctx: &mut Context<Self>) -> Self::Result {
        match self.life {
            LifeCycle::Running | LifeCycle::Paused => {}
            LifeCycle::Created | LifeCycle::Starting => return self.signal_before_start(target, signal),
            // As runc's `kill --all` of a stopped container: to whatever is
            // left (containerd's shim sends it after every exit).
            LifeCycle::Stopped if matches!(target, SignalTarget::AllProcesses) => {}
            LifeCycle::Stopped => return Err(self.invalid_state("signal")),
        }
        tracing::debug!(container = %self.id, ?target, signal, "signal");
        self.kernel
            .signal(&self.id, target, signal)
            .map_err(|err| ControlError::from_handle(&self.id.0, err))
    }
}

impl Handler<Processes> for ContainerActor {
    type Result = Result<Vec<ProcessInfo>, ControlError>;

    fn handle(&mut self, _: Processes, _ctx: &mut Context<Self>) -> Self::Result {
        self.kernel
            .processes(&self.id)
            .map_err(|err| ControlError::from_handle(&self.id.0, err))
    }
}

impl Handler<Stats> for ContainerActor {
    type Result = Result<Usage, ControlError>;

    fn handle(&mut self, _: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        self.kernel
            .usage(&self.id)
            .map_err(|err| ControlError::from_handle(&self.id.0, err))
    }
}

impl Handler<State> for ContainerActor {
    type Result = Result<ContainerState, ControlError>;

    fn handle(&mut self, _: State, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(ContainerState {
            id: self.id.0.clone(),
            status: self.life.status(),
            pid: self.init_pid,
        })
    }
}

impl Handler<ProcessExited> for ContainerActor {
    type Result = ();

    fn handle(&mut self, ProcessExited { pid, status }: ProcessExited, _ctx: &mut Context<Self>) {
        self.process_exited(pid, status);
    }
}

impl Handler<SetPaused> for ContainerActor {
    type Result = ();

    fn handle(&mut self, SetPaused(paused): SetPaused, _ctx: &mut Context<Self>) {
        // Only a running container pauses; only a paused one resumes.
        self.life = match (self.life, paused) {
            (LifeCycle::Running, true) => LifeCycle::Paused,
            (LifeCycle::Paused, false) => LifeCycle::Running,
            (life, _) => life,
        };
    }
}

impl Handler<Delete> for ContainerActor {
    type Result = ResponseFuture<Result<(), ControlError>>;

    fn handle(&mut self, Delete { force }: Delete, ctx: &mut Context<Self>) -> Self::Result {
        let live = matches!(self.life, LifeCycle::Starting | LifeCycle::Running | LifeCycle::Paused);
        if live && !force {
            let refused = Err(self.invalid_state("delete without force"));
            return Box::pin(async move { refused });
        }
        // The kernel may wait for the killed processes to end: on a blocking
        // worker, and the reply once it is done. The actor's bookkeeping
        // does not wait.
        let (kernel, id) = (Arc::clone(&self.kernel), self.id.clone());
        let destroyed = actix_rt::task::spawn_blocking(move || {
            if let Err(err) = kernel.destroy_container(&id) {
                tracing::warn!(container = %id, error = %err, "kernel failed to destroy the container");
            }
        });
        let deleted = || Err(ControlError::Deleted { id: self.id.0.clone() });
        for waiter in self.init_waiters.drain(..) {
            let _ = waiter.send(deleted());
        }
        for (_, record) in self.records.drain() {
            for waiter in record.waiters {
                let _ = waiter.reply.send(deleted());
            }
        }
        self.early_exits.clear();
        self.init_spec = None;
        // Creations in flight die with this actor before they can report.
        self.watchdog.container_gone.do_send(ContainerGone(self.id.clone()));
        tracing::info!(container = %self.id, "container deleted");
        ctx.stop();
        Box::pin(async move {
            // A worker that panicked has still ended its kills.
            let _ = destroyed.await;
            Ok(())
        })
    }
}
