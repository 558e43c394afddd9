//! The state directory: `<root>/<id>/` holds, for each container, its
//! record (`state.json`: what `state` and `list` report besides the live
//! status) and the control socket of its sandbox process (`control.sock`,
//! mode 0600). The directory is made by `create` and removed by `delete`.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cordon_actors::client::{Client, ClientError};
use cordon_actors::protocol::WireCapabilities;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

/// The record's file name.
const RECORD_FILE: &str = "state.json";
/// The control socket's file name.
const SOCKET_FILE: &str = "control.sock";
/// The longest path a unix socket address holds (sun_path, less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists; delete it first or choose another id")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '.', '_', '+' and '-'")]
    InvalidId(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a container record: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What `create` records about a container, beside its live status which
/// only its sandbox process knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// The bundle directory, absolute.
    pub bundle: PathBuf,
    /// The root filesystem, absolute.
    pub rootfs: PathBuf,
    /// The sandbox process (`cordon boot`).
    pub sandbox_pid: i32,
    /// Its start time (field 22 of /proc/PID/stat), which tells it from a
    /// later process that reuses the pid.
    pub sandbox_start_time: u64,
    /// RFC 3339, UTC.
    pub created: String,
    /// The user who created it.
    pub owner: String,
    /// The spec's annotations.
    pub annotations: BTreeMap<String, String>,
    /// What a process `exec` starts gets unless told otherwise.
    pub exec_defaults: ExecDefaults,
    /// For a subcontainer: the id of the container whose sandbox process
    /// serves it (the pod's sandbox). None for a sandbox's own container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<String>,
    /// The container's monitor (`cordon monitor`), started for a
    /// `--pid-file`: the host process that exits when the container's init
    /// does, with its status, as runc's init would. Its pid is the
    /// container's pid in the pid file and in `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<HostProcess>,
}

/// A host process, told from a later one that reuses its pid by its start
/// time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostProcess {
    pub pid: i32,
    pub start_time: u64,
}

impl HostProcess {
    /// The live (not zombie) process `pid`, if it runs.
    pub fn of(pid: i32) -> Option<HostProcess> {
        process_start_time(pid).map(|start_time| HostProcess { pid, start_time })
    }

    /// Whether it still runs.
    pub fn alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.start_time)
    }
}

/// The init's environment, directory and user, which `exec` starts from
/// (as runc takes them from the container's config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecDefaults {
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    #[serde(default)]
    pub capabilities: Option<WireCapabilities>,
    #[serde(default)]
    pub no_new_privileges: bool,
}

impl ExecDefaults {
    /// What `exec` starts from in a container whose init is `process`.
    pub fn of(process: &cordon_kernel::ProcessSpec) -> ExecDefaults {
        ExecDefaults {
            env: process.env.clone(),
            cwd: process.cwd.clone(),
            uid: process.credentials.ruid,
            gid: process.credentials.rgid,
            additional_gids: process.credentials.groups.clone(),
            capabilities: Some(process.credentials.caps.into()),
            no_new_privileges: process.credentials.no_new_privs,
        }
    }
}

impl ContainerRecord {
    /// Whether the sandbox process this record names still runs (and is not
    /// a zombie, nor another process with its pid).
    pub fn sandbox_alive(&self) -> bool {
        process_start_time(self.sandbox_pid).is_some_and(|start| start == self.sandbox_start_time)
    }
}

/// The start time of a live (not zombie) process, from /proc/PID/stat.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after
    // it start past the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 (the state); field 22 is the start time.
    match fields.first() {
        Some(&"Z" | &"X" | &"x") | None => None,
        Some(_) => fields.get(19)?.parse().ok(),
    }
}

/// The directory holding every container's state (`--root`).
#[derive(Debug, Clone)]
pub struct StateRoot {
    path: PathBuf,
}

