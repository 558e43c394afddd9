//! Loading a program into a fresh address space: finding the executable in
//! the container's root, mapping its ELF image and building the initial
//! stack (DESIGN.md §3.3).

mod elf;
mod stack;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

use nix::errno::Errno;

pub use elf::LoadedImage;
pub use stack::{STACK_TOP, StackInfo, build_initial_stack};

use crate::kernel::{Credentials, RootFs};

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path:?}: not found in the container's root")]
    NotFound { path: String },
    #[error("{path:?}: {}", errno.desc())]
    Lookup { path: String, errno: Errno },
    #[error("{path:?}: permission denied (not an executable regular file)")]
    PermissionDenied { path: String },
    #[error("{path:?}: exec format error: {why}")]
    ExecFormat { path: String, why: String },
    #[error("{path:?}: argument list too long")]
    TooBig { path: String },
    #[error("{path:?}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path:?}: cannot set up memory: {errno}")]
    Memory { path: String, errno: Errno },
}

impl LoadError {
    /// The errno execve(2) reports for this failure.
    pub fn errno(&self) -> Errno {
        match self {
            LoadError::NotFound { .. } => Errno::ENOENT,
            LoadError::Lookup { errno, .. } => *errno,
            LoadError::PermissionDenied { .. } => Errno::EACCES,
            LoadError::ExecFormat { .. } => Errno::ENOEXEC,
            LoadError::TooBig { .. } => Errno::E2BIG,
            LoadError::Io { .. } => Errno::EIO,
            LoadError::Memory { errno, .. } => *errno,
        }
    }
}

/// An executable opened in the container's root.
#[derive(Debug)]
pub struct Executable {
    pub file: File,
    /// Its absolute path inside the container.
    pub path: String,
}

/// The search path runc uses when the spec's env has no PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds and opens the program `argv[0]` names: a path (relative to `cwd`)
/// when it holds a slash, otherwise the first match in `PATH` from `env`.
pub fn open_executable(root: &RootFs, argv: &[String], env: &[String], cwd: &str) -> Result<Executable, LoadError> {
    let name = argv.first().map(String::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(LoadError::NotFound { path: String::new() });
    }
    if name.contains('/') {
        let path = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("{}/{name}", cwd.trim_end_matches('/'))
        };
        return open_in_root(root, &path);
    }
    let search = env
        .iter()
        .find_map(|var| var.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in search.split(':') {
        let dir = if dir.is_empty() { cwd } else { dir };
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        match open_in_root(root, &path) {
            Ok(exe) => return Ok(exe),
            Err(err @ LoadError::PermissionDenied { .. }) => denied = Some(err),
            Err(LoadError::NotFound { .. } | LoadError::Lookup { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Err(denied.unwrap_or(LoadError::NotFound { path: name.to_string() }))
}

/// Opens the file execve(2) names: `path` as given (relative to `cwd`), no
/// PATH search.
pub fn open_for_exec(root: &RootFs, path: &str, cwd: &str) -> Result<Executable, LoadError> {
    if path.is_empty() {
        return Err(LoadError::NotFound { path: String::new() });
    }
    let absolute = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", cwd.trim_end_matches('/'))
    };
    open_in_root(root, &absolute)
}

/// How many `#!` interpreters may chain (Linux's BINPRM_MAX_RECURSION).
const MAX_INTERPRETERS: usize = 4;

/// Follows `#!` lines: while the file is a script, its interpreter runs
/// instead, with argv `[interpreter, optional argument, script, argv[1..]]`.
pub fn resolve_interpreter(
    root: &RootFs,
    mut exe: Executable,
    mut argv: Vec<String>,
    cwd: &str,
) -> Result<(Executable, Vec<String>), LoadError> {
    for _ in 0..=MAX_INTERPRETERS {
        let mut head = [0u8; 256];
        let n = std::os::unix::fs::FileExt::read_at(&exe.file, &mut head, 0).map_err(|source| LoadError::Io {
            path: exe.path.clone(),
            source,
        })?;
        let Some(line) = head[..n].strip_prefix(b"#!") else {
            return Ok((exe, argv));
        };
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let line = line.trim_matches([' ', '\t', '\r']);
        let (interpreter, argument) = match line.split_once([' ', '\t']) {
            Some((interpreter, rest)) => (interpreter, Some(rest.trim_matches([' ', '\t']))),
            None => (line, None),
        };
        if interpreter.is_empty() {
            return Err(LoadError::ExecFormat {
                path: exe.path,
                why: "empty #! line".into(),
            });
        }
        let mut script_argv = vec![interpreter.to_string()];
        script_argv.extend(argument.filter(|a| !a.is_empty()).map(str::to_string));
        script_argv.push(exe.path.clone());
        script_argv.extend(argv.into_iter().skip(1));
        argv = script_argv;
        exe = open_for_exec(root, interpreter, cwd)?;
    }
    Err(LoadError::ExecFormat {
        path: exe.path,
        why: "too many levels of #! interpreters".into(),
    })
}

/// Opens `path` beneath the container's root: symlinks and `..` resolve as
/// if the root were `/`, and magic links are refused.
fn open_in_root(root: &RootFs, path: &str) -> Result<Executable, LoadError> {
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let c_path = std::ffi::CString::new(relative).map_err(|_| LoadError::NotFound { path: path.to_string() })?;
    // SAFETY: open_how is plain integers; zero is a valid start.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads the path and the open_how struct, both valid
    // for the call; the returned fd is owned below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.dir.as_raw_fd(),
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(match Errno::last() {
            Errno::ENOENT => LoadError::NotFound { path: path.to_string() },
            errno @ (Errno::ENOTDIR | Errno::ELOOP | Errno::ENAMETOOLONG) => LoadError::Lookup {
                path: path.to_string(),
                errno,
            },
            Errno::EACCES => LoadError::PermissionDenied { path: path.to_string() },
            errno => LoadError::Io {
                path: path.to_string(),
                source: errno.into(),
            },
        });
    }
    // SAFETY: fd was just returned by openat2 and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd as i32) };
    let meta = file.metadata().map_err(|source| LoadError::Io {
        path: path.to_string(),
        source,
    })?;
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(LoadError::PermissionDenied { path: path.to_string() });
    }
    Ok(Executable {
        file,
        path: path.to_string(),
    })
}

/// What the loader leaves for the task: where to start and the stack.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub rip: u64,
    pub rsp: u64,
}

