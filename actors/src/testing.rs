//! The actor test harness: a [`FakeKernel`] that implements
//! [`KernelHandle`] by playing a script instead of running programs.
//!
//! A script says, per program name (`argv[0]`), how long its start takes and
//! how it ends: after a while with a status, or only when a signal kills it.
//! Stuck tasks are set by hand, and any [`KernelEvent`] can be injected. The
//! fake records every signal sent, so tests can check where signals went.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cordon_actors::testing::{FakeKernel, ProcessScript};
//! use cordon_kernel::ExitStatus;
//!
//! let kernel = Arc::new(FakeKernel::new());
//! kernel.script("true", ProcessScript::exits_after(Duration::ZERO, ExitStatus::Exited(0)));
//! kernel.script("sleep", ProcessScript::until_signalled());
//! kernel.script("slow", ProcessScript::until_signalled().with_start_delay(Duration::from_millis(200)));
//! ```
//!
//! Processes of the fake hold the stdio fds they were given until they end,
//! like real ones. Pausing the fake records that it is paused; scripted exit
//! timers keep running.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};

use cordon_kernel::abi::limits::ResourceLimits;
use cordon_kernel::control::handle::{
    ContainerId, HandleError, KernelEvent, KernelHandle, NewProcess, Pid, ProcessInfo, ProcessState, SignalTarget,
    Stdio, StuckTask, Usage,
};
use cordon_kernel::task::loader::LoadError;
use cordon_kernel::{Credentials, ExitStatus, KernelError, ProcessSpec, RootFs};

use crate::messages::loader::ContainerSpec;

/// A process running `argv` as root in `/`, with /dev/null as stdio.
pub fn process(argv: &[&str]) -> NewProcess {
    NewProcess {
        spec: ProcessSpec {
            argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
            env: vec!["PATH=/usr/bin:/bin".to_owned()],
            cwd: "/".to_owned(),
            credentials: Credentials::default(),
            rlimits: ResourceLimits::default(),
            umask: ProcessSpec::DEFAULT_UMASK,
            seccomp: Default::default(),
        },
        stdio: Stdio::Fds([dev_null(), dev_null(), dev_null()]),
    }
}

/// A container whose init runs `argv` (see [`process`]); its root is
/// /dev/null, which the fake never looks at.
pub fn container(argv: &[&str]) -> ContainerSpec {
    ContainerSpec {
        root: RootFs {
            dir: dev_null(),
            readonly: true,
            overlay: false,
            mounts: Vec::new(),
        },
        init: process(argv),
    }
}

fn dev_null() -> OwnedFd {
    File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("/dev/null opens")
        .into()
}

/// How a scripted process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitPlan {
    /// With this status, this long after it started (at once for zero: its
    /// exit event is then sent before `create_process` returns).
    After(Duration, ExitStatus),
    /// Only when a signal whose default action terminates kills it.
    UntilSignalled,
}

/// What a program does when the fake runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessScript {
    /// How long `create_process` takes to load it.
    pub start_delay: Duration,
    pub exit: ExitPlan,
}

impl ProcessScript {
    pub fn exits_after(delay: Duration, status: ExitStatus) -> ProcessScript {
        ProcessScript {
            start_delay: Duration::ZERO,
            exit: ExitPlan::After(delay, status),
        }
    }

    pub fn until_signalled() -> ProcessScript {
        ProcessScript {
            start_delay: Duration::ZERO,
            exit: ExitPlan::UntilSignalled,
        }
    }

    pub fn with_start_delay(self, start_delay: Duration) -> ProcessScript {
        ProcessScript { start_delay, ..self }
    }
}

/// A signal the fake was asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSignal {
    pub container: ContainerId,
    pub target: SignalTarget,
    pub signal: i32,
}

/// A scripted stand-in for the kernel. See the [module](self) documentation.
pub struct FakeKernel {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<FakeState>,
    sender: Sender<KernelEvent>,
    receiver: Receiver<KernelEvent>,
}

