//! The real kernel behind the control plane: [`KernelControl`] implements
//! [`KernelHandle`] on a [`Kernel`].
//!
//! What it does not do yet, and says so with [`HandleError::Unsupported`]:
//! a second container (the kernel has one root and one PID namespace until
//! the VFS issue gives each container its own root).
//!
//! A process given a terminal ([`Stdio::Terminal`]) has it as fds 0, 1 and
//! 2 and, leading its own session, as its controlling terminal.
//!
//! Every process the control plane starts joins the sandbox's one PID
//! namespace: the first is the init (pid 1), later ones (`exec`) get fresh
//! pids, have their parent outside the sandbox (ppid 0) and lead a session
//! of their own. Their container is the kernel's one container.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::handle::{
    ContainerId, HandleError, KernelEvent, KernelHandle, NewProcess, Pid, ProcessInfo, ProcessState, SignalTarget,
    Stdio, StuckTask, Usage,
};
use crate::kernel::{ExitStatus, Kernel, KernelError, RootFs};
use crate::signal::{self, SigInfo};
use crate::syscalls::TABLE;
use crate::task::{INIT_PID, Life, ProcessRole, TaskSet};

/// The control plane's handle on a [`Kernel`]. See the [module](self)
/// documentation.
pub struct KernelControl {
    kernel: Arc<Kernel>,
    /// The one container, once created, until destroyed.
    container: Mutex<ContainerSlot>,
    sender: Sender<KernelEvent>,
    receiver: Receiver<KernelEvent>,
}

/// Where the kernel's one container stands.
#[derive(Debug, Default)]
enum ContainerSlot {
    #[default]
    Empty,
    Created {
        id: ContainerId,
        /// Whether its init has been started.
        started: bool,
    },
    /// Destroyed; the kernel serves no other.
    Destroyed(ContainerId),
}

impl KernelControl {
    /// Wraps `kernel`, which must not have started a process yet.
    pub fn new(kernel: Arc<Kernel>) -> KernelControl {
        let (sender, receiver) = crossbeam_channel::unbounded();
        KernelControl {
            kernel,
            container: Mutex::new(ContainerSlot::Empty),
            sender,
            receiver,
        }
    }

    /// The kernel itself.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    fn slot(&self) -> MutexGuard<'_, ContainerSlot> {
        self.container.lock().expect("container slot poisoned")
    }

    /// Checks that `container` is the live container.
    fn check(&self, container: &ContainerId) -> Result<(), HandleError> {
        match &*self.slot() {
            ContainerSlot::Created { id, .. } if id == container => Ok(()),
            _ => Err(HandleError::NoSuchContainer(container.clone())),
        }
    }

    /// The pids a signal for `target` goes to.
    fn targets(&self, container: &ContainerId, target: SignalTarget) -> Result<Vec<Pid>, HandleError> {
        let tasks = &self.kernel.tasks;
        let no_such = |pid| HandleError::NoSuchProcess {
            container: container.clone(),
            pid,
        };
        let targets = match target {
            SignalTarget::Process(pid) => {
                tasks.pgid(pid).map_err(|_| no_such(pid))?;
                vec![pid]
            }
            SignalTarget::ProcessGroup(pgid) => tasks.process_group(pgid),
            SignalTarget::Foreground => foreground(tasks, INIT_PID),
            SignalTarget::ForegroundOf(pid) => {
                tasks.pgid(pid).map_err(|_| no_such(pid))?;
                foreground(tasks, pid)
            }
            SignalTarget::AllProcesses => tasks.summaries().into_iter().map(|process| process.pid).collect(),
        };
        match (target, targets.is_empty()) {
            (SignalTarget::ProcessGroup(pgid), true) => Err(no_such(pgid)),
            (SignalTarget::Foreground, _) if tasks.pgid(INIT_PID).is_err() => Err(no_such(INIT_PID)),
            _ => Ok(targets),
        }
    }
}