/// Everything the initial stack needs besides the image.
pub struct ExecArgs<'a> {
    pub argv: &'a [String],
    pub env: &'a [String],
    pub credentials: &'a Credentials,
    /// RLIMIT_STACK, which bounds the stack and the argument strings.
    pub stack_limit: u64,
}

/// Loads `exe` into `mm` (which must be empty) and builds its stack.
pub fn load(
    mm: &mut crate::memory::MemoryManager,
    space: &dyn crate::platform::AddressSpace,
    exe: &Executable,
    args: &ExecArgs,
) -> Result<Entry, LoadError> {
    let image = elf::load_image(mm, space, exe)?;
    let stack = build_initial_stack(mm, space, &image, exe, args)?;
    mm.set_mmap_base(stack.mmap_base);
    Ok(Entry {
        rip: image.entry,
        rsp: stack.rsp,
    })
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use super::*;

    fn root_with(files: &[(&str, u32)]) -> (std::path::PathBuf, RootFs) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cordon-loader-{}-{}", std::process::id(), files.len()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for (name, mode) in files {
            let path = dir.join(name);
            std::fs::write(&path, b"\x7fELF").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        std::os::unix::fs::symlink("/etc/shadow", dir.join("bin/escape")).unwrap();
        let fd: OwnedFd = File::open(&dir).unwrap().into();
        (
            dir.clone(),
            RootFs {
                dir: fd,
                readonly: true,
            },
        )
    }

    fn argv(name: &str) -> Vec<String> {
        vec![name.to_string()]
    }

    #[test]
    fn finds_programs_in_path_and_by_path() {
        let (dir, root) = root_with(&[("bin/prog", 0o755), ("bin/data", 0o644)]);
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        assert_eq!(
            open_executable(&root, &argv("prog"), &env, "/").unwrap().path,
            "/bin/prog"
        );
        assert_eq!(
            open_executable(&root, &argv("prog"), &[], "/").unwrap().path,
            "/bin/prog"
        );
        assert_eq!(
            open_executable(&root, &argv("../bin/prog"), &env, "/bin").unwrap().path,
            "/bin/../bin/prog"
        );
        assert!(matches!(
            open_executable(&root, &argv("nosuch"), &env, "/"),
            Err(LoadError::NotFound { .. })
        ));
        assert!(matches!(
            open_executable(&root, &argv("/bin/data"), &env, "/"),
            Err(LoadError::PermissionDenied { .. })
        ));
        // An absolute symlink resolves inside the root, where it leads nowhere.
        assert!(matches!(
            open_executable(&root, &argv("/bin/escape"), &env, "/"),
            Err(LoadError::NotFound { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
