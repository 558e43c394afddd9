//! The sandbox `cordon do` runs a command in: the host's root, read-only,
//! seen by a process with the caller's identity, environment and directory.

use std::io;
use std::path::{Path, PathBuf};

use cordon_kernel::abi::limits::ResourceLimits;
use cordon_kernel::kernel::pty::TTY_GID;
use cordon_kernel::{Credentials, ProcessSpec};
use cordon_kernel::{DevptsOptions, MountFlags, MountSource, MountSpec};
use nix::errno::Errno;
use nix::unistd::{getgid, getgroups, getuid};
use tracing::warn;

use crate::config::{self, RootError, SandboxConfig};
use crate::spec::DEFAULT_HOSTNAME;

/// Why the caller's process could not be described.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("failed to read the current directory: {0}; cd to an existing directory")]
    CurrentDir(#[source] io::Error),
    #[error("the current directory {} is not valid UTF-8; cd elsewhere", .0.display())]
    NonUtf8Cwd(PathBuf),
    #[error("failed to read the supplementary groups: {0}")]
    Groups(#[source] Errno),
    #[error(transparent)]
    Root(#[from] RootError),
}

/// A sandbox that runs `argv` as the caller would, on the host's root: under
/// a memory overlay (writes stay in the sandbox) when `overlay`, read-only
/// otherwise; with the sandbox's own /proc, /dev (and /dev/pts) and /sys.
pub fn command_config(argv: Vec<String>, overlay: bool) -> Result<SandboxConfig, HostError> {
    let cwd = std::env::current_dir().map_err(HostError::CurrentDir)?;
    let cwd = cwd
        .to_str()
        .ok_or_else(|| HostError::NonUtf8Cwd(cwd.clone()))?
        .to_owned();
    let additional_gids = getgroups()
        .map_err(HostError::Groups)?
        .into_iter()
        .map(|gid| gid.as_raw())
        .collect();
    Ok(SandboxConfig {
        hostname: DEFAULT_HOSTNAME.to_owned(),
        root: {
            let mut root = config::open_root(Path::new("/"), !overlay)?;
            root.overlay = overlay;
            root.mounts = system_mounts();
            root
        },
        process: ProcessSpec {
            argv,
            env: environment(),
            cwd,
            credentials: Credentials::new(getuid().as_raw(), getgid().as_raw(), additional_gids),
            rlimits: ResourceLimits::default(),
            umask: ProcessSpec::DEFAULT_UMASK,
            seccomp: Default::default(),
        },
        // cordon's own stdio, terminals or not, as they are.
        terminal: false,
    })
}

/// The sandbox's own /proc, /dev, /dev/pts and /sys, for a root that is the
/// host's (`cordon do`, an embedded sandbox over a directory).
pub fn system_mounts() -> Vec<MountSpec> {
    vec![
        synthetic_mount("/proc", MountSource::Proc),
        synthetic_mount("/dev", MountSource::Devfs),
        synthetic_mount(
            "/dev/pts",
            MountSource::Devpts(DevptsOptions {
                ptmx_mode: 0o666,
                mode: 0o620,
                gid: Some(TTY_GID),
            }),
        ),
        synthetic_mount("/sys", MountSource::Sysfs),
    ]
}

fn synthetic_mount(destination: &str, source: MountSource) -> MountSpec {
    MountSpec {
        destination: destination.to_owned(),
        source,
        flags: MountFlags {
            nosuid: true,
            noexec: true,
            ..MountFlags::default()
        },
    }
}

/// The caller's environment as `KEY=VALUE` strings. The kernel takes text, so a
/// variable that is not UTF-8 is left out rather than altered.
fn environment() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(key, value)| match (key.to_str(), value.to_str()) {
            (Some(key), Some(value)) => Some(format!("{key}={value}")),
            _ => {
                warn!(variable = ?key, "not passing an environment variable that is not UTF-8");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_as_the_caller_where_the_caller_is() {
        let config = command_config(vec!["true".to_owned()], true).expect("the caller is describable");
        assert_eq!(config.hostname, "cordon");
        assert!(config.root.overlay && !config.root.readonly);
        let mounted: Vec<&str> = config.root.mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(mounted, ["/proc", "/dev", "/dev/pts", "/sys"]);
        assert!(command_config(vec!["true".to_owned()], false).unwrap().root.readonly);
        let process = config.process;
        assert_eq!(process.argv, ["true"]);
        let cwd = std::env::current_dir().expect("the test runs in a directory");
        assert_eq!(Path::new(&process.cwd), cwd);
        assert_eq!(process.credentials.ruid, getuid().as_raw());
        assert_eq!(process.credentials.rgid, getgid().as_raw());
        assert_eq!(process.umask, 0o022);
        assert_eq!(process.rlimits, ResourceLimits::default());
    }

    #[test]
    fn environment_is_key_value() {
        let env = environment();
        let path = std::env::var("PATH").expect("the test runs with PATH set");
        assert!(env.contains(&format!("PATH={path}")));
    }
}