/// Where a signal for the foreground of `leader` (the init, an exec'd
/// process) goes: the foreground process group of its controlling
/// terminal, else `leader` itself.
///
/// That group is the one cordon's job-control bookkeeping records (what
/// TIOCGPGRP answers inside the sandbox), also for a host terminal: the
/// host's own tcgetpgrp on it names a host process group (cordon's, or
/// none for a pty the CLI made), which means nothing in the sandbox. When
/// the recorded group has no process left (a shell moved a job to the
/// foreground and the job is gone), `leader` gets the signal, so that a
/// forwarded ^C is never lost.
fn foreground(tasks: &TaskSet, leader: Pid) -> Vec<Pid> {
    let group = tasks
        .controlling_terminal(leader)
        .and_then(|terminal| terminal.control().lock().foreground)
        .map(|pgid| tasks.process_group(pgid))
        .unwrap_or_default();
    match group.is_empty() {
        true => vec![leader],
        false => group,
    }
}

/// The host fds that become a new process's fds 0, 1 and 2: a terminal is
/// all three.
fn stdio_fds(stdio: Stdio) -> Result<[OwnedFd; 3], HandleError> {
    match stdio {
        Stdio::Fds(fds) => Ok(fds),
        Stdio::Terminal(terminal) => {
            let dup = || {
                terminal
                    .try_clone()
                    .map_err(|err| HandleError::Start(KernelError::Stdio(err)))
            };
            Ok([dup()?, dup()?, terminal])
        }
    }
}

/// Whether `dir` is the directory whose identity is `root` (st_dev, st_ino).
fn same_directory(dir: impl AsFd, root: (u64, u64)) -> bool {
    nix::sys::stat::fstat(dir).is_ok_and(|st| (st.st_dev, st.st_ino) == root)
}

impl KernelHandle for KernelControl {
    /// Accepts one container, whose root must be the directory the kernel
    /// was created with.
    fn create_container(&self, container: &ContainerId, root: RootFs) -> Result<(), HandleError> {
        let mut slot = self.slot();
        match &*slot {
            ContainerSlot::Created { id, .. } if id == container => {
                return Err(HandleError::ContainerExists(container.clone()));
            }
            ContainerSlot::Empty => {}
            _ => {
                return Err(HandleError::Unsupported(
                    "a sandbox runs one container until the VFS gives each container its own root",
                ));
            }
        }
        if !same_directory(&root.dir, self.kernel.root_identity) {
            return Err(HandleError::Unsupported(
                "a container's root must be the sandbox's root until the VFS gives each container its own",
            ));
        }
        self.kernel.listen(container.clone(), self.sender.clone());
        *slot = ContainerSlot::Created {
            id: container.clone(),
            started: false,
        };
        Ok(())
    }

    fn destroy_container(&self, container: &ContainerId) -> Result<(), HandleError> {
        {
            let mut slot = self.slot();
            match &*slot {
                ContainerSlot::Created { id, .. } if id == container => {}
                _ => return Err(HandleError::NoSuchContainer(container.clone())),
            }
            *slot = ContainerSlot::Destroyed(container.clone());
        }
        let tasks = &self.kernel.tasks;
        for process in tasks.summaries() {
            if !matches!(process.life, Life::Zombie { .. }) {
                tasks.exit_group(process.pid, ExitStatus::Signaled(libc::SIGKILL));
            }
        }
        // A paused sandbox must let its tasks go to their end.
        self.kernel.set_frozen(false);
        Ok(())
    }

    fn create_process(&self, container: &ContainerId, process: NewProcess) -> Result<Pid, HandleError> {
        let stdio = stdio_fds(process.stdio)?;
        let role = {
            let mut slot = self.slot();
            match &mut *slot {
                ContainerSlot::Created { id, started } if id == container => {
                    let role = if *started { ProcessRole::Exec } else { ProcessRole::Init };
                    *started = true;
                    role
                }
                _ => return Err(HandleError::NoSuchContainer(container.clone())),
            }
        };
        match self.kernel.start_process(process.spec, stdio, role) {
            // The task thread runs on; its end is reported as an event.
            Ok(handle) => Ok(handle.pid()),
            Err(err) => {
                if role == ProcessRole::Init {
                    // The init never ran: a later start may try again.
                    if let ContainerSlot::Created { started, .. } = &mut *self.slot() {
                        *started = false;
                    }
                }
                Err(HandleError::Start(err))
            }
        }
    }

