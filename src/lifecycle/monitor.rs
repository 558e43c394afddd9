//! Starting a container's monitor for `--pid-file`, whichever sandbox
//! process serves the container; what the monitor does is
//! [`super::manage::monitor`].

use std::path::Path;
use std::process::Command;

use cordon_kernel::sys::spawn::ChildSetup;

use super::{Globals, LifecycleError};
use crate::state::{self, ContainerDir, ContainerRecord};

/// For a `--pid-file`: starts the container's monitor, `cordon monitor
/// ID`, in a session of its own and with no stdio, records it, and writes
/// its pid to `path`. It exits when the container's init does, with its
/// status, so that a caller watching that pid (containerd's shim, conmon)
/// sees the container end as it would under runc; this command's exit
/// leaves it to that caller, a subreaper, to reap.
pub(crate) fn start_monitor(
    globals: &Globals,
    dir: &ContainerDir,
    record: &mut ContainerRecord,
    path: &Path,
) -> Result<(), LifecycleError> {
    let mut command = Command::new(&globals.program);
    command
        .arg("--root")
        .arg(globals.root.path())
        .args(&globals.boot_args)
        .arg("monitor")
        .arg(dir.id())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let monitor = ChildSetup::new()
        .new_session()
        .spawn(command)
        .map_err(LifecycleError::Spawn)?;
    let pid = i32::try_from(monitor.id()).expect("pids fit i32");
    record.monitor = state::HostProcess::of(pid);
    dir.write_record(record)?;
    state::write_pid_file(path, pid)?;
    Ok(())
}
