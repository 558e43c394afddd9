//! Loading a program into a fresh address space: finding the executable in
//! the container's root, following `#!` lines and opening the ELF
//! interpreter of a dynamically linked program, mapping the ELF images and
//! building the initial stack (DESIGN.md §3.3).

mod elf;
mod stack;
#[cfg(test)]
mod testing;

use nix::errno::Errno;

pub use elf::LoadedImage;
pub use stack::{STACK_TOP, build_initial_stack};

use crate::abi::Credentials;
use crate::abi::credentials::ExecFileIds;
use crate::vfs::caller::Internal;
use crate::vfs::lookup::{Follow, Resolver};
use crate::vfs::{FileKind, Location, MAY_EXEC, check_access};

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

/// An executable opened in the container's filesystems.
pub struct Executable {
    pub file: ExecFile,
    /// Its absolute path inside the container (symlinks resolved), as
    /// /proc/self/exe shows it.
    pub path: String,
    /// The ELF interpreter its PT_INTERP names, opened by
    /// `resolve_interpreter` (which must run before `load`); `None` for a
    /// static program. An interpreter has none of its own.
    pub interpreter: Option<Box<Executable>>,
}

impl std::fmt::Debug for Executable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executable").field("path", &self.path).finish()
    }
}

/// The data of an executable, read through its inode with the
/// credentials it was opened with.
pub struct ExecFile {
    location: Location,
    reader: Internal,
}

impl ExecFile {
    /// Reads at most `buf.len()` bytes at `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        Ok(self.location.inode().read_at(&self.reader, buf, offset)?)
    }

    /// Reads exactly `buf.len()` bytes at `offset` (UnexpectedEof if the
    /// file is shorter).
    pub fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    /// The file's size in bytes.
    pub fn size(&self) -> std::io::Result<u64> {
        Ok(self.location.stat()?.st_size as u64)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What the file's set-id bits would lend an execve of it.
    pub fn ids(&self) -> Result<ExecFileIds, Errno> {
        let stat = self.location.stat()?;
        Ok(ExecFileIds {
            mode: stat.st_mode,
            uid: stat.st_uid,
            gid: stat.st_gid,
            nosuid: self.location.mount.flags.nosuid,
        })
    }
}

