//! The control-socket protocol (DESIGN §5.2).
//!
//! A connection starts with a handshake: the client sends [`HELLO_LEN`]
//! bytes, the magic `CORDON` and its protocol version (u16, little endian);
//! the server answers with the magic, its own version and a one-byte
//! [`Verdict`], and closes the connection unless the verdict is
//! [`Verdict::Accepted`].
//!
//! Then each [`Request`] travels as one frame and gets one frame back, a
//! `Result<Reply, ControlError>`. A frame is a u32 little-endian length and
//! that many bytes of bincode 2 (serde, standard configuration), at most
//! [`MAX_FRAME_LEN`]. Host fds (stdio, a terminal, a rootfs directory) ride on
//! the request frame with SCM_RIGHTS, at most [`MAX_FDS_PER_FRAME`]; each
//! request says which it expects.

pub mod frame;

use std::fmt;

use serde::{Deserialize, Serialize};

use cordon_kernel::abi::capability::{CapSet, Capabilities};
use cordon_kernel::control::handle::{ProcessInfo, ProcessState, SignalTarget, Usage};
use cordon_kernel::{Credentials, ExitStatus};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 2;
/// The bytes a connection starts with, in both directions.
pub const MAGIC: &[u8; 6] = b"CORDON";
/// Length of the client's hello: magic and version.
pub const HELLO_LEN: usize = MAGIC.len() + 2;
/// Length of the server's answer: magic, version and verdict.
pub const ANSWER_LEN: usize = HELLO_LEN + 1;
/// The largest frame payload either side accepts. An OCI spec travels inside
/// one; 1 MiB is well above any real one.
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// The most fds one frame may carry: a rootfs directory and three stdio fds.
pub const MAX_FDS_PER_FRAME: usize = 4;

/// The server's answer to a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Verdict {
    Accepted = 0,
    /// The client speaks another protocol version.
    UnsupportedVersion = 1,
    /// The peer is neither root nor the user who owns the sandbox.
    PermissionDenied = 2,
    /// The server already serves as many connections as it allows.
    Busy = 3,
}

impl Verdict {
    pub fn from_byte(byte: u8) -> Option<Verdict> {
        match byte {
            0 => Some(Verdict::Accepted),
            1 => Some(Verdict::UnsupportedVersion),
            2 => Some(Verdict::PermissionDenied),
            3 => Some(Verdict::Busy),
            _ => None,
        }
    }
}

/// A control request. Container ids are the names the OCI runtime command
/// line uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Starts the root container's init. Legal once, while the root container
    /// is created. Replies [`Reply::Pid`].
    StartRoot,
    /// Creates a subcontainer in the running sandbox, from the OCI spec as
    /// JSON text. Fds: the container's rootfs directory, then three stdio fds,
    /// or one terminal fd when `terminal` is set. Replies [`Reply::Done`].
    CreateSubcontainer {
        id: String,
        bundle: String,
        spec_json: String,
        terminal: bool,
    },
    /// Starts a created subcontainer's init. Replies [`Reply::Pid`].
    StartSubcontainer { id: String },
    /// Kills whatever runs in a subcontainer and frees everything the sandbox
    /// held for it; the other containers go on. Replies [`Reply::Done`].
    DestroySubcontainer { id: String },
    /// Starts a process in a running container. Fds: three stdio fds, or one
    /// terminal fd when `process.terminal` is set. Replies [`Reply::Pid`].
    Exec { id: String, process: ExecProcess },
    /// Waits for the container's init to exit. Replies [`Reply::Exit`].
    Wait { id: String },
    /// Waits for a process started by `StartRoot`, `StartSubcontainer` or
    /// `Exec` to exit; with `clear`, the sandbox forgets it once reported.
    /// Replies [`Reply::Exit`].
    WaitPid { id: String, pid: i32, clear: bool },
    /// Sends a signal into a running container. Replies [`Reply::Done`].
    Signal {
        id: String,
        target: WireSignalTarget,
        signal: i32,
    },
    /// Lists the container's processes. Replies [`Reply::Processes`].
    Processes { id: String },
    /// Resource usage of the container, which `events --stats` polls.
    /// Replies [`Reply::Stats`].
    Stats { id: String },
    /// Stops every task of the sandbox (all its containers). Replies
    /// [`Reply::Done`].
    Pause,
    /// Lets a paused sandbox run again. Replies [`Reply::Done`].
    Resume,
    /// The container's status and init pid. Replies [`Reply::State`].
    State { id: String },
    /// Kills every container and ends the sandbox process. Replies
    /// [`Reply::Done`] before it goes.
    Shutdown,
}

impl Request {
    /// How many fds this request must arrive with.
    pub fn expected_fds(&self) -> usize {
        let stdio = |terminal: bool| if terminal { 1 } else { 3 };
        match self {
            Request::CreateSubcontainer { terminal, .. } => 1 + stdio(*terminal),
            Request::Exec { process, .. } => stdio(process.terminal),
            _ => 0,
        }
    }
}

