//! Loading a program into a fresh address space: finding the executable in
//! the container's root, following `#!` lines and opening the ELF
//! interpreter of a dynamically linked program, mapping the ELF images and
//! building the initial stack (DESIGN.md §3.3).

mod elf;
mod stack;
#[cfg(test)]
mod testing;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

use nix::errno::Errno;

pub use elf::LoadedImage;
pub use stack::{STACK_TOP, build_initial_stack};

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
    /// The ELF interpreter of a dynamically linked program could not be
    /// opened or read; execve(2) fails with that error.
    #[error("{path:?}: ELF interpreter {source}")]
    Interpreter {
        path: String,
        #[source]
        source: Box<LoadError>,
    },
    /// The ELF interpreter is not an x86-64 ELF image that can be loaded.
    #[error("{path:?}: bad ELF interpreter {interpreter:?}: {why}")]
    BadInterpreter {
        path: String,
        interpreter: String,
        why: String,
    },
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
            LoadError::Interpreter { source, .. } => source.errno(),
            LoadError::BadInterpreter { .. } => Errno::ELIBBAD,
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
    /// The ELF interpreter its PT_INTERP names, opened by
    /// `resolve_interpreter` (which must run before `load`); `None` for a
    /// static program. An interpreter has none of its own.
    pub interpreter: Option<Box<Executable>>,
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

/// Resolves what actually runs for `exe`: follows `#!` lines (while the
/// file is a script, its interpreter runs instead, with argv `[interpreter,
/// optional argument, script, argv[1..]]`), then opens the ELF interpreter
/// of a dynamically linked program.
///
/// Every interpreter is opened here, before execve(2) changes anything, so
/// a missing or malformed one fails the call as on Linux.
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
            open_elf_interpreter(root, &mut exe, cwd)?;
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

/// Opens the ELF interpreter `exe`'s PT_INTERP names (relative to `cwd` if
/// relative, as Linux's open_exec() does) into `exe.interpreter`, after the
/// checks load_elf_binary() makes before the point of no return: an
/// interpreter that cannot be opened fails with its open error (ENOENT when
/// missing), one that is not an x86-64 ELF image with ELIBBAD, one that asks
/// for an interpreter itself with ENOEXEC. A file that is not ELF at all is
/// left for `load` to refuse.
fn open_elf_interpreter(root: &RootFs, exe: &mut Executable, cwd: &str) -> Result<(), LoadError> {
    let Ok(headers) = elf::read_headers(exe) else {
        return Ok(());
    };
    let Some(path) = headers.interpreter_path(exe)? else {
        return Ok(());
    };
    let interpreter = open_for_exec(root, &path, cwd).map_err(|source| LoadError::Interpreter {
        path: exe.path.clone(),
        source: Box::new(source),
    })?;
    elf::check_interpreter(exe, &interpreter)?;
    exe.interpreter = Some(Box::new(interpreter));
    Ok(())
}

/// Opens `path` beneath the container's root: symlinks and `..` resolve as
/// if the root were `/`, and magic links are refused. Every file the loader
/// opens (programs, `#!` and ELF interpreters) is opened here.
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
        interpreter: None,
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

