//! The OCI runtime spec's process and hostname, in cordon's terms
//! (runtime-spec config.md, "Process" and "Hostname").

use cordon_kernel::abi::capability::{CapSet, Capabilities};
use cordon_kernel::abi::limits::{Limit, ResourceLimits, resource_by_name};
use cordon_kernel::{Credentials, ProcessSpec};
use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimit, Process, Spec};

/// The hostname a sandbox gets when its spec names none. runc would leave the
/// host's, which a sandbox must not reveal.
pub const DEFAULT_HOSTNAME: &str = "cordon";

/// Why a spec's process cannot be run as written.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("process.args is empty")]
    NoArgs,
    #[error("process.cwd {0:?} is not an absolute path")]
    RelativeCwd(String),
    #[error("process.cwd {0:?} is not valid UTF-8")]
    NonUtf8Cwd(String),
    #[error("process.capabilities: {0} is not a capability this kernel knows")]
    UnknownCapability(String),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::ProfileError),
    #[error("process.rlimits: unknown resource {0}")]
    UnknownRlimit(String),
    #[error("process.rlimits: {name} soft limit {soft} is above its hard limit {hard}")]
    SoftAboveHard { name: String, soft: u64, hard: u64 },
    #[error("process.rlimits: {name} hard limit {hard} is above what the kernel allows ({source})")]
    Refused {
        name: String,
        hard: u64,
        #[source]
        source: Errno,
    },
}

/// The hostname applications in the sandbox see.
pub fn hostname(spec: &Spec) -> String {
    match spec.hostname().as_deref() {
        None | Some("") => DEFAULT_HOSTNAME.to_owned(),
        Some(name) => name.to_owned(),
    }
}

/// Whether the container's first process has a terminal
/// (`process.terminal`).
pub fn terminal(spec: &Spec) -> bool {
    spec.process().as_ref().and_then(|process| process.terminal()) == Some(true)
}

/// The container's first process as `spec.process` describes it, under
/// the seccomp profile `linux.seccomp` gives.
pub fn process_config(spec: &Spec) -> Result<ProcessSpec, SpecError> {
    let process = spec.process().as_ref().ok_or(SpecError::NoArgs)?;
    let mut config = process_spec(process)?;
    if let Some(profile) = spec.linux().as_ref().and_then(|linux| linux.seccomp().as_ref()) {
        config.seccomp = crate::seccomp::filters(profile)?;
    }
    Ok(config)
}

/// A process as an OCI `process` object describes it (config.json's, or the
/// file `exec --process` reads).
pub fn process_spec(process: &Process) -> Result<ProcessSpec, SpecError> {
    let argv = process.args().clone().unwrap_or_default();
    if argv.is_empty() {
        return Err(SpecError::NoArgs);
    }
    let cwd = process
        .cwd()
        .to_str()
        .ok_or_else(|| SpecError::NonUtf8Cwd(process.cwd().to_string_lossy().into_owned()))?;
    let cwd = match cwd {
        "" => "/".to_owned(),
        cwd if cwd.starts_with('/') => cwd.to_owned(),
        cwd => return Err(SpecError::RelativeCwd(cwd.to_owned())),
    };
    if let Some(profile) = process.apparmor_profile() {
        tracing::debug!(profile, "process.apparmorProfile: the sandbox has no AppArmor; ignored");
    }
    if let Some(label) = process.selinux_label() {
        tracing::debug!(label, "process.selinuxLabel: the sandbox has no SELinux; ignored");
    }
    let user = process.user();
    Ok(ProcessSpec {
        argv,
        env: process.env().clone().unwrap_or_default(),
        cwd,
        credentials: credentials(process)?,
        rlimits: resource_limits(process.rlimits().as_deref().unwrap_or_default())?,
        // umask(2) keeps only the permission bits.
        umask: user.umask().unwrap_or(ProcessSpec::DEFAULT_UMASK) & 0o777,
        seccomp: Default::default(),
    })
}