    /// Sends as a process outside the sandbox's PID namespace would
    /// (pid_namespaces(7)): the init only gets signals it handles, except
    /// SIGKILL, which always kills.
    fn signal(&self, container: &ContainerId, target: SignalTarget, signo: i32) -> Result<(), HandleError> {
        self.check(container)?;
        if signo != 0 && !signal::valid(signo) {
            return Err(HandleError::InvalidSignal(signo));
        }
        let tasks = &self.kernel.tasks;
        for pid in self.targets(container, target)? {
            if signo == libc::SIGKILL {
                tasks.exit_group(pid, ExitStatus::Signaled(libc::SIGKILL));
                continue;
            }
            // The sender is outside the namespace: si_pid and si_uid are 0.
            let sent = tasks.send(pid, SigInfo::from_process(signo, signal::SI_USER, 0, 0));
            if sent.is_err() && matches!(target, SignalTarget::Process(_)) {
                return Err(HandleError::NoSuchProcess {
                    container: container.clone(),
                    pid,
                });
            }
        }
        Ok(())
    }

    fn processes(&self, container: &ContainerId) -> Result<Vec<ProcessInfo>, HandleError> {
        self.check(container)?;
        let frozen = self.kernel.is_frozen();
        Ok(self
            .kernel
            .tasks
            .summaries()
            .into_iter()
            .map(|process| ProcessInfo {
                pid: process.pid,
                ppid: process.ppid,
                state: match process.life {
                    Life::Zombie { .. } => ProcessState::Zombie,
                    Life::Stopped { .. } => ProcessState::Stopped,
                    Life::Running if frozen => ProcessState::Stopped,
                    Life::Running if process.in_kernel => ProcessState::Sleeping,
                    Life::Running => ProcessState::Running,
                },
                command: process.command,
                started: process.started,
            })
            .collect())
    }

    /// Freezes every task: those in application code are kicked back into
    /// the kernel and wait there; those inside a system call stop when they
    /// leave it. SIGKILL still ends a frozen process.
    fn pause(&self) {
        self.kernel.set_frozen(true);
    }

    fn resume(&self) {
        self.kernel.set_frozen(false);
    }

    fn usage(&self, container: &ContainerId) -> Result<Usage, HandleError> {
        self.check(container)?;
        let tasks = &self.kernel.tasks;
        let live = tasks
            .summaries()
            .iter()
            .filter(|process| !matches!(process.life, Life::Zombie { .. }))
            .count();
        Ok(Usage {
            cpu_time: tasks.total_cpu(),
            memory_bytes: self.kernel.memory_file.resident_bytes(),
            processes: u32::try_from(live).unwrap_or(u32::MAX),
        })
    }

    fn stuck_tasks(&self, threshold: Duration) -> Vec<StuckTask> {
        let container = match &*self.slot() {
            ContainerSlot::Created { id, .. } | ContainerSlot::Destroyed(id) => id.clone(),
            ContainerSlot::Empty => return Vec::new(),
        };
        let mut stuck: Vec<StuckTask> = self
            .kernel
            .tasks
            .syscalls_longer_than(threshold)
            .into_iter()
            .map(|call| StuckTask {
                container: container.clone(),
                tid: call.tid,
                syscall: TABLE.get(call.number).map_or("unknown", |entry| entry.name),
                duration: call.duration,
            })
            .collect();
        stuck.sort_by_key(|task| std::cmp::Reverse(task.duration));
        stuck
    }