/// Loads `exe` (and its ELF interpreter) into `mm`, which must be empty,
/// and builds its stack. `exe` must have gone through
/// `resolve_interpreter`.
pub fn load(
    mm: &mut crate::memory::MemoryManager,
    space: &dyn crate::platform::AddressSpace,
    exe: &Executable,
    args: &ExecArgs,
) -> Result<Entry, LoadError> {
    // The interpreter goes in the mmap area, so its base comes first.
    mm.set_mmap_base(stack::mmap_base(args.stack_limit));
    let image = elf::load_image(mm, space, exe)?;
    let rsp = build_initial_stack(mm, space, &image, exe, args)?;
    Ok(Entry { rip: image.start, rsp })
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::loader::testing::{SyntheticElf, scratch_dir};

    fn root_with(files: &[(&str, u32)]) -> (std::path::PathBuf, RootFs) {
        let dir = std::env::temp_dir().join(format!("cordon-loader-{}-{}", std::process::id(), files.len()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for (name, mode) in files {
            let path = dir.join(name);
            std::fs::write(&path, b"\x7fELF").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        std::os::unix::fs::symlink("/etc/shadow", dir.join("bin/escape")).unwrap();
        (dir.clone(), root_at(&dir))
    }

    fn root_at(dir: &std::path::Path) -> RootFs {
        let fd: OwnedFd = File::open(dir).unwrap().into();
        RootFs {
            dir: fd,
            readonly: true,
        }
    }

    /// Resolves `/bin/prog` in `dir` as execve(2) would from `cwd`.
    fn resolve(dir: &std::path::Path, cwd: &str) -> Result<Executable, LoadError> {
        let root = root_at(dir);
        let exe = open_for_exec(&root, "/bin/prog", cwd)?;
        resolve_interpreter(&root, exe, argv("/bin/prog"), cwd).map(|(exe, _)| exe)
    }

    #[test]
    fn a_dynamic_program_gets_its_interpreter_opened() {
        let dir = scratch_dir("interp-found");
        SyntheticElf::pie(Some("/lib/ld.so")).write(&dir.join("bin/prog"));
        SyntheticElf::pie(None).write(&dir.join("lib/ld.so"));
        let exe = resolve(&dir, "/").unwrap();
        assert_eq!(exe.interpreter.expect("an interpreter").path, "/lib/ld.so");

        // A relative PT_INTERP is looked up from the working directory.
        SyntheticElf::pie(Some("ld.so")).write(&dir.join("bin/prog"));
        let exe = resolve(&dir, "/lib").unwrap();
        assert_eq!(exe.interpreter.expect("an interpreter").path, "/lib/ld.so");

        // A static program has none.
        SyntheticElf::pie(None).write(&dir.join("bin/prog"));
        assert!(resolve(&dir, "/").unwrap().interpreter.is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_script_run_by_a_dynamic_program_gets_that_programs_interpreter() {
        let dir = scratch_dir("interp-script");
        SyntheticElf::pie(Some("/lib/ld.so")).write(&dir.join("bin/sh"));
        SyntheticElf::pie(None).write(&dir.join("lib/ld.so"));
        std::fs::write(dir.join("bin/prog"), "#!/bin/sh -e\nexit 3\n").unwrap();
        std::fs::set_permissions(dir.join("bin/prog"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = root_at(&dir);
        let exe = open_for_exec(&root, "/bin/prog", "/").unwrap();
        let (exe, argv) = resolve_interpreter(&root, exe, argv("/bin/prog"), "/").unwrap();
        assert_eq!(exe.path, "/bin/sh");
        assert_eq!(argv, ["/bin/sh", "-e", "/bin/prog"]);
        assert_eq!(exe.interpreter.expect("an interpreter").path, "/lib/ld.so");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn interpreter_failures_are_the_errnos_linux_gives() {
        let dir = scratch_dir("interp-errors");
        SyntheticElf::pie(Some("/lib/ld.so")).write(&dir.join("bin/prog"));
        let interp = dir.join("lib/ld.so");
        let failure = |why: &str| {
            let err = resolve(&dir, "/").expect_err(why);
            assert!(err.to_string().contains("/lib/ld.so"), "{why}: {err}");
            err.errno()
        };

        assert_eq!(failure("missing"), Errno::ENOENT);

        std::fs::write(
            &interp,
            "not an ELF file, but long enough to hold an ELF header: 64 bytes",
        )
        .unwrap();
        std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(failure("not ELF"), Errno::ELIBBAD);

        std::fs::write(&interp, "\x7fELF").unwrap();
        assert_eq!(failure("shorter than a header"), Errno::EIO);

        let mut other_machine = SyntheticElf::pie(None);
        other_machine.machine = goblin::elf::header::EM_AARCH64;
        other_machine.write(&interp);
        assert_eq!(failure("another machine"), Errno::ELIBBAD);

        SyntheticElf::pie(Some("/lib/ld.so")).write(&interp);
        assert_eq!(failure("an interpreter itself"), Errno::ENOEXEC);

        SyntheticElf::pie(None).write(&interp);
        std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(failure("not executable"), Errno::EACCES);

        // PT_INTERP must hold a NUL-terminated path.
        std::fs::set_permissions(&interp, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut bytes = SyntheticElf::pie(Some("/lib/ld.so")).bytes();
        let at = bytes
            .windows(11)
            .position(|w| w == b"/lib/ld.so\0")
            .expect("the PT_INTERP path");
        bytes[at + 10] = b'x';
        std::fs::write(dir.join("bin/prog"), bytes).unwrap();
        assert_eq!(resolve(&dir, "/").unwrap_err().errno(), Errno::ENOEXEC);
        std::fs::remove_dir_all(dir).unwrap();
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
