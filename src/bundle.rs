//! OCI bundles on disk: a directory holding `config.json` and the root
//! filesystem it names (runtime-spec bundle.md).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::error::Category;

use crate::config::{self, RootError, SandboxConfig};
use crate::mounts::{self, MountError};
use crate::spec::{self, SpecError};

/// The name of a bundle's configuration file.
pub const CONFIG_FILE: &str = "config.json";

/// The runtime-spec versions cordon reads, for error messages.
const SUPPORTED_VERSIONS: &str = "1.0.x, 1.1.x and 1.2.x";

/// Why a bundle cannot be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle directory {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("bundle {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} does not exist; create one with `cordon spec`", .0.display())]
    NoConfig(PathBuf),
    #[error("failed to read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: invalid JSON at line {line}, column {column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: not a valid OCI spec at line {line}, column {column}: {message}", path.display())]
    Schema {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: ociVersion is not set; cordon supports {SUPPORTED_VERSIONS}", .0.display())]
    NoVersion(PathBuf),
    #[error(
        "{}: ociVersion {version:?} is not supported; cordon supports {SUPPORTED_VERSIONS}",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, version: String },
    #[error("{}: root.path is not set; set it to the container's root directory", .0.display())]
    NoRoot(PathBuf),
    #[error("{source} (root.path in {})", config.display())]
    Root {
        config: PathBuf,
        #[source]
        source: RootError,
    },
    #[error("{}: {source}", path.display())]
    Spec {
        path: PathBuf,
        #[source]
        source: SpecError,
    },
    #[error("{}: {source}", path.display())]
    Mount {
        path: PathBuf,
        #[source]
        source: MountError,
    },
    #[error("{} already exists; remove it or choose another --bundle", .0.display())]
    ConfigExists(PathBuf),
    #[error("failed to write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A bundle read from disk: its spec, and what it boots.
#[derive(Debug)]
pub struct LoadedBundle {
    pub spec: Spec,
    /// The root filesystem's path (`root.path` against the bundle).
    pub rootfs: PathBuf,
    pub config: SandboxConfig,
}

impl LoadedBundle {
    /// The spec's annotations.
    pub fn annotations(&self) -> std::collections::BTreeMap<String, String> {
        self.spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
}

/// Loads the bundle in `dir` and opens its root filesystem, ready to boot.
pub fn load(dir: &Path) -> Result<SandboxConfig, BundleError> {
    open(dir).map(|bundle| bundle.config)
}

/// Like [`load`], keeping the spec and the root filesystem's path.
pub fn open(dir: &Path) -> Result<LoadedBundle, BundleError> {
    let config_path = config_path(dir)?;
    let text = fs::read_to_string(&config_path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => BundleError::NoConfig(config_path.clone()),
        _ => BundleError::Read {
            path: config_path.clone(),
            source,
        },
    })?;
    let spec = parse(&config_path, &text)?;
    check_version(&config_path, spec.version())?;

    let process = spec::process_config(&spec).map_err(|source| BundleError::Spec {
        path: config_path.clone(),
        source,
    })?;
    let root = match spec.root() {
        Some(root) if !root.path().as_os_str().is_empty() => root,
        _ => return Err(BundleError::NoRoot(config_path)),
    };
    // A relative root.path is relative to the bundle; join keeps an absolute one.
    let root_dir = dir.join(root.path());
    let mut root =
        config::open_root(&root_dir, root.readonly().unwrap_or(false)).map_err(|source| BundleError::Root {
            config: config_path.clone(),
            source,
        })?;
    root.mounts =
        mounts::from_spec(spec.mounts().as_deref().unwrap_or_default(), dir).map_err(|source| BundleError::Mount {
            path: config_path.clone(),
            source,
        })?;
    let config = SandboxConfig {
        hostname: spec::hostname(&spec),
        root,
        process,
        terminal: spec::terminal(&spec),
    };
    Ok(LoadedBundle {
        spec,
        rootfs: root_dir,
        config,
    })
}

/// Writes a default config.json into `dir`, as `runc spec` does, and returns
/// its path. An existing config.json is never overwritten.
pub fn write_default_config(dir: &Path) -> Result<PathBuf, BundleError> {
    let path = config_path(dir)?;
    let mut json = serde_json::to_string_pretty(&spec::default_spec()).expect("an OCI spec always serializes to JSON");
    json.push('\n');
    let write_error = |source| BundleError::Write {
        path: path.clone(),
        source,
    };
    let mut file = File::create_new(&path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => BundleError::ConfigExists(path.clone()),
        _ => write_error(source),
    })?;
    file.write_all(json.as_bytes()).map_err(write_error)?;
    Ok(path)
}

