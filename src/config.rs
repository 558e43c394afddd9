//! What a sandbox boots, whichever way it was described: an OCI bundle
//! (`cordon run`) or the caller's own process (`cordon do`).

use std::path::{Path, PathBuf};

use cordon_kernel::{ProcessSpec, RootFs};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// A sandbox ready to boot: its hostname, its opened root and its first process.
#[derive(Debug)]
pub struct SandboxConfig {
    pub hostname: String,
    pub root: RootFs,
    pub process: ProcessSpec,
    /// The first process has a terminal as its stdio (OCI
    /// `process.terminal`).
    pub terminal: bool,
}

/// Why a root filesystem could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("root filesystem {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("root filesystem {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("failed to open root filesystem {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: Errno,
    },
}

/// Opens `path` as the directory the kernel resolves every application path
/// beneath. An `O_PATH` fd grants no access by itself; the kernel opens what
/// it needs relative to it.
pub fn open_root(path: &Path, readonly: bool) -> Result<RootFs, RootError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    match open(path, flags, Mode::empty()) {
        Ok(dir) => Ok(RootFs {
            dir,
            readonly,
            overlay: true,
            mounts: Vec::new(),
        }),
        Err(Errno::ENOENT) => Err(RootError::Missing(path.to_owned())),
        Err(Errno::ENOTDIR) => Err(RootError::NotADirectory(path.to_owned())),
        Err(source) => Err(RootError::Open {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_a_directory() {
        let root = open_root(Path::new("/"), true).expect("/ is a directory");
        assert!(root.readonly);
    }

    #[test]
    fn missing_root_names_the_path() {
        let err = open_root(Path::new("/nonexistent/cordon-root"), false).expect_err("the path does not exist");
        assert_eq!(
            err.to_string(),
            "root filesystem /nonexistent/cordon-root does not exist"
        );
    }

    #[test]
    fn file_is_not_a_root() {
        let err = open_root(Path::new("/proc/self/status"), false).expect_err("a regular file is no root");
        assert!(matches!(err, RootError::NotADirectory(_)), "{err}");
    }
}