impl StateRoot {
    pub fn new(path: PathBuf) -> StateRoot {
        StateRoot { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn container_path(&self, id: &str) -> Result<PathBuf, StateError> {
        let valid = !id.is_empty()
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
        match valid {
            true => Ok(self.path.join(id)),
            false => Err(StateError::InvalidId(id.to_owned())),
        }
    }

    /// Makes the state directory of a new container.
    pub fn create(&self, id: &str) -> Result<ContainerDir, StateError> {
        let path = self.container_path(id)?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.path)
            .map_err(io_error(&self.path))?;
        match DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => Ok(ContainerDir {
                id: id.to_owned(),
                path,
            }),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(StateError::Exists(id.to_owned())),
            Err(err) => Err(io_error(&path)(err)),
        }
    }

    /// The state directory of an existing container.
    pub fn open(&self, id: &str) -> Result<ContainerDir, StateError> {
        let path = self.container_path(id)?;
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(ContainerDir {
                id: id.to_owned(),
                path,
            }),
            Ok(_) => Err(StateError::NotFound(id.to_owned())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(StateError::NotFound(id.to_owned())),
            Err(err) => Err(io_error(&path)(err)),
        }
    }

    /// Every container with a state directory, by id.
    pub fn list(&self) -> Result<Vec<ContainerDir>, StateError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(io_error(&self.path)(err)),
        };
        let mut dirs: Vec<ContainerDir> = entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter_map(|entry| entry.file_name().to_str().and_then(|id| self.open(id).ok()))
            .collect();
        dirs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(dirs)
    }
}

/// One container's state directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    id: String,
    path: PathBuf,
}

impl ContainerDir {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the record atomically (a temporary file renamed over it), mode
    /// 0600.
    pub fn write_record(&self, record: &ContainerRecord) -> Result<(), StateError> {
        let path = self.path.join(RECORD_FILE);
        let temporary = self.path.join(format!(".{RECORD_FILE}"));
        let mut json = serde_json::to_vec_pretty(record).expect("a record always serializes");
        json.push(b'\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io_error(&temporary))?;
        file.write_all(&json).map_err(io_error(&temporary))?;
        file.sync_all().map_err(io_error(&temporary))?;
        fs::rename(&temporary, &path).map_err(io_error(&path))
    }

    pub fn read_record(&self) -> Result<ContainerRecord, StateError> {
        let path = self.path.join(RECORD_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            // create has made the directory but not yet the record.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(StateError::NotFound(self.id.clone())),
            Err(err) => return Err(io_error(&path)(err)),
        };
        serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Binds the control socket, mode 0600.
    pub fn bind(&self) -> Result<UnixListener, StateError> {
        let path = self.path.join(SOCKET_FILE);
        let listener = with_socket_address(&self.path, |address| {
            // The umask applies to the socket file bind creates: no moment
            // where others could connect.
            let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o177));
            let bound = UnixListener::bind(address);
            nix::sys::stat::umask(old);
            bound
        })
        .map_err(io_error(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io_error(&path))?;
        Ok(listener)
    }

    /// Makes this directory's control socket a symbolic link to the one of
    /// `sandbox`, a container in the same state root whose sandbox process
    /// serves this one: every verb then connects as it does for a sandbox.
    pub fn link_socket(&self, sandbox: &ContainerDir) -> Result<(), StateError> {
        let path = self.path.join(SOCKET_FILE);
        let target = Path::new("..").join(&sandbox.id).join(SOCKET_FILE);
        std::os::unix::fs::symlink(&target, &path).map_err(io_error(&path))
    }

    /// Connects to the sandbox's control socket.
    pub fn connect(&self) -> Result<Client, ClientError> {
        with_socket_address(&self.path, |address| Ok(Client::connect(address))).unwrap_or_else(|source| {
            Err(ClientError::Connect {
                path: self.path.join(SOCKET_FILE),
                source,
            })
        })
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_error(&self.path)(err)),
        }
    }
}

