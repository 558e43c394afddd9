//! The spec's `mounts` as the kernel's mount list.

use std::path::{Path, PathBuf};

use cordon_kernel::{DevptsOptions, MountFlags, MountSource, MountSpec};
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, openat2};
use oci_spec::runtime::Mount;
use tracing::debug;

/// Why a mount of the spec cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {destination}: destination must be an absolute path")]
    RelativeDestination { destination: String },
    #[error("mount {destination}: unsupported filesystem type {fs_type:?}")]
    UnsupportedType { destination: String, fs_type: String },
    #[error("mount {destination}: bind source {} cannot be opened: {source}", path.display())]
    BindSource {
        destination: String,
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("mount {destination}: bad option {option:?}")]
    BadOption { destination: String, option: String },
}

/// Turns the spec's mounts into the kernel's, in order. A tmpfs on /dev
/// becomes the sandbox's devfs (runc fills that tmpfs with device nodes);
/// mqueue and cgroup mounts are skipped (their directories exist, empty).
/// Relative bind sources are relative to the bundle.
pub fn from_spec(mounts: &[Mount], bundle: &Path) -> Result<Vec<MountSpec>, MountError> {
    let mut out = Vec::new();
    for mount in mounts {
        let destination = mount.destination().to_string_lossy().into_owned();
        if !destination.starts_with('/') {
            return Err(MountError::RelativeDestination { destination });
        }
        let options = mount.options().clone().unwrap_or_default();
        let flags = MountFlags {
            readonly: options.iter().any(|o| o == "ro"),
            nosuid: options.iter().any(|o| o == "nosuid"),
            nodev: options.iter().any(|o| o == "nodev"),
            noexec: options.iter().any(|o| o == "noexec"),
        };
        let fs_type = mount.typ().clone().unwrap_or_default();
        let is_bind = fs_type == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
        let source = if is_bind {
            let path = bundle.join(mount.source().clone().unwrap_or_default());
            let error = |source| MountError::BindSource {
                destination: destination.clone(),
                path: path.clone(),
                source,
            };
            // A directory is named by an O_PATH fd and opened beneath it; a
            // regular file has no parent to be reopened from, so it is
            // opened here for the access the mount allows.
            let is_file = std::fs::metadata(&path)
                .map_err(|err| error(nix::errno::Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))))?
                .is_file();
            let access = match (is_file, flags.readonly) {
                (false, _) => OFlag::O_PATH,
                (true, true) => OFlag::O_RDONLY | OFlag::O_NOCTTY,
                (true, false) => OFlag::O_RDWR | OFlag::O_NOCTTY,
            };
            // openat2, not open: a sandbox process confined by its seccomp
            // filter opens a subcontainer's bind sources, and the filter
            // refuses open and openat.
            let how = OpenHow::new().flags(access | OFlag::O_CLOEXEC);
            let fd = openat2(AT_FDCWD, &path, how).map_err(error)?;
            MountSource::Bind(fd)
        } else {
            match fs_type.as_str() {
                "proc" => MountSource::Proc,
                "sysfs" => MountSource::Sysfs,
                "tmpfs" if destination == "/dev" => MountSource::Devfs,
                // The kernel's device filesystem: the sandbox's own devices.
                "devtmpfs" => MountSource::Devfs,
                "tmpfs" => tmpfs(&destination, &options)?,
                "devpts" => devpts(&destination, &options)?,
                // POSIX message queues are ENOSYS (the first mq_open logs
                // a warning), so their mount point stays an empty directory.
                "cgroup" | "cgroup2" | "mqueue" => {
                    debug!(
                        destination,
                        fs_type, "mount skipped: the sandbox has no such filesystem yet"
                    );
                    continue;
                }
                _ => {
                    return Err(MountError::UnsupportedType { destination, fs_type });
                }
            }
        };
        out.push(MountSpec {
            destination,
            source,
            flags,
        });
    }
    Ok(out)
}

/// A devpts with its `ptmxmode=`, `mode=` (octal) and `gid=` options;
/// `newinstance` is what every sandbox's devpts is anyway.
fn devpts(destination: &str, options: &[String]) -> Result<MountSource, MountError> {
    let bad = |option: &str| MountError::BadOption {
        destination: destination.to_owned(),
        option: option.to_owned(),
    };
    let mut devpts = DevptsOptions::default();
    for option in options {
        if let Some(value) = option.strip_prefix("ptmxmode=") {
            devpts.ptmx_mode = u32::from_str_radix(value, 8).map_err(|_| bad(option))? & 0o7777;
        } else if let Some(value) = option.strip_prefix("mode=") {
            devpts.mode = u32::from_str_radix(value, 8).map_err(|_| bad(option))? & 0o7777;
        } else if let Some(value) = option.strip_prefix("gid=") {
            devpts.gid = Some(value.parse().map_err(|_| bad(option))?);
        }
    }
    Ok(MountSource::Devpts(devpts))
}