#[derive(Default)]
struct FakeState {
    scripts: HashMap<String, ProcessScript>,
    containers: HashMap<ContainerId, FakeContainer>,
    /// The last pid handed out; pids are unique across the sandbox.
    last_pid: Pid,
    stuck: Vec<StuckTask>,
    paused: bool,
    signals: Vec<SentSignal>,
    /// `create_process` calls still loading their program.
    loading: usize,
}

#[derive(Default)]
struct FakeContainer {
    init: Option<Pid>,
    processes: BTreeMap<Pid, FakeProcess>,
}

struct FakeProcess {
    command: String,
    started: SystemTime,
    /// Held as a real process holds its stdio, until it ends.
    _stdio: Stdio,
}

impl Default for FakeKernel {
    fn default() -> Self {
        FakeKernel::new()
    }
}

impl FakeKernel {
    /// A fake with no container, no script and no stuck task.
    pub fn new() -> FakeKernel {
        let (sender, receiver) = crossbeam_channel::unbounded();
        FakeKernel {
            shared: Arc::new(Shared {
                state: Mutex::new(FakeState::default()),
                sender,
                receiver,
            }),
        }
    }

    /// Says what running `program` (an `argv[0]`) does. A program with no
    /// script is not found, as a missing file would be.
    pub fn script(&self, program: &str, script: ProcessScript) {
        self.shared.state().scripts.insert(program.to_owned(), script);
    }

    /// Reports `task` as stuck from now on (until [`Self::clear_stuck`]).
    pub fn set_stuck(&self, task: StuckTask) {
        self.shared.state().stuck.push(task);
    }

    pub fn clear_stuck(&self) {
        self.shared.state().stuck.clear();
    }

    /// Sends an event as if the kernel had.
    pub fn emit(&self, event: KernelEvent) {
        self.shared.emit(event);
    }

    /// Every signal asked for so far, in order.
    pub fn signals(&self) -> Vec<SentSignal> {
        self.shared.state().signals.clone()
    }

    /// Whether a `create_process` is loading its program (sleeping out its
    /// script's start delay).
    pub fn is_loading(&self) -> bool {
        self.shared.state().loading > 0
    }

    /// Whether the fake is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.state().paused
    }

    /// Whether the kernel holds anything for `container`.
    pub fn has_container(&self, container: &ContainerId) -> bool {
        self.shared.state().containers.contains_key(container)
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock has failed already.
        self.state.lock().expect("the fake kernel's lock is not poisoned")
    }

    fn emit(&self, event: KernelEvent) {
        // The receiver lives in `self`, so the channel is never disconnected.
        self.sender.send(event).expect("the fake kernel holds its own receiver");
    }

    /// Ends a process, if it is still alive, and reports it.
    fn exit(&self, container: &ContainerId, pid: Pid, status: ExitStatus) {
        let ended = self
            .state()
            .containers
            .get_mut(container)
            .and_then(|fake| fake.processes.remove(&pid))
            .is_some();
        if ended {
            self.emit(KernelEvent::ProcessExited {
                container: container.clone(),
                pid,
                status,
            });
        }
    }
}

/// Whether `signal`'s default action ends a process (signal(7)).
fn terminates(signal: i32) -> bool {
    !matches!(
        signal,
        0 | libc::SIGCHLD
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
            | libc::SIGURG
            | libc::SIGWINCH
    )
}

impl KernelHandle for FakeKernel {
    fn create_container(&self, container: &ContainerId, _root: RootFs) -> Result<(), HandleError> {
        let mut state = self.shared.state();
        if state.containers.contains_key(container) {
            return Err(HandleError::ContainerExists(container.clone()));
        }
        state.containers.insert(container.clone(), FakeContainer::default());
        Ok(())
    }

    fn destroy_container(&self, container: &ContainerId) -> Result<(), HandleError> {
        let removed = self
            .shared
            .state()
            .containers
            .remove(container)
            .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
        for pid in removed.processes.into_keys() {
            self.shared.emit(KernelEvent::ProcessExited {
                container: container.clone(),
                pid,
                status: ExitStatus::Signaled(libc::SIGKILL),
            });
        }
        Ok(())
    }