/// The search path runc uses when the spec's env has no PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds and opens the program `argv[0]` names: a path (relative to the
/// working directory) when it holds a slash, otherwise the first match in
/// `PATH` from `env`.
pub fn open_executable(resolver: &Resolver, argv: &[String], env: &[String]) -> Result<Executable, LoadError> {
    let name = argv.first().map(String::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(LoadError::NotFound { path: String::new() });
    }
    if name.contains('/') {
        return open_in_root(resolver, name);
    }
    let search = env
        .iter()
        .find_map(|var| var.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in search.split(':') {
        let path = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", dir.trim_end_matches('/'))
        };
        match open_in_root(resolver, &path) {
            Ok(exe) => return Ok(exe),
            Err(err @ LoadError::PermissionDenied { .. }) => denied = Some(err),
            Err(LoadError::NotFound { .. } | LoadError::Lookup { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Err(denied.unwrap_or(LoadError::NotFound { path: name.to_string() }))
}

/// Opens the file execve(2) names: `path` as given (relative to the
/// resolver's working directory), no PATH search.
pub fn open_for_exec(resolver: &Resolver, path: &str) -> Result<Executable, LoadError> {
    if path.is_empty() {
        return Err(LoadError::NotFound { path: String::new() });
    }
    open_in_root(resolver, path)
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
    resolver: &Resolver,
    mut exe: Executable,
    mut argv: Vec<String>,
) -> Result<(Executable, Vec<String>), LoadError> {
    for _ in 0..=MAX_INTERPRETERS {
        let mut head = [0u8; 256];
        let n = exe.file.read_at(&mut head, 0).map_err(|source| LoadError::Io {
            path: exe.path.clone(),
            source,
        })?;
        let Some(line) = head[..n].strip_prefix(b"#!") else {
            open_elf_interpreter(resolver, &mut exe)?;
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
        exe = open_for_exec(resolver, interpreter)?;
    }
    Err(LoadError::ExecFormat {
        path: exe.path,
        why: "too many levels of #! interpreters".into(),
    })
}

/// Opens the ELF interpreter `exe`'s PT_INTERP names (relative to the
/// working directory if relative, as Linux's open_exec() does) into
/// `exe.interpreter`, after the checks load_elf_binary() makes before the
/// point of no return: an interpreter that cannot be opened fails with its
/// open error (ENOENT when missing), one that is not an x86-64 ELF image with
/// ELIBBAD, one that asks for an interpreter itself with ENOEXEC. A file that
/// is not ELF at all is left for `load` to refuse.
fn open_elf_interpreter(resolver: &Resolver, exe: &mut Executable) -> Result<(), LoadError> {
    let Ok(headers) = elf::read_headers(exe) else {
        return Ok(());
    };
    let Some(path) = headers.interpreter_path(exe)? else {
        return Ok(());
    };
    let interpreter = open_for_exec(resolver, &path).map_err(|source| LoadError::Interpreter {
        path: exe.path.clone(),
        source: Box::new(source),
    })?;
    elf::check_interpreter(exe, &interpreter)?;
    exe.interpreter = Some(Box::new(interpreter));
    Ok(())
}

/// Opens `path` through the VFS: symlinks and `..` resolve inside the
/// container's root. Only a regular file the caller may execute, on a mount
/// without noexec, can run.
fn open_in_root(resolver: &Resolver, path: &str) -> Result<Executable, LoadError> {
    let location = resolver
        .resolve(path.as_bytes(), Follow::Always)
        .map_err(|errno| match errno {
            Errno::ENOENT => LoadError::NotFound { path: path.to_string() },
            Errno::EACCES => LoadError::PermissionDenied { path: path.to_string() },
            errno => LoadError::Lookup {
                path: path.to_string(),
                errno,
            },
        })?;
    let st = location.stat().map_err(|errno| LoadError::Lookup {
        path: path.to_string(),
        errno,
    })?;
    let runnable = FileKind::from_mode(st.st_mode) == FileKind::Regular
        && !location.mount.flags.noexec
        && check_access(&st, resolver.credentials(), MAY_EXEC).is_ok();
    if !runnable {
        return Err(LoadError::PermissionDenied { path: path.to_string() });
    }
    let path = String::from_utf8_lossy(&location.path_from(&resolver.root)).into_owned();
    Ok(Executable {
        file: ExecFile {
            location,
            reader: Internal::new(resolver.credentials().clone(), resolver.root.clone()),
        },
        path,
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
    mm: &mut crate::mm::MemoryManager,
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
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use super::testing::overlay_namespace;
    use super::*;
    use crate::memory::MemoryFile;
    use crate::task::loader::testing::{SyntheticElf, scratch_dir};
    use crate::vfs::MountNamespace;
    use crate::vfs::caller::Internal;

    fn root_with(files: &[(&str, u32)]) -> (std::path::PathBuf, MountNamespace) {
        let dir = std::env::temp_dir().join(format!("cordon-loader-{}-{}", std::process::id(), files.len()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for (name, mode) in files {
            let path = dir.join(name);
            std::fs::write(&path, b"\x7fELF").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        std::os::unix::fs::symlink("/etc/shadow", dir.join("bin/escape")).unwrap();
        (dir.clone(), namespace_at(&dir))
    }

    /// The memory overlay over `dir`, as a container's root.
    fn namespace_at(dir: &std::path::Path) -> MountNamespace {
        let fd: std::os::fd::OwnedFd = std::fs::File::open(dir).unwrap().into();
        let memory = Arc::new(MemoryFile::new().unwrap());
        overlay_namespace(&memory, &fd).unwrap()
    }

    /// Resolves `/bin/prog` in `dir` as execve(2) would from `cwd`.
    fn resolve(dir: &std::path::Path, cwd: &str) -> Result<Executable, LoadError> {
        let mounts = namespace_at(dir);
        let caller = Internal::new(Credentials::default(), mounts.root());
        let resolver = caller.resolver(mounts.root().clone());
        let resolver = Resolver {
            cwd: resolver.resolve(cwd.as_bytes(), Follow::Always).unwrap(),
            ..resolver
        };
        let exe = open_for_exec(&resolver, "/bin/prog")?;
        resolve_interpreter(&resolver, exe, argv("/bin/prog")).map(|(exe, _)| exe)
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
        let mounts = namespace_at(&dir);
        let caller = Internal::new(Credentials::default(), mounts.root());
        let resolver = caller.resolver(mounts.root());
        let exe = open_for_exec(&resolver, "/bin/prog").unwrap();
        let (exe, argv) = resolve_interpreter(&resolver, exe, argv("/bin/prog")).unwrap();
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
        let (dir, mounts) = root_with(&[("bin/prog", 0o755), ("bin/data", 0o644)]);
        let caller = Internal::new(Credentials::default(), mounts.root());
        let resolver = caller.resolver(mounts.root());
        let env = vec!["PATH=/usr/bin:/bin".to_string()];
        assert_eq!(
            open_executable(&resolver, &argv("prog"), &env).unwrap().path,
            "/bin/prog"
        );
        assert_eq!(
            open_executable(&resolver, &argv("prog"), &[]).unwrap().path,
            "/bin/prog"
        );
        let in_bin = Resolver {
            root: mounts.root(),
            cwd: resolver.resolve(b"/bin", Follow::Always).unwrap(),
            caller: &caller,
        };
        assert_eq!(
            open_executable(&in_bin, &argv("../bin/prog"), &env).unwrap().path,
            "/bin/prog"
        );
        assert!(matches!(
            open_executable(&resolver, &argv("nosuch"), &env),
            Err(LoadError::NotFound { .. })
        ));
        assert!(matches!(
            open_executable(&resolver, &argv("/bin/data"), &env),
            Err(LoadError::PermissionDenied { .. })
        ));
        // An absolute symlink resolves inside the root, where it leads nowhere.
        assert!(matches!(
            open_executable(&resolver, &argv("/bin/escape"), &env),
            Err(LoadError::NotFound { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