/// What `exec` runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecProcess {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The five capability sets; None for what the uid gets (all of them
    /// for root, none otherwise).
    pub capabilities: Option<WireCapabilities>,
    pub no_new_privileges: bool,
    /// The process gets one terminal fd as stdio and controlling terminal.
    pub terminal: bool,
}

impl ExecProcess {
    /// The credentials the process starts with.
    pub fn credentials(&self) -> Credentials {
        let groups = self.additional_gids.clone();
        let mut credentials = match self.capabilities {
            None => Credentials::new(self.uid, self.gid, groups),
            Some(caps) => Credentials::with_caps(self.uid, self.gid, groups, caps.into()),
        };
        credentials.no_new_privs = self.no_new_privileges;
        credentials
    }
}

/// [`Capabilities`] on the wire: each set as its bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCapabilities {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
}

impl From<Capabilities> for WireCapabilities {
    fn from(caps: Capabilities) -> WireCapabilities {
        WireCapabilities {
            effective: caps.effective.bits(),
            permitted: caps.permitted.bits(),
            inheritable: caps.inheritable.bits(),
            bounding: caps.bounding.bits(),
            ambient: caps.ambient.bits(),
        }
    }
}

impl From<WireCapabilities> for Capabilities {
    fn from(caps: WireCapabilities) -> Capabilities {
        Capabilities {
            effective: CapSet::from_bits(caps.effective),
            permitted: CapSet::from_bits(caps.permitted),
            inheritable: CapSet::from_bits(caps.inheritable),
            bounding: CapSet::from_bits(caps.bounding),
            ambient: CapSet::from_bits(caps.ambient),
        }
    }
}

/// [`SignalTarget`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireSignalTarget {
    Process(i32),
    ProcessGroup(i32),
    Foreground,
    AllProcesses,
    ForegroundOf(i32),
}

impl From<WireSignalTarget> for SignalTarget {
    fn from(target: WireSignalTarget) -> SignalTarget {
        match target {
            WireSignalTarget::Process(pid) => SignalTarget::Process(pid),
            WireSignalTarget::ProcessGroup(pgid) => SignalTarget::ProcessGroup(pgid),
            WireSignalTarget::Foreground => SignalTarget::Foreground,
            WireSignalTarget::AllProcesses => SignalTarget::AllProcesses,
            WireSignalTarget::ForegroundOf(pid) => SignalTarget::ForegroundOf(pid),
        }
    }
}

/// A successful reply; which variant answers which request is documented on
/// [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Pid(i32),
    Exit(WireExitStatus),
    Processes(Vec<ProcessEntry>),
    Stats(WireUsage),
    State(ContainerState),
}

/// [`ExitStatus`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireExitStatus {
    Exited(u8),
    Signaled(i32),
}

impl From<ExitStatus> for WireExitStatus {
    fn from(status: ExitStatus) -> WireExitStatus {
        match status {
            ExitStatus::Exited(code) => WireExitStatus::Exited(code),
            ExitStatus::Signaled(signal) => WireExitStatus::Signaled(signal),
        }
    }
}

impl From<WireExitStatus> for ExitStatus {
    fn from(status: WireExitStatus) -> ExitStatus {
        match status {
            WireExitStatus::Exited(code) => ExitStatus::Exited(code),
            WireExitStatus::Signaled(signal) => ExitStatus::Signaled(signal),
        }
    }
}

/// One line of `ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    pub pid: i32,
    pub ppid: i32,
    pub command: String,
    /// `R`, `S`, `T` or `Z`, as ps prints it.
    pub state: char,
    /// Seconds since the Unix epoch.
    pub started_unix: u64,
}

impl From<&ProcessInfo> for ProcessEntry {
    fn from(info: &ProcessInfo) -> ProcessEntry {
        ProcessEntry {
            pid: info.pid,
            ppid: info.ppid,
            command: info.command.clone(),
            state: match info.state {
                ProcessState::Running => 'R',
                ProcessState::Sleeping => 'S',
                ProcessState::Stopped => 'T',
                ProcessState::Zombie => 'Z',
            },
            started_unix: info
                .started
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
        }
    }
}

/// [`Usage`] on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    pub cpu_time_ns: u64,
    pub memory_bytes: u64,
    pub processes: u32,
}

impl From<Usage> for WireUsage {
    fn from(usage: Usage) -> WireUsage {
        WireUsage {
            cpu_time_ns: u64::try_from(usage.cpu_time.as_nanos()).unwrap_or(u64::MAX),
            memory_bytes: usage.memory_bytes,
            processes: usage.processes,
        }
    }
}

/// A container's life-cycle state, named as the OCI state JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Stopped => "stopped",
        })
    }
}

/// What `State` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub status: ContainerStatus,
    /// The init's pid once started.
    pub pid: Option<i32>,
}
