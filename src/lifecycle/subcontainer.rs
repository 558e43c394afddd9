//! Containers added to a running sandbox, as containerd adds the containers
//! of a pod to its sandbox: `create` with the annotations
//! `io.kubernetes.cri.container-type: container` and
//! `io.kubernetes.cri.sandbox-id: SANDBOX` (or CRI-O's equivalents) asks the
//! sandbox process of container SANDBOX to create this one, with its own
//! root and mounts, instead of starting a sandbox process of its own.
//!
//! Its state directory holds its record and a symbolic link to the
//! sandbox's control socket, so that every verb reaches it as it reaches a
//! sandbox's own container; `start` and `delete` ask for the subcontainer
//! by name, and `delete` leaves the sandbox and its other containers
//! running.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::SystemTime;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use tracing::{debug, warn};

use cordon_actors::ControlError;
use cordon_actors::client::ClientError;

use super::monitor::start_monitor;
use super::stdio::{BootStdio, InitStdio};
use super::{Globals, LifecycleError};
use crate::bundle::{self, CONFIG_FILE, LoadedBundle};
use crate::state::{self, ContainerDir, ContainerRecord, ExecDefaults, StateError};

/// The annotations that say what a container is, as containerd's CRI
/// plugin and CRI-O set them: (type key, sandbox-id key).
const KINDS: [(&str, &str); 2] = [
    ("io.kubernetes.cri.container-type", "io.kubernetes.cri.sandbox-id"),
    ("io.kubernetes.cri-o.ContainerType", "io.kubernetes.cri-o.SandboxID"),
];

/// The container whose sandbox a container with `annotations` joins, or
/// None when it is a sandbox of its own.
pub fn sandbox_of(annotations: &BTreeMap<String, String>) -> Option<&str> {
    KINDS
        .iter()
        .find_map(|(kind, sandbox)| match annotations.get(*kind).map(String::as_str) {
            Some("container") => annotations.get(*sandbox).map(String::as_str),
            _ => None,
        })
}