    fn create_process(&self, container: &ContainerId, process: NewProcess) -> Result<Pid, HandleError> {
        let program = process.spec.argv.first().cloned().unwrap_or_default();
        let script = {
            let mut state = self.shared.state();
            if !state.containers.contains_key(container) {
                return Err(HandleError::NoSuchContainer(container.clone()));
            }
            let script = state.scripts.get(&program).copied();
            state.loading += usize::from(script.is_some());
            script
        };
        let script = script
            .ok_or_else(|| HandleError::Start(KernelError::Load(LoadError::NotFound { path: program.clone() })))?;
        std::thread::sleep(script.start_delay);
        let pid = {
            let mut state = self.shared.state();
            state.loading -= 1;
            state.last_pid += 1;
            let pid = state.last_pid;
            let fake = state
                .containers
                .get_mut(container)
                .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
            fake.init.get_or_insert(pid);
            fake.processes.insert(
                pid,
                FakeProcess {
                    command: program,
                    started: SystemTime::now(),
                    _stdio: process.stdio,
                },
            );
            pid
        };
        match script.exit {
            ExitPlan::After(delay, status) if delay.is_zero() => self.shared.exit(container, pid, status),
            ExitPlan::After(delay, status) => {
                let shared = Arc::clone(&self.shared);
                let container = container.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    shared.exit(&container, pid, status);
                });
            }
            ExitPlan::UntilSignalled => {}
        }
        Ok(pid)
    }

    fn signal(&self, container: &ContainerId, target: SignalTarget, signal: i32) -> Result<(), HandleError> {
        let targets: Vec<Pid> = {
            let mut state = self.shared.state();
            state.signals.push(SentSignal {
                container: container.clone(),
                target,
                signal,
            });
            if !(0..=64).contains(&signal) {
                return Err(HandleError::InvalidSignal(signal));
            }
            let fake = state
                .containers
                .get(container)
                .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
            let no_such = |pid| HandleError::NoSuchProcess {
                container: container.clone(),
                pid,
            };
            match target {
                // Each fake process leads its own process group and has no
                // terminal.
                SignalTarget::Process(pid) | SignalTarget::ProcessGroup(pid) | SignalTarget::ForegroundOf(pid) => {
                    fake.processes.get(&pid).ok_or_else(|| no_such(pid))?;
                    vec![pid]
                }
                SignalTarget::Foreground => fake
                    .init
                    .filter(|init| fake.processes.contains_key(init))
                    .into_iter()
                    .collect(),
                SignalTarget::AllProcesses => fake.processes.keys().copied().collect(),
            }
        };
        if terminates(signal) {
            for pid in targets {
                self.shared.exit(container, pid, ExitStatus::Signaled(signal));
            }
        }
        Ok(())
    }

    fn processes(&self, container: &ContainerId) -> Result<Vec<ProcessInfo>, HandleError> {
        let state = self.shared.state();
        let fake = state
            .containers
            .get(container)
            .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
        Ok(fake
            .processes
            .iter()
            .map(|(&pid, process)| ProcessInfo {
                pid,
                ppid: if Some(pid) == fake.init {
                    0
                } else {
                    fake.init.unwrap_or(0)
                },
                command: process.command.clone(),
                state: if state.paused {
                    ProcessState::Stopped
                } else {
                    ProcessState::Sleeping
                },
                started: process.started,
            })
            .collect())
    }

    fn pause(&self) {
        self.shared.state().paused = true;
    }

    fn resume(&self) {
        self.shared.state().paused = false;
    }

    fn usage(&self, container: &ContainerId) -> Result<Usage, HandleError> {
        let state = self.shared.state();
        let fake = state
            .containers
            .get(container)
            .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
        Ok(Usage {
            processes: u32::try_from(fake.processes.len()).expect("a fake holds few processes"),
            ..Usage::default()
        })
    }

    fn stuck_tasks(&self, threshold: Duration) -> Vec<StuckTask> {
        let mut stuck: Vec<_> = self
            .shared
            .state()
            .stuck
            .iter()
            .filter(|task| task.duration > threshold)
            .cloned()
            .collect();
        stuck.sort_by_key(|task| std::cmp::Reverse(task.duration));
        stuck
    }

    fn events(&self) -> Receiver<KernelEvent> {
        self.shared.receiver.clone()
    }
}