/// A tmpfs with its `size=` (bytes, or with a k/m/g suffix) and `mode=`
/// (octal) options.
fn tmpfs(destination: &str, options: &[String]) -> Result<MountSource, MountError> {
    let bad = |option: &str| MountError::BadOption {
        destination: destination.to_owned(),
        option: option.to_owned(),
    };
    let mut size = None;
    let mut mode = 0o1777;
    for option in options {
        if let Some(value) = option.strip_prefix("size=") {
            let (digits, unit) = match value.char_indices().last() {
                Some((i, 'k' | 'K')) => (&value[..i], 1 << 10),
                Some((i, 'm' | 'M')) => (&value[..i], 1 << 20),
                Some((i, 'g' | 'G')) => (&value[..i], 1 << 30),
                _ => (value, 1),
            };
            let number: u64 = digits.parse().map_err(|_| bad(option))?;
            size = Some(number.checked_mul(unit).ok_or_else(|| bad(option))?);
        } else if let Some(value) = option.strip_prefix("mode=") {
            mode = u32::from_str_radix(value, 8).map_err(|_| bad(option))?;
        }
    }
    Ok(MountSource::Tmpfs { size, mode })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(destination: &str, typ: &str, options: &[&str]) -> Mount {
        let mut mount = Mount::default();
        mount.set_destination(destination.into());
        mount.set_typ(Some(typ.into()));
        mount.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
        mount
    }

    #[test]
    fn runc_default_mounts_translate() {
        let spec = oci_spec::runtime::Spec::default();
        let mounts = from_spec(spec.mounts().as_ref().unwrap(), Path::new("/")).unwrap();
        let destinations: Vec<&str> = mounts.iter().map(|m| m.destination.as_str()).collect();
        assert!(destinations.contains(&"/proc"), "{destinations:?}");
        assert!(destinations.contains(&"/dev"), "{destinations:?}");
        assert!(matches!(
            mounts.iter().find(|m| m.destination == "/dev").unwrap().source,
            MountSource::Devfs
        ));
    }

    #[test]
    fn tmpfs_options_are_parsed() {
        let mounts = from_spec(
            &[mount("/run", "tmpfs", &["size=64k", "mode=755", "ro"])],
            Path::new("/"),
        )
        .unwrap();
        assert!(matches!(
            mounts[0].source,
            MountSource::Tmpfs {
                size: Some(65536),
                mode: 0o755
            }
        ));
        assert!(mounts[0].flags.readonly);
        let err = from_spec(&[mount("/run", "tmpfs", &["size=lots"])], Path::new("/")).unwrap_err();
        assert_eq!(err.to_string(), "mount /run: bad option \"size=lots\"");
    }

    #[test]
    fn devpts_options_are_parsed() {
        let mounts = from_spec(
            &[mount(
                "/dev/pts",
                "devpts",
                &["nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            )],
            Path::new("/"),
        )
        .unwrap();
        let MountSource::Devpts(options) = mounts[0].source else {
            panic!("not a devpts: {:?}", mounts[0].source);
        };
        assert_eq!(
            options,
            DevptsOptions {
                ptmx_mode: 0o666,
                mode: 0o620,
                gid: Some(5)
            }
        );
        let err = from_spec(&[mount("/dev/pts", "devpts", &["gid=tty"])], Path::new("/")).unwrap_err();
        assert_eq!(err.to_string(), "mount /dev/pts: bad option \"gid=tty\"");
    }

    #[test]
    fn devtmpfs_is_the_sandboxs_devfs() {
        let mounts = from_spec(&[mount("/dev", "devtmpfs", &[])], Path::new("/")).unwrap();
        assert!(matches!(mounts[0].source, MountSource::Devfs));
    }

    #[test]
    fn unknown_types_and_relative_destinations_are_refused() {
        let err = from_spec(&[mount("/x", "ext4", &[])], Path::new("/")).unwrap_err();
        assert_eq!(err.to_string(), "mount /x: unsupported filesystem type \"ext4\"");
        let err = from_spec(&[mount("x", "tmpfs", &[])], Path::new("/")).unwrap_err();
        assert!(matches!(err, MountError::RelativeDestination { .. }));
    }
}