/// The path of the config.json of the bundle in `dir`, once `dir` is known to
/// be a directory.
fn config_path(dir: &Path) -> Result<PathBuf, BundleError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(dir.join(CONFIG_FILE)),
        Ok(_) => Err(BundleError::NotADirectory(dir.to_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(BundleError::Missing(dir.to_owned())),
        Err(source) => Err(BundleError::Read {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Parses config.json, keeping the line and column of the first error.
fn parse(path: &Path, text: &str) -> Result<Spec, BundleError> {
    serde_json::from_str(text).map_err(|err| {
        let (line, column) = (err.line(), err.column());
        // serde_json appends " at line L column C" to its message; we say where
        // in our own words.
        let message = err.to_string();
        let message = message
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&message)
            .to_owned();
        let path = path.to_owned();
        match err.classify() {
            Category::Data => BundleError::Schema {
                path,
                line,
                column,
                message,
            },
            Category::Io | Category::Syntax | Category::Eof => BundleError::Json {
                path,
                line,
                column,
                message,
            },
        }
    })
}

fn check_version(path: &Path, version: &str) -> Result<(), BundleError> {
    if version.is_empty() {
        return Err(BundleError::NoVersion(path.to_owned()));
    }
    if !is_supported_version(version) {
        return Err(BundleError::UnsupportedVersion {
            path: path.to_owned(),
            version: version.to_owned(),
        });
    }
    Ok(())
}

/// Whether cordon reads specs of runtime-spec `version`: 1.0, 1.1 or 1.2 with
/// any patch level and pre-release or build suffix ("1.0.2-dev").
fn is_supported_version(version: &str) -> bool {
    let mut parts = version.splitn(3, '.');
    let (Some(major), Some(minor), Some(patch)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let patch = patch.split(['-', '+']).next().unwrap_or_default();
    major == "1"
        && matches!(minor, "0" | "1" | "2")
        && !patch.is_empty()
        && patch.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A bundle directory under the system's temporary directory, removed when
    /// dropped.
    struct TempBundle {
        dir: PathBuf,
    }

    impl TempBundle {
        fn new() -> TempBundle {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "cordon-bundle-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir(&dir).expect("the temporary directory is writable");
            TempBundle { dir }
        }

        /// A path where a bundle directory was and is no more.
        fn gone() -> PathBuf {
            let bundle = TempBundle::new();
            bundle.dir.clone()
        }

        /// A bundle with a `rootfs` directory and this config.json.
        fn with_config(config: &str) -> TempBundle {
            let bundle = TempBundle::new();
            fs::create_dir(bundle.dir.join("rootfs")).expect("the bundle is writable");
            bundle.write_config(config);
            bundle
        }

        fn write_config(&self, config: &str) {
            fs::write(self.config(), config).expect("the bundle is writable");
        }

        fn config(&self) -> PathBuf {
            self.dir.join(CONFIG_FILE)
        }

        fn load_error(&self) -> String {
            load(&self.dir).expect_err("the bundle is invalid").to_string()
        }
    }

    impl Drop for TempBundle {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    const PROCESS: &str = r#""process": { "args": ["/bin/true"], "cwd": "/", "user": { "uid": 0, "gid": 0 } }"#;

    fn config_json(version: &str) -> String {
        format!(r#"{{ "ociVersion": "{version}", "root": {{ "path": "rootfs" }}, {PROCESS} }}"#)
    }

    #[test]
    fn valid_bundle_loads() {
        let bundle = TempBundle::with_config(&format!(
            r#"{{ "ociVersion": "1.2.0", "hostname": "box",
                 "root": {{ "path": "rootfs", "readonly": true }}, {PROCESS} }}"#
        ));
        let config = load(&bundle.dir).expect("the bundle is valid");
        assert_eq!(config.hostname, "box");
        assert!(config.root.readonly);
        assert_eq!(config.process.argv, ["/bin/true"]);
    }

    #[test]
    fn missing_bundle_names_the_directory() {
        let dir = TempBundle::gone();
        let err = load(&dir).expect_err("the directory was removed").to_string();
        assert_eq!(err, format!("bundle directory {} does not exist", dir.display()));
    }

    #[test]
    fn missing_config_names_the_file() {
        let bundle = TempBundle::new();
        assert_eq!(
            bundle.load_error(),
            format!(
                "{} does not exist; create one with `cordon spec`",
                bundle.config().display()
            )
        );
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let bundle = TempBundle::with_config("{\n  \"ociVersion\": \"1.2.0\",\n  oops\n}");
        assert_eq!(
            bundle.load_error(),
            format!(
                "{}: invalid JSON at line 3, column 3: key must be a string",
                bundle.config().display()
            )
        );
    }

    #[test]
    fn truncated_json_is_invalid() {
        let bundle = TempBundle::with_config("{ \"ociVersion\": ");
        assert!(bundle.load_error().contains(": invalid JSON at line 1, column"));
    }

    #[test]
    fn wrong_field_type_names_line_and_column() {
        let bundle = TempBundle::with_config("{\n\"ociVersion\": \"1.2.0\",\n\"hostname\": 7\n}");
        let err = bundle.load_error();
        assert!(
            err.contains(": not a valid OCI spec at line 3, column 13: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn unknown_rlimit_is_refused() {
        let bundle = TempBundle::with_config(
            r#"{ "ociVersion": "1.2.0", "root": { "path": "rootfs" },
                 "process": { "args": ["sh"], "cwd": "/", "user": {},
                              "rlimits": [{ "type": "RLIMIT_BOGUS", "soft": 1, "hard": 1 }] } }"#,
        );
        let err = bundle.load_error();
        assert!(err.contains("unknown variant `RLIMIT_BOGUS`"), "{err}");
    }

    #[test]
    fn unsupported_versions_are_named() {
        for version in ["2.0.0", "0.9"] {
            let bundle = TempBundle::with_config(&config_json(version));
            assert_eq!(
                bundle.load_error(),
                format!(
                    "{}: ociVersion \"{version}\" is not supported; \
                     cordon supports 1.0.x, 1.1.x and 1.2.x",
                    bundle.config().display()
                )
            );
        }
    }

    #[test]
    fn missing_version_is_refused() {
        let bundle = TempBundle::with_config(&format!(r#"{{ "root": {{ "path": "rootfs" }}, {PROCESS} }}"#));
        assert!(bundle.load_error().contains("ociVersion is not set"));
    }

    #[test]
    fn supported_versions() {
        for version in ["1.0.0", "1.0.2-dev", "1.1.0", "1.1.0-rc.1", "1.2.0", "1.2.1+build"] {
            assert!(is_supported_version(version), "{version}");
            let bundle = TempBundle::with_config(&config_json(version));
            load(&bundle.dir).unwrap_or_else(|err| panic!("{version}: {err}"));
        }
        for version in [
            "", "1", "1.0", "1.3.0", "2.0.0", "0.9", "0.9.0", "1.0.x", "1.0.0.0", "v1.0.0",
        ] {
            assert!(!is_supported_version(version), "{version}");
        }
    }

    #[test]
    fn missing_process_has_empty_args() {
        let bundle = TempBundle::with_config(r#"{ "ociVersion": "1.2.0", "root": { "path": "rootfs" } }"#);
        assert_eq!(
            bundle.load_error(),
            format!("{}: process.args is empty", bundle.config().display())
        );
    }

    #[test]
    fn empty_args_are_refused() {
        let bundle = TempBundle::with_config(
            r#"{ "ociVersion": "1.2.0", "root": { "path": "rootfs" },
                 "process": { "args": [], "cwd": "/", "user": {} } }"#,
        );
        assert!(bundle.load_error().ends_with("config.json: process.args is empty"));
    }

    #[test]
    fn missing_root_path_is_refused() {
        let bundle = TempBundle::with_config(&format!(r#"{{ "ociVersion": "1.2.0", {PROCESS} }}"#));
        assert!(
            bundle
                .load_error()
                .ends_with("config.json: root.path is not set; set it to the container's root directory")
        );
    }

    #[test]
    fn missing_root_names_the_path() {
        let bundle = TempBundle::with_config(&config_json("1.2.0"));
        fs::remove_dir(bundle.dir.join("rootfs")).expect("rootfs was created empty");
        assert_eq!(
            bundle.load_error(),
            format!(
                "root filesystem {} does not exist (root.path in {})",
                bundle.dir.join("rootfs").display(),
                bundle.config().display()
            )
        );
    }

    #[test]
    fn absolute_root_path_is_used_as_is() {
        let bundle = TempBundle::with_config(&format!(
            r#"{{ "ociVersion": "1.2.0", "root": {{ "path": "/" }}, {PROCESS} }}"#
        ));
        let config = load(&bundle.dir).expect("/ exists");
        assert!(!config.root.readonly);
    }

    #[test]
    fn default_config_is_written_once_and_loads() {
        let bundle = TempBundle::new();
        fs::create_dir(bundle.dir.join("rootfs")).expect("the bundle is writable");
        assert_eq!(
            write_default_config(&bundle.dir).expect("no config.json yet"),
            bundle.config()
        );
        let config = load(&bundle.dir).expect("the default config is valid");
        assert_eq!(config.process.argv, ["sh"]);
        assert_eq!(config.hostname, "cordon");

        let err = write_default_config(&bundle.dir).expect_err("config.json exists");
        assert_eq!(
            err.to_string(),
            format!(
                "{} already exists; remove it or choose another --bundle",
                bundle.config().display()
            )
        );
    }

    #[test]
    fn default_config_needs_the_bundle_directory() {
        let dir = TempBundle::gone();
        let err = write_default_config(&dir).expect_err("the directory was removed");
        assert!(matches!(err, BundleError::Missing(_)), "{err}");
    }
}
