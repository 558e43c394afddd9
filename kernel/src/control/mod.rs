//! The real kernel behind the control plane: [`KernelControl`] implements
//! [`KernelHandle`] on a [`Kernel`].
//!
//! Lock order: `containers` (the control plane's table of containers) is
//! held while a container is created, so it comes before the kernel's
//! container table (`Containers::table`) and the mount and filesystem locks
//! building the container's mounts takes; it is let go of before the task
//! set's lock is taken (signals, listings, kills) and before a process
//! starts.
//!
//! The first container created is the root container: its root must be the
//! directory the kernel was made with, and its first process is the init
//! (pid 1). Every later container (a subcontainer, as containerd adds the
//! containers of a pod to its sandbox) gets its own root and mounts
//! ([`Kernel::add_container`]) and shares the sandbox's one PID namespace:
//! its init and every process `exec` starts get fresh pids, have their
//! parent outside the sandbox (ppid 0) and lead a session of their own.
//! Signals, process lists and usage are per container; pause and resume
//! are sandbox-wide. Destroying a subcontainer kills its processes only;
//! destroying the root container ends every container, as the end of a
//! PID namespace's init does on Linux.
//!
//! A process given a terminal ([`Stdio::Terminal`]) has it as fds 0, 1 and
//! 2 and, leading its own session, as its controlling terminal.

pub mod handle;

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::abi::ExitStatus;
use crate::control::handle::{
    ContainerId, HandleError, KernelEvent, KernelHandle, NewProcess, Pid, ProcessInfo, ProcessState, SignalTarget,
    Stdio, StuckTask, Usage,
};
use crate::kernel::container::ContainerTag;
use crate::kernel::{Kernel, KernelError, RootFs, Watcher};

use crate::abi::signal::{self, SigInfo};
use crate::syscalls::TABLE;
use crate::task::{INIT_PID, Life, ProcessRole, ProcessSummary, TaskSet};

/// How long destroying a subcontainer waits for its killed processes to
/// end.
const DESTROY_WAIT: Duration = Duration::from_secs(5);

/// The control plane's handle on a [`Kernel`]. See the [module](self)
/// documentation.
pub struct KernelControl {
    kernel: Arc<Kernel>,
    containers: Mutex<ContainerTable>,
    sender: Sender<KernelEvent>,
    receiver: Receiver<KernelEvent>,
}

/// The containers the control plane created and has not destroyed.
#[derive(Debug, Default)]
struct ContainerTable {
    live: HashMap<ContainerId, ContainerEntry>,
    /// Set once the root container has been created: every later one is a
    /// subcontainer.
    root_created: bool,
    /// Set once the root container's init has been started.
    root_started: bool,
    /// Set once the root container has been destroyed: the sandbox has
    /// ended and takes no other container.
    root_destroyed: bool,
}

/// One live container.
#[derive(Debug)]
struct ContainerEntry {
    tag: ContainerTag,
    /// Its init's pid, once started; a start in progress holds `Some(0)`.
    init: Option<Pid>,
}

impl KernelControl {
    /// Wraps `kernel`, which must not have started a process yet.
    pub fn new(kernel: Arc<Kernel>) -> KernelControl {
        let (sender, receiver) = crossbeam_channel::unbounded();
        KernelControl {
            kernel,
            containers: Mutex::new(ContainerTable::default()),
            sender,
            receiver,
        }
    }