/// The user and capabilities the process starts with, as the runtime
/// holds them when it execs the program (`process.user`,
/// `process.capabilities`, `process.noNewPrivileges`). Without a
/// `capabilities` object the process keeps what its uid gets; with one,
/// each set is exactly the list it gives (a missing list is empty), as
/// runc sets them.
fn credentials(process: &Process) -> Result<Credentials, SpecError> {
    let user = process.user();
    let (uid, gid) = (user.uid(), user.gid());
    let groups = user.additional_gids().clone().unwrap_or_default();
    let mut credentials = match process.capabilities() {
        None => Credentials::new(uid, gid, groups),
        Some(caps) => {
            let set = |list: &Option<oci_spec::runtime::Capabilities>| -> Result<CapSet, SpecError> {
                let names: Vec<String> = list.iter().flatten().map(ToString::to_string).collect();
                CapSet::from_names(names.iter().map(String::as_str))
                    .map_err(|name| SpecError::UnknownCapability(name.to_owned()))
            };
            let sets = Capabilities {
                effective: set(caps.effective())?,
                permitted: set(caps.permitted())?,
                inheritable: set(caps.inheritable())?,
                bounding: set(caps.bounding())?,
                ambient: set(caps.ambient())?,
            };
            Credentials::with_caps(uid, gid, groups, sets)
        }
    };
    credentials.no_new_privs = process.no_new_privileges() == Some(true);
    Ok(credentials)
}

/// Linux's initial limits with the spec's entries applied over them.
fn resource_limits(entries: &[PosixRlimit]) -> Result<ResourceLimits, SpecError> {
    let mut limits = ResourceLimits::default();
    for entry in entries {
        let name = entry.typ().to_string();
        let resource = resource_by_name(&name).ok_or_else(|| SpecError::UnknownRlimit(name.clone()))?;
        let (soft, hard) = (entry.soft(), entry.hard());
        limits
            .configure(resource, Limit { soft, hard })
            .map_err(|errno| match errno {
                Errno::EINVAL => SpecError::SoftAboveHard { name, soft, hard },
                source => SpecError::Refused { name, hard, source },
            })?;
    }
    Ok(limits)
}