    fn events(&self) -> Receiver<KernelEvent> {
        self.receiver.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::time::Instant;

    use super::*;
    use crate::kernel::{KernelConfig, ProcessSpec};
    use crate::limits::ResourceLimits;
    use crate::platform::PlatformKind;

    /// The host's static busybox (Debian's busybox-static).
    const BUSYBOX: &str = "/bin/busybox";
    const CONTAINER: &str = "box";

    fn open_root() -> RootFs {
        let dir = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .expect("/ opens");
        RootFs {
            dir,
            readonly: true,
            overlay: true,
            mounts: Vec::new(),
        }
    }

    fn control() -> (KernelControl, ContainerId) {
        let config = KernelConfig {
            hostname: "test".to_owned(),
            platform: PlatformKind::Ptrace,
            pin_cpu: false,
            strace: false,
        };
        let control = KernelControl::new(Kernel::new(config, open_root()).expect("the kernel boots"));
        let id = ContainerId(CONTAINER.to_owned());
        control.create_container(&id, open_root()).expect("the first container");
        (control, id)
    }

    fn dev_null() -> OwnedFd {
        std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .expect("/dev/null opens")
            .into()
    }

    fn busybox(args: &[&str], stdio: [OwnedFd; 3]) -> NewProcess {
        NewProcess {
            spec: ProcessSpec {
                argv: std::iter::once(BUSYBOX)
                    .chain(args.iter().copied())
                    .map(str::to_owned)
                    .collect(),
                env: vec!["PATH=/bin".to_owned()],
                cwd: "/".to_owned(),
                credentials: Default::default(),
                rlimits: ResourceLimits::default(),
                umask: ProcessSpec::DEFAULT_UMASK,
            },
            stdio: Stdio::Fds(stdio),
        }
    }

    fn quiet() -> [OwnedFd; 3] {
        [dev_null(), dev_null(), dev_null()]
    }

    /// The next exit of `pid` on the event channel.
    fn exit_of(events: &Receiver<KernelEvent>, pid: Pid) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left).expect("an exit within 20 s") {
                KernelEvent::ProcessExited {
                    pid: exited, status, ..
                } if exited == pid => return status,
                _ => continue,
            }
        }
    }

    #[test]
    fn init_and_exec_run_and_report_their_exits() {
        let (control, id) = control();
        let events = control.events();
        let init = control
            .create_process(&id, busybox(&["sleep", "30"], quiet()))
            .expect("the init starts");
        assert_eq!(init, INIT_PID);

        let (mut read, write) = std::io::pipe().expect("a pipe");
        let write: OwnedFd = write.into();
        let stdio = [dev_null(), write.try_clone().expect("dup"), write];
        let exec = control
            .create_process(&id, busybox(&["echo", "from exec"], stdio))
            .expect("the exec starts");
        assert!(exec > INIT_PID, "{exec}");
        assert_eq!(exit_of(&events, exec), ExitStatus::Exited(0));
        let mut output = String::new();
        read.read_to_string(&mut output).expect("the exec's output");
        assert_eq!(output, "from exec\n");

        let listed = control.processes(&id).expect("the container lists");
        assert_eq!(
            listed.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [INIT_PID],
            "the exec was reaped"
        );
        assert_eq!(listed[0].command, "busybox");
        assert_eq!(listed[0].ppid, 0);

        // The init has no handler: SIGTERM from outside is dropped, SIGKILL is not.
        control
            .signal(&id, SignalTarget::Process(INIT_PID), libc::SIGTERM)
            .expect("SIGTERM is sent");
        control
            .signal(&id, SignalTarget::Process(INIT_PID), libc::SIGKILL)
            .expect("SIGKILL is sent");
        assert_eq!(exit_of(&events, INIT_PID), ExitStatus::Signaled(libc::SIGKILL));
        assert!(control.processes(&id).expect("lists").is_empty());
        assert!(matches!(
            control.signal(&id, SignalTarget::Process(INIT_PID), libc::SIGKILL),
            Err(HandleError::NoSuchProcess { pid: INIT_PID, .. })
        ));
        control.destroy_container(&id).expect("destroyed");
    }

    #[test]
    fn a_missing_program_fails_to_start_and_the_init_may_be_retried() {
        let (control, id) = control();
        let mut process = busybox(&[], quiet());
        process.spec.argv = vec!["/nonexistent/program".to_owned()];
        match control.create_process(&id, process) {
            Err(HandleError::Start(err)) => assert!(err.is_not_found(), "{err}"),
            other => panic!("expected a start failure, got {other:?}"),
        }
        let events = control.events();
        let init = control
            .create_process(&id, busybox(&["true"], quiet()))
            .expect("the init starts");
        assert_eq!(init, INIT_PID);
        assert_eq!(exit_of(&events, init), ExitStatus::Exited(0));
    }

    #[test]
    fn pause_freezes_and_resume_thaws() {
        let (control, id) = control();
        let events = control.events();
        // A shell that keeps making system calls: it must stop doing so.
        let init = control
            .create_process(&id, busybox(&["sh", "-c", "while :; do :; done"], quiet()))
            .expect("the init starts");
        control.pause();
        std::thread::sleep(Duration::from_millis(50));
        let cpu = control.usage(&id).expect("usage").cpu_time;
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(control.usage(&id).expect("usage").cpu_time, cpu, "a paused task ran");
        let listed = control.processes(&id).expect("lists");
        assert_eq!(listed[0].state, ProcessState::Stopped);
        control.resume();
        let resumed = Instant::now();
        while control.usage(&id).expect("usage").cpu_time == cpu {
            assert!(resumed.elapsed() < Duration::from_secs(10), "the task never ran again");
            std::thread::sleep(Duration::from_millis(10));
        }
        control.pause();
        control
            .signal(&id, SignalTarget::AllProcesses, libc::SIGKILL)
            .expect("SIGKILL is sent");
        assert_eq!(
            exit_of(&events, init),
            ExitStatus::Signaled(libc::SIGKILL),
            "SIGKILL ends a frozen task"
        );
    }

    #[test]
    fn stuck_tasks_name_their_system_call() {
        let (control, id) = control();
        let events = control.events();
        let (read, write) = std::io::pipe().expect("a pipe");
        // `cat` blocks in read(2) on a pipe nobody writes to.
        let stdio = [read.into(), dev_null(), dev_null()];
        let init = control
            .create_process(&id, busybox(&["cat"], stdio))
            .expect("the init starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let stuck = loop {
            let stuck = control.stuck_tasks(Duration::from_millis(100));
            if !stuck.is_empty() || Instant::now() > deadline {
                break stuck;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(stuck.len(), 1, "{stuck:?}");
        assert_eq!((stuck[0].tid, stuck[0].syscall), (init, "read"));
        assert_eq!(stuck[0].container, id);
        assert!(control.stuck_tasks(Duration::from_secs(3600)).is_empty());
        drop(write);
        assert_eq!(exit_of(&events, init), ExitStatus::Exited(0));
    }

    /// A host pty's replica as the init's terminal: fds 0, 1 and 2, named
    /// /dev/console, its controlling terminal; a signal for the foreground
    /// goes to the group job control put there, not to the init.
    #[test]
    fn a_terminal_is_stdio_and_its_foreground_gets_the_signals() {
        let (control, id) = control();
        let events = control.events();
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let script = "test -t 0 && test -t 1 && test -t 2 && echo on a tty; /bin/busybox tty; \
                      set -m; /bin/sleep 30; echo not reached";
        let init = NewProcess {
            stdio: Stdio::Terminal(pty.slave),
            ..busybox(&["sh", "-c", script], quiet())
        };
        let init = control.create_process(&id, init).expect("the init starts");
        let mut master = std::fs::File::from(pty.master);
        let screen = std::thread::spawn(move || {
            let mut screen = Vec::new();
            let mut buf = [0; 1024];
            // EIO once the last replica is closed.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                screen.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&screen).replace("\r\n", "\n")
        });
        // The sleep runs as the foreground job, in a group of its own: its
        // shell child made it the foreground before running it.
        let deadline = Instant::now() + Duration::from_secs(20);
        let sleeping = |process: &ProcessInfo| process.command == "sleep";
        while !control.processes(&id).expect("lists").iter().any(sleeping) {
            assert!(Instant::now() < deadline, "the shell never started its job");
            std::thread::sleep(Duration::from_millis(10));
        }
        control
            .signal(&id, SignalTarget::Foreground, libc::SIGINT)
            .expect("SIGINT is sent");
        // Had the init been sent the SIGINT, it would have ignored it (it
        // has no handler) and the sleep would have run its 30 s. A
        // non-interactive ash whose foreground job dies of SIGINT ends
        // too, with 128 + SIGINT.
        let status = exit_of(&events, init);
        let screen = screen.join().expect("the screen reader");
        assert_eq!(
            (status, screen.as_str()),
            (ExitStatus::Exited(130), "on a tty\n/dev/console\n")
        );
    }

    #[test]
    fn one_container_per_kernel() {
        let (control, id) = control();
        assert!(matches!(
            control.create_container(&id, open_root()),
            Err(HandleError::ContainerExists(_))
        ));
        assert!(matches!(
            control.create_container(&ContainerId("other".to_owned()), open_root()),
            Err(HandleError::Unsupported(_))
        ));
        assert!(matches!(
            control.processes(&ContainerId("other".to_owned())),
            Err(HandleError::NoSuchContainer(_))
        ));
        control.destroy_container(&id).expect("destroyed");
        assert!(matches!(
            control.create_container(&id, open_root()),
            Err(HandleError::Unsupported(_))
        ));
    }
}