/// `cordon create` of a subcontainer: the sandbox process of `sandbox_id`
/// creates container `id` from the bundle `loaded`, with this command's
/// stdio as its init's, or the terminal `stdio` makes (a pty whose master
/// went to the console socket); the record names that sandbox process.
pub fn create(
    globals: &Globals,
    id: &str,
    bundle_dir: &Path,
    loaded: LoadedBundle,
    sandbox_id: &str,
    pid_file: Option<&Path>,
    stdio: BootStdio,
) -> Result<(), LifecycleError> {
    let sandbox_dir = globals.root.open(sandbox_id)?;
    let sandbox = sandbox_dir.read_record()?;
    if sandbox.sandbox_id.is_some() {
        return Err(LifecycleError::NotASandbox {
            id: sandbox_id.to_owned(),
        });
    }
    if !sandbox.sandbox_alive() {
        return Err(LifecycleError::SandboxGone {
            id: sandbox_id.to_owned(),
        });
    }
    let bundle_dir = std::fs::canonicalize(bundle_dir).map_err(|source| StateError::Io {
        path: bundle_dir.to_owned(),
        source,
    })?;
    let config_path = bundle_dir.join(CONFIG_FILE);
    let spec_json = std::fs::read_to_string(&config_path).map_err(|source| bundle::BundleError::Read {
        path: config_path,
        source,
    })?;
    if wants_own_pid_namespace(&loaded.spec) {
        warn!(
            container = id,
            sandbox = sandbox_id,
            "the spec asks for a PID namespace of its own; the containers of a sandbox share one \
             (as with shareProcessNamespace): they see, signal and reach each other's processes"
        );
    }
    let annotations = loaded.annotations();
    let rootfs = std::fs::canonicalize(&loaded.rootfs).unwrap_or(loaded.rootfs);
    let root: OwnedFd = open(
        &rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| StateError::Io {
        path: rootfs.clone(),
        source: errno.into(),
    })?;
    let record = ContainerRecord {
        id: id.to_owned(),
        bundle: bundle_dir.clone(),
        rootfs,
        sandbox_pid: sandbox.sandbox_pid,
        sandbox_start_time: sandbox.sandbox_start_time,
        created: state::rfc3339(SystemTime::now()),
        owner: sandbox.owner.clone(),
        annotations,
        exec_defaults: ExecDefaults::of(&loaded.config.process),
        sandbox_id: Some(sandbox_id.to_owned()),
        monitor: None,
    };
    let mut record = record;
    drop(loaded.config);

    let dir = globals.root.create(id)?;
    // The record first: a create killed after its request leaves a
    // container that `delete` can find and destroy.
    let created = dir
        .link_socket(&sandbox_dir)
        .and_then(|()| dir.write_record(&record))
        .map_err(LifecycleError::from)
        .and_then(|()| {
            let mut client = dir
                .connect()
                .map_err(|err| LifecycleError::from_client(sandbox_id, err))?;
            let bundle = bundle_dir.to_string_lossy();
            match stdio.open()? {
                InitStdio::Terminal(terminal) => {
                    let fds = [root.as_fd(), terminal.as_fd()];
                    client.create_subcontainer(id, &bundle, spec_json, true, &fds)
                }
                InitStdio::Fds([stdin, stdout, stderr]) => {
                    let fds = [root.as_fd(), stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
                    client.create_subcontainer(id, &bundle, spec_json, false, &fds)
                }
                InitStdio::Inherit => {
                    let stdin = std::io::stdin();
                    let stdout = std::io::stdout();
                    let stderr = std::io::stderr();
                    let fds = [root.as_fd(), stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
                    client.create_subcontainer(id, &bundle, spec_json, false, &fds)
                }
            }
            .map_err(|err| LifecycleError::from_client(id, err))
        })
        .and_then(|()| pid_file.map_or(Ok(()), |path| start_monitor(globals, &dir, &mut record, path)));
    if let Err(err) = created {
        // The sandbox may have created it before a later step failed.
        if let Ok(mut client) = dir.connect() {
            let _ = client.destroy_subcontainer(id);
        }
        let _ = dir.remove();
        return Err(err);
    }
    debug!(container = id, sandbox = sandbox_id, "subcontainer created");
    Ok(())
}

/// Whether `spec` asks for a new PID namespace (a `pid` entry without a
/// path to join), as containerd writes it for a pod without
/// `shareProcessNamespace`.
fn wants_own_pid_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    let namespaces = spec.linux().as_ref().and_then(|linux| linux.namespaces().clone());
    namespaces
        .unwrap_or_default()
        .iter()
        .any(|namespace| namespace.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && namespace.path().is_none())
}

/// `cordon delete` of a subcontainer: the sandbox kills what runs in it
/// and forgets it (when the sandbox is gone there is nothing to ask), then
/// its state directory goes.
pub fn destroy(dir: ContainerDir, record: &ContainerRecord) -> Result<(), LifecycleError> {
    if record.sandbox_alive() {
        let destroyed = dir
            .connect()
            .and_then(|mut client| client.destroy_subcontainer(&record.id));
        match destroyed {
            Ok(()) => {}
            // Not in the sandbox (its create never got there, or a delete
            // raced this one), or the sandbox is gone meanwhile.
            Err(ClientError::Remote(ControlError::NotFound { .. })) => {}
            Err(_) if !record.sandbox_alive() => {}
            // Still in a live sandbox: the directory stays for a retry.
            Err(err) => return Err(LifecycleError::from_client(&record.id, err)),
        }
    }
    dir.remove().map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_pid_namespace_without_a_path_is_one_of_its_own() {
        let spec = |namespaces: serde_json::Value| -> oci_spec::runtime::Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.0.2",
                "linux": { "namespaces": namespaces },
            }))
            .expect("a valid spec")
        };
        assert!(wants_own_pid_namespace(&spec(serde_json::json!([{ "type": "pid" }]))));
        let shared = serde_json::json!([{ "type": "pid", "path": "/proc/1/ns/pid" }, { "type": "mount" }]);
        assert!(!wants_own_pid_namespace(&spec(shared)));
        assert!(!wants_own_pid_namespace(&spec(
            serde_json::json!([{ "type": "mount" }])
        )));
    }

    #[test]
    fn the_annotations_name_the_sandbox_of_a_container() {
        let containerd = annotations(&[
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.sandbox-id", "pod"),
        ]);
        assert_eq!(sandbox_of(&containerd), Some("pod"));
        let crio = annotations(&[
            ("io.kubernetes.cri-o.ContainerType", "container"),
            ("io.kubernetes.cri-o.SandboxID", "pod2"),
        ]);
        assert_eq!(sandbox_of(&crio), Some("pod2"));
        let sandbox = annotations(&[
            ("io.kubernetes.cri.container-type", "sandbox"),
            ("io.kubernetes.cri.sandbox-id", "pod"),
        ]);
        assert_eq!(sandbox_of(&sandbox), None);
        assert_eq!(
            sandbox_of(&annotations(&[("io.kubernetes.cri.container-type", "container")])),
            None
        );
        assert_eq!(sandbox_of(&BTreeMap::new()), None);
    }
}