    /// The kernel itself.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    fn table(&self) -> MutexGuard<'_, ContainerTable> {
        self.containers.lock().expect("container table poisoned")
    }

    /// The tag of the live container `container`.
    fn tag(&self, container: &ContainerId) -> Result<ContainerTag, HandleError> {
        self.table()
            .live
            .get(container)
            .map(|entry| entry.tag)
            .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))
    }

    /// The processes of the container `tag`, live or zombie.
    fn members(&self, tag: ContainerTag) -> Vec<ProcessSummary> {
        let mut processes = self.kernel.core.tasks.summaries();
        processes.retain(|process| process.container == tag);
        processes
    }

    /// The pids a signal for `target` goes to.
    fn targets(&self, container: &ContainerId, target: SignalTarget) -> Result<Vec<Pid>, HandleError> {
        let (tag, init) = {
            let table = self.table();
            let entry = table
                .live
                .get(container)
                .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
            (entry.tag, entry.init.filter(|&pid| pid > 0))
        };
        let tasks = &self.kernel.core.tasks;
        let no_such = |pid| HandleError::NoSuchProcess {
            container: container.clone(),
            pid,
        };
        let ours = |pid: Pid| tasks.container(pid) == Some(tag);
        match target {
            SignalTarget::Process(pid) if ours(pid) => Ok(vec![pid]),
            SignalTarget::Process(pid) => Err(no_such(pid)),
            SignalTarget::ProcessGroup(pgid) => {
                let mut group = tasks.process_group(pgid);
                group.retain(|&pid| ours(pid));
                if group.is_empty() {
                    return Err(no_such(pgid));
                }
                Ok(group)
            }
            SignalTarget::Foreground => match init {
                Some(pid) if ours(pid) => Ok(foreground(tasks, pid)),
                _ => Err(no_such(init.unwrap_or(INIT_PID))),
            },
            SignalTarget::ForegroundOf(pid) if ours(pid) => Ok(foreground(tasks, pid)),
            SignalTarget::ForegroundOf(pid) => Err(no_such(pid)),
            SignalTarget::AllProcesses => Ok(self.members(tag).into_iter().map(|process| process.pid).collect()),
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

/// Turns what the kernel tells into [`KernelEvent`]s on the channel
/// [`KernelHandle::events`] hands out.
struct EventForwarder(Sender<KernelEvent>);

impl EventForwarder {
    fn send(&self, event: KernelEvent) {
        // The receiver lives as long as the control plane; after it is
        // gone, nobody needs the news.
        let _ = self.0.send(event);
    }
}

impl Watcher for EventForwarder {
    fn process_exited(&self, container: &str, pid: i32, status: ExitStatus) {
        self.send(KernelEvent::ProcessExited {
            container: ContainerId(container.to_owned()),
            pid,
            status,
        });
    }

    fn unimplemented_syscall(&self, container: &str, pid: i32, number: u64, name: &'static str) {
        self.send(KernelEvent::UnimplementedSyscall {
            container: ContainerId(container.to_owned()),
            pid,
            number,
            name,
        });
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
    /// The first container is the root container, whose root must be the
    /// directory the kernel was created with (its mounts too were given
    /// then: those in `root` are ignored). Later ones get `root` with its
    /// mounts, under a memory overlay when `root.overlay` says so.
    fn create_container(&self, container: &ContainerId, root: RootFs) -> Result<(), HandleError> {
        let mut table = self.table();
        if table.live.contains_key(container) {
            return Err(HandleError::ContainerExists(container.clone()));
        }
        if table.root_destroyed {
            return Err(HandleError::Unsupported(
                "the sandbox has ended: its root container was destroyed",
            ));
        }
        let tag = if table.root_created {
            // Building the mounts opens host files: the table stays locked
            // so that two creates of one id cannot both succeed.
            self.kernel.add_container(root).map_err(HandleError::Start)?
        } else {
            if !same_directory(&root.dir, self.kernel.root_identity) {
                return Err(HandleError::Unsupported(
                    "the root container's root must be the directory the sandbox was created with",
                ));
            }
            self.kernel.listen(Arc::new(EventForwarder(self.sender.clone())));
            table.root_created = true;
            ContainerTag::ROOT
        };
        self.kernel.name_container(tag, container.0.clone());
        table.live.insert(container.clone(), ContainerEntry { tag, init: None });
        Ok(())
    }

    fn destroy_container(&self, container: &ContainerId) -> Result<(), HandleError> {
        let tag = {
            let mut table = self.table();
            let entry = table
                .live
                .remove(container)
                .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
            if entry.tag == ContainerTag::ROOT {
                table.root_destroyed = true;
            }
            entry.tag
        };
        let killed = ExitStatus::Signaled(libc::SIGKILL);
        if tag == ContainerTag::ROOT {
            // The init's end ends the PID namespace: every container goes.
            self.kernel.core.tasks.exit_container(None, killed);
            // A paused sandbox must let its tasks go to their end.
            self.kernel.core.set_frozen(false);
        } else {
            self.kernel.core.tasks.exit_container(Some(tag), killed);
            // Its processes let go of its files as they end: the caller
            // (containerd unmounting the rootfs next) waits for that.
            let deadline = Instant::now() + DESTROY_WAIT;
            while self.kernel.core.tasks.has_live_members(tag) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            // Exits still in flight are reported under the name, which
            // goes with the table entry.
            self.kernel.remove_container(tag);
        }
        Ok(())
    }

    fn create_process(&self, container: &ContainerId, process: NewProcess) -> Result<Pid, HandleError> {
        let stdio = stdio_fds(process.stdio)?;
        let (tag, role, first) = {
            let mut table = self.table();
            let root_started = table.root_started;
            let entry = table
                .live
                .get_mut(container)
                .ok_or_else(|| HandleError::NoSuchContainer(container.clone()))?;
            let first = entry.init.is_none();
            let role = if entry.tag == ContainerTag::ROOT && first {
                ProcessRole::Init
            } else if !root_started {
                // Pid 1 belongs to the root container's init.
                return Err(HandleError::Unsupported(
                    "start the sandbox's root container before the containers it holds",
                ));
            } else {
                ProcessRole::Exec
            };
            if first {
                // A start in progress: a second one gets an exec.
                entry.init = Some(0);
            }
            let tag = entry.tag;
            if role == ProcessRole::Init {
                table.root_started = true;
            }
            (tag, role, first)
        };
        let started = self.kernel.start_process(process.spec, stdio, role, tag);
        let mut table = self.table();
        if role == ProcessRole::Init && started.is_err() {
            // The init never ran: a later start may try again.
            table.root_started = false;
        }
        // The same container still: it may have been destroyed (and its
        // name reused) while the program loaded.
        let entry = table.live.get_mut(container).filter(|entry| entry.tag == tag);
        match started {
            // The task thread runs on; its end is reported as an event.
            Ok(handle) => match entry {
                Some(entry) => {
                    if first {
                        entry.init = Some(handle.pid());
                    }
                    Ok(handle.pid())
                }
                None => {
                    // Its container's destroy may have missed it: it goes
                    // the same way, with anything it forked.
                    drop(table);
                    self.kernel
                        .core
                        .tasks
                        .exit_container(Some(tag), ExitStatus::Signaled(libc::SIGKILL));
                    Err(HandleError::NoSuchContainer(container.clone()))
                }
            },
            Err(err) => {
                if let (true, Some(entry)) = (first, entry) {
                    entry.init = None;
                }
                Err(HandleError::Start(err))
            }
        }
    }

    /// Sends as a process outside the sandbox's PID namespace would
    /// (pid_namespaces(7)): the init only gets signals it handles, except
    /// SIGKILL, which always kills.
    fn signal(&self, container: &ContainerId, target: SignalTarget, signo: i32) -> Result<(), HandleError> {
        if signo != 0 && !signal::valid(signo) {
            return Err(HandleError::InvalidSignal(signo));
        }
        let tasks = &self.kernel.core.tasks;
        let targets = self.targets(container, target)?;
        if let (SignalTarget::AllProcesses, libc::SIGKILL) = (target, signo) {
            // At once, so that no process forks a child the kill misses.
            tasks.exit_container(Some(self.tag(container)?), ExitStatus::Signaled(libc::SIGKILL));
            return Ok(());
        }
        for pid in targets {
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
        let tag = self.tag(container)?;
        let frozen = self.kernel.core.is_frozen();
        Ok(self
            .members(tag)
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
        self.kernel.core.set_frozen(true);
    }

    fn resume(&self) {
        self.kernel.core.set_frozen(false);
    }

    /// CPU time of a subcontainer's processes, live or reaped (see
    /// [`TaskSet::container_cpu`]); the root container, like a pod's sandbox
    /// container, reports the whole sandbox's. The memory is the whole
    /// sandbox's.
    fn usage(&self, container: &ContainerId) -> Result<Usage, HandleError> {
        let tag = self.tag(container)?;
        let tasks = &self.kernel.core.tasks;
        let members = self.members(tag);
        let live = members
            .iter()
            .filter(|process| !matches!(process.life, Life::Zombie { .. }))
            .count();
        let cpu_time = match tag {
            ContainerTag::ROOT => tasks.total_cpu(),
            _ => {
                let reaped = self.kernel.containers.get(tag).map_or(Duration::ZERO, |container| {
                    *container.reaped_cpu.lock().expect("reaped CPU poisoned")
                });
                tasks.container_cpu(tag) + reaped
            }
        };
        Ok(Usage {
            cpu_time,
            memory_bytes: self.kernel.core.memory_file.resident_bytes(),
            processes: u32::try_from(live).unwrap_or(u32::MAX),
        })
    }

    fn stuck_tasks(&self, threshold: Duration) -> Vec<StuckTask> {
        let mut stuck: Vec<StuckTask> = self
            .kernel
            .core
            .tasks
            .syscalls_longer_than(threshold)
            .into_iter()
            .filter_map(|call| {
                let container = ContainerId(self.kernel.containers.get(call.container)?.name.get()?.clone());
                Some(StuckTask {
                    container,
                    tid: call.tid,
                    syscall: TABLE.get(call.number).map_or("unknown", |entry| entry.name),
                    duration: call.duration,
                })
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
    use crate::abi::limits::ResourceLimits;
    use crate::kernel::{KernelConfig, ProcessSpec};
    use crate::platform::PlatformKind;

    /// The host's static busybox (Debian's busybox-static).
    const BUSYBOX: &str = "/bin/busybox";
    const CONTAINER: &str = "box";

    /// The host's `/`, read-only under a memory overlay.
    fn open_root() -> RootFs {
        root_at(std::path::Path::new("/"), true)
    }

    /// `path` as a container's root, under a memory overlay.
    fn root_at(path: &std::path::Path, readonly: bool) -> RootFs {
        let dir = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .expect("the root opens");
        RootFs {
            dir,
            readonly,
            overlay: true,
            mounts: Vec::new(),
        }
    }

    /// A control over a kernel on the host's `/`, with no container yet.
    fn bare_control() -> KernelControl {
        let config = KernelConfig {
            hostname: "test".to_owned(),
            platform: PlatformKind::Ptrace,
            pin_cpu: false,
            strace: false,
        };
        KernelControl::new(Kernel::new(config, open_root(), crate::syscalls::dispatch).expect("the kernel boots"))
    }

    /// A control with its root container created.
    fn control() -> (KernelControl, ContainerId) {
        let control = bare_control();
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
                seccomp: Default::default(),
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

    /// A directory holding only a static busybox, for a subcontainer's
    /// root; removed when dropped.
    struct BusyboxRoot(std::path::PathBuf);

    impl BusyboxRoot {
        fn new(name: &str) -> BusyboxRoot {
            let dir = std::env::temp_dir().join(format!("cordon-control-{name}-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("bin")).expect("the root's /bin");
            std::fs::copy(BUSYBOX, dir.join("bin/busybox")).expect("busybox copies");
            std::fs::write(dir.join("marker"), "subcontainer\n").expect("the marker");
            BusyboxRoot(dir)
        }

        fn root(&self) -> RootFs {
            root_at(&self.0, false)
        }
    }

    impl Drop for BusyboxRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What `args` printed on stdout and how it ended, run in `container`.
    fn output_of(
        control: &KernelControl,
        events: &Receiver<KernelEvent>,
        container: &ContainerId,
        args: &[&str],
    ) -> (String, ExitStatus) {
        let (mut read, write) = std::io::pipe().expect("a pipe");
        let write: OwnedFd = write.into();
        let stdio = [dev_null(), write, dev_null()];
        let pid = control
            .create_process(container, busybox(args, stdio))
            .expect("the process starts");
        let status = exit_of(events, pid);
        let mut output = String::new();
        read.read_to_string(&mut output).expect("the output");
        (output, status)
    }

    #[test]
    fn subcontainers_have_their_own_root_and_processes() {
        let (control, root) = control();
        let events = control.events();
        let sub_root = BusyboxRoot::new("sub");
        let sub = ContainerId("sub".to_owned());
        control.create_container(&sub, sub_root.root()).expect("a subcontainer");
        assert!(matches!(
            control.create_container(&sub, sub_root.root()),
            Err(HandleError::ContainerExists(_))
        ));
        // Pid 1 is the root container's init's.
        assert!(matches!(
            control.create_process(&sub, busybox(&["true"], quiet())),
            Err(HandleError::Unsupported(_))
        ));
        let init = control
            .create_process(&root, busybox(&["sleep", "30"], quiet()))
            .expect("the root init starts");
        assert_eq!(init, INIT_PID);

        let sub_init = control
            .create_process(&sub, busybox(&["sleep", "30"], quiet()))
            .expect("the subcontainer's init starts");
        assert!(sub_init > INIT_PID, "{sub_init}");
        // Its root is its own directory: the marker is there, the host's
        // /etc is not.
        let (listed, status) = output_of(
            &control,
            &events,
            &sub,
            &["sh", "-c", "/bin/busybox cat /marker; /bin/busybox ls /etc"],
        );
        assert_eq!((listed.as_str(), status), ("subcontainer\n", ExitStatus::Exited(1)));
        let (host, _) = output_of(&control, &events, &root, &["cat", "/etc/hostname"]);
        assert!(!host.is_empty(), "the root container sees the host's root");
        // Writes stay in the subcontainer's overlay.
        let (_, status) = output_of(&control, &events, &sub, &["sh", "-c", "echo new > /marker"]);
        assert_eq!(status, ExitStatus::Exited(0));
        assert_eq!(
            std::fs::read_to_string(sub_root.0.join("marker")).expect("marker"),
            "subcontainer\n"
        );

        // The CPU an exec'd process used stays counted once it is reaped.
        let before = control.usage(&sub).expect("usage").cpu_time;
        let busy = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done";
        let (_, status) = output_of(&control, &events, &sub, &["sh", "-c", busy]);
        assert_eq!(status, ExitStatus::Exited(0));
        let after = control.usage(&sub).expect("usage").cpu_time;
        assert!(after > before, "{before:?} then {after:?}");

        let pids =
            |id: &ContainerId| -> Vec<Pid> { control.processes(id).expect("lists").iter().map(|p| p.pid).collect() };
        assert_eq!(pids(&root), [INIT_PID]);
        assert_eq!(pids(&sub), [sub_init]);
        // A container's signals stay in it.
        assert!(matches!(
            control.signal(&root, SignalTarget::Process(sub_init), libc::SIGKILL),
            Err(HandleError::NoSuchProcess { .. })
        ));
        control
            .signal(&sub, SignalTarget::AllProcesses, libc::SIGKILL)
            .expect("SIGKILL to the subcontainer");
        assert_eq!(exit_of(&events, sub_init), ExitStatus::Signaled(libc::SIGKILL));
        assert_eq!(pids(&root), [INIT_PID], "the root container runs on");

        // A destroy misses none of a process's children, not even while it
        // keeps forking.
        let forker = control
            .create_process(
                &sub,
                busybox(&["sh", "-c", "while :; do /bin/busybox sleep 100 & done"], quiet()),
            )
            .expect("a forking exec");
        let tag = control.tag(&sub).expect("the subcontainer's tag");
        std::thread::sleep(Duration::from_millis(300));
        control.destroy_container(&sub).expect("destroyed");
        // Once the destroy returns, its processes have ended.
        let left: Vec<_> = control
            .kernel
            .core
            .tasks
            .summaries()
            .into_iter()
            .filter(|p| p.container == tag && !matches!(p.life, Life::Zombie { .. }))
            .collect();
        assert!(left.is_empty(), "processes outlived their container: {left:?}");
        assert_eq!(exit_of(&events, forker), ExitStatus::Signaled(libc::SIGKILL));
        assert!(
            control.kernel.containers.get(tag).is_none(),
            "the container left the table"
        );
        control
            .create_container(&sub, sub_root.root())
            .expect("the name is free again");

        // Destroying the subcontainer leaves the root container running.
        let second = control
            .create_process(&sub, busybox(&["sleep", "30"], quiet()))
            .expect("an exec into the subcontainer");
        control.destroy_container(&sub).expect("destroyed");
        assert_eq!(exit_of(&events, second), ExitStatus::Signaled(libc::SIGKILL));
        assert!(matches!(control.processes(&sub), Err(HandleError::NoSuchContainer(_))));
        assert_eq!(pids(&root), [INIT_PID]);

        // The root container's end is the sandbox's.
        let other = ContainerId("other".to_owned());
        control
            .create_container(&other, sub_root.root())
            .expect("another subcontainer");
        let other_init = control
            .create_process(&other, busybox(&["sleep", "30"], quiet()))
            .expect("its init starts");
        control
            .destroy_container(&root)
            .expect("the root container is destroyed");
        // In either order.
        let mut ended = std::collections::BTreeMap::new();
        while ended.len() < 2 {
            match events.recv_timeout(Duration::from_secs(20)).expect("the exits") {
                KernelEvent::ProcessExited { pid, status, .. } => ended.insert(pid, status),
                _ => continue,
            };
        }
        let killed = ExitStatus::Signaled(libc::SIGKILL);
        assert_eq!(ended, [(INIT_PID, killed), (other_init, killed)].into());
        assert!(matches!(
            control.create_container(&ContainerId("late".to_owned()), sub_root.root()),
            Err(HandleError::Unsupported(_))
        ));
    }

    #[test]
    fn the_root_container_must_be_the_kernels_root() {
        let control = bare_control();
        let elsewhere = BusyboxRoot::new("elsewhere");
        assert!(matches!(
            control.create_container(&ContainerId("root".to_owned()), elsewhere.root()),
            Err(HandleError::Unsupported(_))
        ));
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
}
