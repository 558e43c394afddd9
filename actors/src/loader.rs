//! The Loader: owns the kernel handle, creates the containers' actors, routes
//! each request to the container it names and each kernel event to the actor
//! it concerns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use cordon_kernel::control::handle::{ContainerId, KernelEvent, KernelHandle, NewProcess, SignalTarget};

use crate::error::ControlError;
use crate::messages::container::{ContainerAddr, ContainerRequest, Delete, ProcessExited, SetPaused, Signal};
use crate::messages::loader::{
    Abort, ContainerSpec, CreateContainer, DeleteContainer, Event, ForwardSignal, Pause, Route, Shutdown,
};
use crate::messages::watchdog::TaskStuck;

/// Starts the actor of a container the kernel has just created, from its id
/// and its init's spec (`sandbox.rs` says which actor that is).
pub(crate) type StartContainer = Box<dyn Fn(ContainerId, NewProcess) -> ContainerAddr>;

pub(crate) struct Loader {
    kernel: Arc<dyn KernelHandle>,
    root: ContainerId,
    containers: HashMap<ContainerId, ContainerAddr>,
    start_container: StartContainer,
    /// Where the kernel's reports of stuck tasks go: the Watchdog.
    task_stuck: Recipient<TaskStuck>,
    /// Set once a Shutdown has been served.
    shutdown: watch::Sender<bool>,
}

impl Loader {
    /// Creates the Loader around the root container, which the kernel
    /// already has (its init not started).
    pub(crate) fn new(
        kernel: Arc<dyn KernelHandle>,
        root: ContainerId,
        root_init: NewProcess,
        start_container: StartContainer,
        task_stuck: Recipient<TaskStuck>,
        shutdown: watch::Sender<bool>,
    ) -> Loader {
        let mut loader = Loader {
            kernel,
            root: root.clone(),
            containers: HashMap::new(),
            start_container,
            task_stuck,
            shutdown,
        };
        loader.add(root, root_init);
        loader
    }

    fn create(&mut self, id: ContainerId, spec: ContainerSpec) -> Result<(), ControlError> {
        if self.containers.contains_key(&id) {
            return Err(ControlError::AlreadyExists { id: id.0 });
        }
        self.kernel
            .create_container(&id, spec.root)
            .map_err(|err| ControlError::from_handle(&id.0, err))?;
        self.add(id, spec.init);
        Ok(())
    }

    /// Starts the actor of a container the kernel has just created.
    fn add(&mut self, id: ContainerId, init: NewProcess) {
        let actor = (self.start_container)(id.clone(), init);
        tracing::info!(container = %id, "container created");
        self.containers.insert(id, actor);
    }

    fn container(&self, id: &ContainerId) -> Result<&ContainerAddr, ControlError> {
        self.containers
            .get(id)
            .ok_or_else(|| ControlError::NotFound { id: id.0.clone() })
    }
}

impl Actor for Loader {
    type Context = Context<Self>;
}

impl Handler<CreateContainer> for Loader {
    type Result = Result<(), ControlError>;

    fn handle(&mut self, CreateContainer { id, spec }: CreateContainer, _ctx: &mut Context<Self>) -> Self::Result {
        self.create(id, spec)
    }
}

impl<M, T> Handler<Route<M>> for Loader
where
    M: ContainerRequest + Message<Result = Result<T, ControlError>>,
    T: Send + 'static,
{
    type Result = ResponseFuture<Result<T, ControlError>>;

    fn handle(&mut self, Route { id, message }: Route<M>, _ctx: &mut Context<Self>) -> Self::Result {
        let container = self.container(&id).map(|container| M::mailbox(container).clone());
        Box::pin(async move {
            // A mailbox that closed under us belongs to a container just deleted.
            container?
                .send(message)
                .await
                .unwrap_or(Err(ControlError::NotFound { id: id.0 }))
        })
    }
}

impl Handler<DeleteContainer> for Loader {
    type Result = ResponseActFuture<Self, Result<(), ControlError>>;

