//! The Watchdog: every period it asks the kernel for tasks stuck in a system
//! call longer than the task timeout, and checks that no process start has
//! taken longer than the start timeout. Each finding is logged once with what
//! the task was doing, or aborts the sandbox, per `--watchdog-action`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use cordon_kernel::control::handle::{ContainerId, KernelHandle, Pid, StuckTask};

use crate::messages::loader::Abort;
use crate::messages::watchdog::{ContainerGone, StartBegan, StartEnded, TaskStuck, WatchdogAddr};

/// What the watchdog does with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogAction {
    /// Log it at warning level and go on.
    Log,
    /// Log every task's state and abort the sandbox process.
    Panic,
}

/// How the watchdog runs.
#[derive(Debug, Clone)]
pub struct WatchdogConfig {
    /// How often it looks.
    pub period: Duration,
    /// A task inside one system call for longer than this is stuck.
    pub task_timeout: Duration,
    /// A process start (loading its program) longer than this is stuck.
    pub start_timeout: Duration,
    pub action: WatchdogAction,
}

impl Default for WatchdogConfig {
    /// runsc's defaults: three minutes in the kernel, thirty seconds to start.
    fn default() -> WatchdogConfig {
        WatchdogConfig {
            period: Duration::from_secs(5),
            task_timeout: Duration::from_secs(180),
            start_timeout: Duration::from_secs(30),
            action: WatchdogAction::Log,
        }
    }
}

/// A start under watch.
struct PendingStart {
    since: Instant,
    reported: bool,
}

pub(crate) struct Watchdog {
    kernel: Arc<dyn KernelHandle>,
    config: WatchdogConfig,
    /// Where the panic action goes: the Loader.
    abort: Recipient<Abort>,
    /// Starts in progress, by container and the container's start token.
    starts: HashMap<(ContainerId, u64), PendingStart>,
    /// Stuck tasks already reported, so each episode is reported once; a
    /// task that recovers leaves the set at the next look.
    reported: HashSet<(ContainerId, Pid, &'static str)>,
}

impl Watchdog {
    pub(crate) fn new(kernel: Arc<dyn KernelHandle>, config: WatchdogConfig, abort: Recipient<Abort>) -> Watchdog {
        Watchdog {
            kernel,
            config,
            abort,
            starts: HashMap::new(),
            reported: HashSet::new(),
        }
    }

    fn look(&mut self) {
        let stuck = self.kernel.stuck_tasks(self.config.task_timeout);
        let still_stuck: HashSet<_> = stuck
            .iter()
            .map(|task| (task.container.clone(), task.tid, task.syscall))
            .collect();
        self.reported.retain(|key| still_stuck.contains(key));
        for task in stuck {
            self.stuck_task(task);
        }
        let timeout = self.config.start_timeout;
        let mut late = Vec::new();
        for ((container, _), start) in &mut self.starts {
            if !start.reported && start.since.elapsed() > timeout {
                start.reported = true;
                late.push((container.clone(), start.since.elapsed()));
            }
        }
        for (container, elapsed) in late {
            tracing::warn!(container = %container, elapsed_ms = elapsed.as_millis() as u64, "process start not completed");
            self.act(format!(
                "a process start in container {container} has not completed after {elapsed:?}"
            ));
        }
    }

    fn stuck_task(&mut self, task: StuckTask) {
        if !self.reported.insert((task.container.clone(), task.tid, task.syscall)) {
            return;
        }
        tracing::warn!(
            container = %task.container,
            tid = task.tid,
            syscall = task.syscall,
            duration_ms = task.duration.as_millis() as u64,
            "task stuck in the kernel"
        );
        self.act(format!(
            "task {} of container {} stuck in {} for {:?}",
            task.tid, task.container, task.syscall, task.duration
        ));
    }

    /// Escalates a finding (already logged) per the configured action.
    fn act(&self, finding: String) {
        if self.config.action == WatchdogAction::Panic {
            self.abort.do_send(Abort { reason: finding });
        }
    }
}

impl Actor for Watchdog {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.period, |watchdog, _ctx| watchdog.look());
    }
}

impl From<Addr<Watchdog>> for WatchdogAddr {
    fn from(watchdog: Addr<Watchdog>) -> WatchdogAddr {
        WatchdogAddr {
            start_began: watchdog.clone().recipient(),
            start_ended: watchdog.clone().recipient(),
            task_stuck: watchdog.clone().recipient(),
            container_gone: watchdog.recipient(),
        }
    }
}

impl Handler<StartBegan> for Watchdog {
    type Result = ();

    fn handle(&mut self, StartBegan { container, token }: StartBegan, _ctx: &mut Context<Self>) {
        self.starts.insert(
            (container, token),
            PendingStart {
                since: Instant::now(),
                reported: false,
            },
        );
    }
}

impl Handler<StartEnded> for Watchdog {
    type Result = ();

    fn handle(&mut self, StartEnded { container, token }: StartEnded, _ctx: &mut Context<Self>) {
        self.starts.remove(&(container, token));
    }
}

impl Handler<TaskStuck> for Watchdog {
    type Result = ();

    fn handle(&mut self, TaskStuck(task): TaskStuck, _ctx: &mut Context<Self>) {
        self.stuck_task(task);
    }
}

impl Handler<ContainerGone> for Watchdog {
    type Result = ();

    fn handle(&mut self, ContainerGone(container): ContainerGone, _ctx: &mut Context<Self>) {
        self.starts.retain(|(starting, _), _| *starting != container);
    }
}