/// Runs `use_address` with an address for the control socket in `dir`:
/// its path, or when that is too long for a socket address, the same file
/// reached through /proc/self/fd and an fd of `dir`.
fn with_socket_address<T>(dir: &Path, use_address: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let path = dir.join(SOCKET_FILE);
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return use_address(&path);
    }
    let dir_fd: OwnedFd = open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let short = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET_FILE}", dir_fd.as_raw_fd()));
    use_address(&short)
}

/// Writes `pid` to `path` as runc does: the decimal number and no newline,
/// in a temporary `.name` beside it, renamed into place.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), StateError> {
    let name = path.file_name().ok_or_else(|| StateError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    let temporary = path.with_file_name(temporary_name);
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io_error(&temporary))?;
    let written = file
        .write_all(pid.to_string().as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(err) = written {
        let _ = fs::remove_file(&temporary);
        return Err(io_error(&temporary)(err));
    }
    fs::rename(&temporary, path).map_err(io_error(path))
}

/// `time` in RFC 3339, UTC, with nanoseconds (as runc's `created`).
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).expect("days since 1970 fit i64"));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_nanos()
    )
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard
/// Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("a day of the month");
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("a month");
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cordon-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn record(id: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.to_owned(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            sandbox_pid: std::process::id() as i32,
            sandbox_start_time: process_start_time(std::process::id() as i32).expect("we run"),
            created: rfc3339(SystemTime::now()),
            owner: "root".to_owned(),
            annotations: BTreeMap::from([("a".to_owned(), "b".to_owned())]),
            exec_defaults: ExecDefaults::default(),
            sandbox_id: None,
            monitor: None,
        }
    }

    #[test]
    fn create_open_list_remove() {
        let root = StateRoot::new(scratch("lifecycle"));
        assert!(matches!(root.open("box"), Err(StateError::NotFound(_))));
        let dir = root.create("box").expect("created");
        assert!(matches!(root.create("box"), Err(StateError::Exists(_))));
        assert!(matches!(dir.read_record(), Err(StateError::NotFound(_))));
        let written = record("box");
        dir.write_record(&written).expect("written");
        let mode = fs::metadata(dir.path().join(RECORD_FILE))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(root.open("box").expect("opens").read_record().expect("reads"), written);
        assert!(written.sandbox_alive());
        let ids: Vec<String> = root.list().expect("lists").iter().map(|d| d.id().to_owned()).collect();
        assert_eq!(ids, ["box"]);
        dir.remove().expect("removed");
        assert!(root.list().expect("lists").is_empty());
        fs::remove_dir_all(root.path()).expect("clean up");
    }

    #[test]
    fn ids_cannot_escape_the_root() {
        let root = StateRoot::new(scratch("ids"));
        for id in ["", ".", "..", "a/b", "a b"] {
            assert!(matches!(root.create(id), Err(StateError::InvalidId(_))), "{id:?}");
        }
    }

    #[test]
    fn the_socket_is_private_and_reachable_through_a_long_path() {
        let base = scratch("socket");
        let deep = base.join("x".repeat(60)).join("y".repeat(60));
        let root = StateRoot::new(deep);
        let dir = root.create("box").expect("created");
        let _listener = dir.bind().expect("bound");
        let mode = fs::metadata(dir.path().join(SOCKET_FILE))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Nothing answers the handshake, but the connection itself succeeds.
        let address_ok = with_socket_address(dir.path(), |address| std::os::unix::net::UnixStream::connect(address));
        assert!(address_ok.is_ok(), "{address_ok:?}");
        fs::remove_dir_all(&base).expect("clean up");
    }

    #[test]
    fn pid_files_are_written_as_runc_writes_them() {
        let dir = scratch("pidfile");
        fs::create_dir_all(&dir).expect("made");
        let path = dir.join("pid");
        write_pid_file(&path, 4242).expect("written");
        assert_eq!(fs::read(&path).expect("read"), b"4242");
        assert!(!dir.join(".pid").exists());
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = UNIX_EPOCH + Duration::new(951_782_400 + 3661, 5);
        assert_eq!(rfc3339(leap), "2000-02-29T01:01:01.000000005Z");
    }
}