    fn handle(&mut self, DeleteContainer { id, force }: DeleteContainer, _ctx: &mut Context<Self>) -> Self::Result {
        let container = match self.container(&id) {
            Ok(container) => container.delete.clone(),
            Err(err) => return Box::pin(fut::ready(Err(err))),
        };
        let delete = async move { container.send(Delete { force }).await };
        Box::pin(delete.into_actor(self).map(move |sent, loader, _ctx| {
            let deleted = sent.unwrap_or(Ok(()));
            if deleted.is_ok() {
                loader.containers.remove(&id);
            }
            deleted
        }))
    }
}

impl Handler<Pause> for Loader {
    type Result = Result<(), ControlError>;

    fn handle(&mut self, Pause(pause): Pause, _ctx: &mut Context<Self>) -> Self::Result {
        if pause {
            self.kernel.pause();
        } else {
            self.kernel.resume();
        }
        tracing::info!(paused = pause, "sandbox pause state changed");
        for container in self.containers.values() {
            container.set_paused.do_send(SetPaused(pause));
        }
        Ok(())
    }
}

impl Handler<Shutdown> for Loader {
    type Result = ResponseActFuture<Self, Result<(), ControlError>>;

    fn handle(&mut self, _: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        let mut containers: Vec<_> = self.containers.drain().collect();
        // The root container first: its end ends every process of the
        // sandbox, so the others' deletes find nothing left to wait for.
        let root = self.root.clone();
        containers.sort_by_key(|(id, _)| *id != root);
        let deletes = async move {
            for (id, container) in containers {
                if let Ok(Err(err)) = container.delete.send(Delete { force: true }).await {
                    tracing::warn!(container = %id, error = %err, "cannot delete container at shutdown");
                }
            }
        };
        Box::pin(deletes.into_actor(self).map(|(), loader, _ctx| {
            tracing::info!("sandbox shut down");
            loader.shutdown.send_replace(true);
            Ok(())
        }))
    }
}

impl Handler<Event> for Loader {
    type Result = ();

    fn handle(&mut self, Event(event): Event, _ctx: &mut Context<Self>) {
        match event {
            KernelEvent::ProcessExited { container, pid, status } => match self.containers.get(&container) {
                Some(actor) => actor.process_exited.do_send(ProcessExited { pid, status }),
                None => tracing::debug!(container = %container, pid, "exit in a deleted container"),
            },
            KernelEvent::TaskStuck(task) => self.task_stuck.do_send(TaskStuck(task)),
            KernelEvent::UnimplementedSyscall {
                container,
                pid,
                number,
                name,
            } => tracing::info!(container = %container, pid, number, syscall = name, "unimplemented system call"),
        }
    }
}

impl Handler<ForwardSignal> for Loader {
    type Result = ();

    fn handle(&mut self, ForwardSignal(signal): ForwardSignal, _ctx: &mut Context<Self>) {
        let Some(root) = self.containers.get(&self.root) else {
            tracing::debug!(signal, "no root container to forward the signal to");
            return;
        };
        let send = root.signal.send(Signal {
            target: SignalTarget::Foreground,
            signal,
        });
        actix::spawn(async move {
            match send.await {
                Ok(Ok(())) => tracing::debug!(signal, "host signal forwarded"),
                Ok(Err(err)) => tracing::info!(signal, error = %err, "host signal not forwarded"),
                Err(_) => tracing::debug!(signal, "root container gone before the signal"),
            }
        });
    }
}

impl Handler<Abort> for Loader {
    type Result = ();

    fn handle(&mut self, Abort { reason }: Abort, _ctx: &mut Context<Self>) {
        tracing::error!(reason = %reason, "aborting the sandbox");
        for id in self.containers.keys() {
            match self.kernel.processes(id) {
                Ok(processes) => {
                    for process in processes {
                        tracing::error!(container = %id, pid = process.pid, ppid = process.ppid,
                            command = %process.command, state = ?process.state, "process");
                    }
                }
                Err(err) => tracing::error!(container = %id, error = %err, "cannot list processes"),
            }
        }
        for task in self.kernel.stuck_tasks(Duration::ZERO) {
            tracing::error!(container = %task.container, tid = task.tid, syscall = task.syscall,
                duration_ms = task.duration.as_millis() as u64, "task in the kernel");
        }
        std::process::abort();
    }
}