/// The config.json `cordon spec` writes: runc's starting point (run `sh` in
/// `rootfs`), with cordon's hostname.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_hostname(Some(DEFAULT_HOSTNAME.to_owned()));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_with_process(process: serde_json::Value) -> Spec {
        serde_json::from_value(json!({ "ociVersion": "1.2.0", "process": process })).expect("the test spec is valid")
    }

    #[test]
    fn default_spec_runs_sh_as_root() {
        let spec = default_spec();
        let process = process_config(&spec).expect("the default spec is runnable");
        assert_eq!(process.argv, ["sh"]);
        assert_eq!(process.cwd, "/");
        // As `runc spec` writes it: root with three capabilities and
        // no_new_privs.
        let creds = &process.credentials;
        assert_eq!((creds.ruid, creds.euid, creds.rgid, creds.egid), (0, 0, 0, 0));
        let three = CapSet::from_names(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]).unwrap();
        assert_eq!((creds.caps.effective, creds.caps.bounding), (three, three));
        assert!(creds.no_new_privs);
        assert_eq!(process.umask, 0o022);
        assert!(process.env.iter().any(|var| var.starts_with("PATH=")));
        let nofile = resource_by_name("RLIMIT_NOFILE").expect("a Linux resource");
        assert_eq!(process.rlimits.get(nofile), Ok(Limit { soft: 1024, hard: 1024 }));
        assert_eq!(hostname(&spec), "cordon");
    }

    #[test]
    fn process_fields_are_honoured() {
        let spec = spec_with_process(json!({
            "args": ["/bin/echo", "hi"],
            "env": ["A=1"],
            "cwd": "/tmp",
            "user": { "uid": 1000, "gid": 100, "additionalGids": [10, 20], "umask": 63 },
            "rlimits": [{ "type": "RLIMIT_CORE", "soft": 10, "hard": 20 }]
        }));
        let process = process_config(&spec).expect("the spec is runnable");
        assert_eq!(process.argv, ["/bin/echo", "hi"]);
        assert_eq!(process.env, ["A=1"]);
        assert_eq!(process.cwd, "/tmp");
        assert_eq!(process.credentials, Credentials::new(1000, 100, vec![10, 20]));
        assert_eq!(process.umask, 0o077);
        let core = resource_by_name("RLIMIT_CORE").expect("a Linux resource");
        assert_eq!(process.rlimits.get(core), Ok(Limit { soft: 10, hard: 20 }));
    }

    #[test]
    fn capability_lists_become_the_sets_and_missing_lists_are_empty() {
        let spec = spec_with_process(json!({
            "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 },
            "capabilities": { "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                              "permitted": ["CAP_KILL"] },
            "noNewPrivileges": false
        }));
        let creds = process_config(&spec).expect("runnable").credentials;
        let kill = CapSet::from_names(["CAP_KILL"]).unwrap();
        assert_eq!(
            creds.caps.bounding,
            CapSet::from_names(["CAP_KILL", "CAP_CHOWN"]).unwrap()
        );
        assert_eq!((creds.caps.effective, creds.caps.permitted), (kill, kill));
        assert!(creds.caps.inheritable.is_empty() && creds.caps.ambient.is_empty());
        assert!(!creds.no_new_privs);
        // Without the object, root keeps everything.
        let spec = spec_with_process(json!({ "args": ["sh"], "cwd": "/", "user": { "uid": 0, "gid": 0 } }));
        assert_eq!(
            process_config(&spec).expect("runnable").credentials,
            Credentials::default()
        );
    }

    #[test]
    fn empty_cwd_is_the_root() {
        let spec = spec_with_process(json!({ "args": ["sh"], "cwd": "", "user": {} }));
        assert_eq!(process_config(&spec).expect("runnable").cwd, "/");
    }

    #[test]
    fn relative_cwd_is_refused() {
        let spec = spec_with_process(json!({ "args": ["sh"], "cwd": "tmp", "user": {} }));
        let err = process_config(&spec).expect_err("cwd is relative");
        assert_eq!(err.to_string(), "process.cwd \"tmp\" is not an absolute path");
    }

    #[test]
    fn missing_process_has_no_args() {
        let spec: Spec = serde_json::from_value(json!({ "ociVersion": "1.2.0" })).expect("valid spec");
        let err = process_config(&spec).expect_err("no process");
        assert_eq!(err.to_string(), "process.args is empty");
    }

    #[test]
    fn soft_limit_above_hard_is_refused() {
        let spec = spec_with_process(json!({
            "args": ["sh"], "cwd": "/", "user": {},
            "rlimits": [{ "type": "RLIMIT_NOFILE", "soft": 20, "hard": 10 }]
        }));
        let err = process_config(&spec).expect_err("soft is above hard");
        assert_eq!(
            err.to_string(),
            "process.rlimits: RLIMIT_NOFILE soft limit 20 is above its hard limit 10"
        );
    }

    #[test]
    fn nofile_above_nr_open_is_refused() {
        let spec = spec_with_process(json!({
            "args": ["sh"], "cwd": "/", "user": {},
            "rlimits": [{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": 1u64 << 30 }]
        }));
        let err = process_config(&spec).expect_err("hard is above fs.nr_open");
        assert!(matches!(err, SpecError::Refused { .. }), "{err}");
    }

    #[test]
    fn empty_hostname_is_cordon() {
        let mut spec = default_spec();
        spec.set_hostname(Some(String::new()));
        assert_eq!(hostname(&spec), "cordon");
        spec.set_hostname(Some("box".to_owned()));
        assert_eq!(hostname(&spec), "box");
    }
}
