//! Fixtures shared by the end-to-end tests: C programs compiled on demand,
//! throw-away OCI bundles, and a way to run `cordon` under a child subreaper
//! with a deadline.
//!
//! Everything built lives under `$CARGO_TARGET_TMPDIR/cordon-tests-<pid>/`,
//! one directory per test binary run; directories left by earlier runs whose
//! process is gone are removed on first use. Each C program is compiled once
//! per test binary and toolchain (cached in a `OnceLock`).
//!
//! Every command goes through `reaper` (tests/fixtures/reaper.c): it adopts
//! whatever cordon leaves behind, so an `Outcome` knows how many processes
//! outlived the run, and kills them so one bad test cannot leak into the next.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// How long one cordon run may take before it is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The host's static busybox (Debian package busybox-static).
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// The busybox applets every busybox bundle gets as symlinks in rootfs/bin.
pub const BUSYBOX_APPLETS: &[&str] = &["sh", "echo", "uname", "id", "env", "sleep", "true"];

/// The ELF interpreter of musl's dynamically linked programs: musl's libc
/// itself (Debian package musl, which musl-tools pulls in).
pub const MUSL_INTERPRETER: &str = "/lib/ld-musl-x86_64.so.1";

/// The hostname `Spec::new` puts in config.json.
pub const TEST_HOSTNAME: &str = "testhost";

/// The cordon binary under test.
pub fn cordon_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cordon"))
}

/// This test binary's scratch directory, created (and stale siblings removed)
/// on first use.
pub fn run_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_run_dirs(base);
        let dir = base.join(format!("cordon-tests-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
}

/// Removes `cordon-tests-<pid>` directories whose process no longer exists.
fn remove_stale_run_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cordon-tests-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// How a fixture program is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Toolchain {
    /// `gcc -static -O2`: glibc, fixed load address.
    GlibcStatic,
    /// `musl-gcc -static -O2`.
    MuslStatic,
    /// `gcc -static-pie -O2`: glibc, relocates itself.
    StaticPie,
    /// `musl-gcc -no-pie -O2`: dynamically linked, at a fixed load address;
    /// its ELF interpreter is musl's libc, `MUSL_INTERPRETER`.
    MuslDynamic,
    /// `musl-gcc -pie -O2`: dynamically linked and position-independent.
    MuslDynamicPie,
    /// `gcc -O2`: for helpers that run on the host, not in the sandbox.
    Native,
}

impl Toolchain {
    fn compiler(self) -> &'static str {
        match self {
            Toolchain::MuslStatic | Toolchain::MuslDynamic | Toolchain::MuslDynamicPie => "musl-gcc",
            Toolchain::GlibcStatic | Toolchain::StaticPie | Toolchain::Native => "gcc",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Toolchain::GlibcStatic | Toolchain::MuslStatic => &["-static", "-O2", "-Wall"],
            Toolchain::StaticPie => &["-static-pie", "-O2", "-Wall"],
            Toolchain::MuslDynamic => &["-no-pie", "-O2", "-Wall"],
            Toolchain::MuslDynamicPie => &["-pie", "-O2", "-Wall"],
            Toolchain::Native => &["-O2", "-Wall"],
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Toolchain::GlibcStatic => "glibc-static",
            Toolchain::MuslStatic => "musl-static",
            Toolchain::StaticPie => "static-pie",
            Toolchain::MuslDynamic => "musl-dynamic",
            Toolchain::MuslDynamicPie => "musl-dynamic-pie",
            Toolchain::Native => "native",
        }
    }
}

/// Sets mode 0755 on `path`.
pub fn make_executable(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// The source of a fixture program: `tests/fixtures/<name>.c`.
pub fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.c"))
}

/// Compiles `tests/fixtures/<name>.c` with `toolchain` (once per test binary)
/// and returns the executable's path. Panics with the compiler's output, or
/// with what to install when the compiler is missing.
pub fn compile(name: &str, toolchain: Toolchain) -> PathBuf {
    type Cache = Mutex<HashMap<(String, Toolchain), Arc<OnceLock<PathBuf>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let slot = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry((name.to_owned(), toolchain))
        .or_default()
        .clone();
    // Compiling outside the map's lock lets different programs build in parallel.
    slot.get_or_init(|| build(name, toolchain)).clone()
}

fn build(name: &str, toolchain: Toolchain) -> PathBuf {
    let source = fixture_source(name);
    assert!(source.is_file(), "fixture source {} is missing", source.display());
    let out_dir = run_dir().join("bin");
    fs::create_dir_all(&out_dir).expect("create the fixture bin directory");
    let out = out_dir.join(format!("{name}-{}", toolchain.suffix()));
    let tmp = out.with_extension("partial");
    let compiler = toolchain.compiler();
    let output = Command::new(compiler)
        .args(toolchain.flags())
        .arg("-o")
        .arg(&tmp)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| match e.kind() {
            ErrorKind::NotFound => panic!(
                "{compiler} not found: install gcc, musl-tools and busybox-static \
                 (.ci/run installs them)"
            ),
            _ => panic!("cannot run {compiler}: {e}"),
        });
    assert!(
        output.status.success(),
        "{compiler} {} failed ({}):\n{}",
        source.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    fs::rename(&tmp, &out).expect("move the compiled fixture into place");
    out
}

/// The `reaper` helper, compiled natively.
pub fn reaper() -> PathBuf {
    compile("reaper", Toolchain::Native)
}

/// The host's busybox, after checking it exists and is statically linked.
pub fn host_busybox() -> &'static Path {
    static CHECKED: OnceLock<()> = OnceLock::new();
    let path = Path::new(HOST_BUSYBOX);
    CHECKED.get_or_init(|| {
        let bytes = fs::read(path)
            .unwrap_or_else(|e| panic!("{HOST_BUSYBOX}: {e}: install busybox-static (.ci/run installs it)"));
        assert!(
            interpreter_of(&bytes).is_none(),
            "{HOST_BUSYBOX} is dynamically linked: install busybox-static instead of busybox"
        );
    });
    path
}

/// The ELF interpreter a 64-bit little-endian ELF image names in its
/// PT_INTERP program header, if it has one.
pub fn interpreter_of(elf: &[u8]) -> Option<String> {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().expect("8 bytes"));
    assert!(
        elf.len() >= 64 && elf.starts_with(b"\x7fELF") && elf[4] == 2 && elf[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let phoff = usize::try_from(u64_at(0x20)).expect("e_phoff fits usize");
    let phentsize = usize::from(u16_at(0x36));
    let phnum = usize::from(u16_at(0x38));
    (0..phnum).find_map(|i| {
        let at = phoff + i * phentsize;
        if at + 0x28 > elf.len() || u32_at(at) != PT_INTERP {
            return None;
        }
        let offset = usize::try_from(u64_at(at + 8)).expect("p_offset fits usize");
        let size = usize::try_from(u64_at(at + 0x20)).expect("p_filesz fits usize");
        let path = elf.get(offset..offset + size).expect("PT_INTERP inside the file");
        let path = path.split(|&b| b == 0).next().unwrap_or_default();
        Some(String::from_utf8(path.to_vec()).expect("a UTF-8 interpreter path"))
    })
}

/// The `process` and top-level fields of a test config.json.
#[derive(Debug, Clone)]
pub struct Spec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    /// Mounts after the runc defaults, as config.json entries.
    pub extra_mounts: Vec<Value>,
    /// `process.terminal`.
    pub terminal: bool,
    /// `process.capabilities`, as written; none by default (the process
    /// keeps what its uid gets).
    pub capabilities: Option<Value>,
    /// `process.noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `linux.seccomp`, as written.
    pub seccomp: Option<Value>,
}

impl Spec {
    /// A spec running `args` as root with `PATH=/bin:/usr/bin` and hostname
    /// `TEST_HOSTNAME`.
    pub fn new(args: &[&str]) -> Spec {
        Spec {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec!["PATH=/bin:/usr/bin".to_owned()],
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            hostname: TEST_HOSTNAME.to_owned(),
            extra_mounts: Vec::new(),
            terminal: false,
            capabilities: None,
            no_new_privileges: false,
            seccomp: None,
        }
    }

    /// `process.capabilities`: `sets` maps set names ("bounding",
    /// "ambient") to lists of capability names.
    pub fn capabilities(mut self, sets: Value) -> Spec {
        self.capabilities = Some(sets);
        self
    }

    /// `linux.seccomp`: a profile as podman or containerd would pass it.
    pub fn seccomp(mut self, profile: Value) -> Spec {
        self.seccomp = Some(profile);
        self
    }

    pub fn no_new_privileges(mut self) -> Spec {
        self.no_new_privileges = true;
        self
    }

    /// The process gets a terminal (`process.terminal: true`).
    pub fn terminal(mut self) -> Spec {
        self.terminal = true;
        self
    }

    pub fn env(mut self, env: &[&str]) -> Spec {
        self.env = env.iter().map(|e| e.to_string()).collect();
        self
    }

    pub fn user(mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> Spec {
        self.uid = uid;
        self.gid = gid;
        self.additional_gids = additional_gids.to_vec();
        self
    }

    /// Adds a tmpfs at `destination` with the given mount options
    /// (`"size=64k"`, `"mode=1777"`), after the default mounts.
    pub fn tmpfs(mut self, destination: &str, options: &[&str]) -> Spec {
        self.extra_mounts.push(json!({
            "destination": destination,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": options,
        }));
        self
    }

    /// The config.json document, for tests that want to break it.
    pub fn to_json(&self) -> Value {
        let mut config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": self.terminal,
                "user": {
                    "uid": self.uid,
                    "gid": self.gid,
                    "additionalGids": self.additional_gids,
                },
                "args": self.args,
                "env": self.env,
                "cwd": "/",
            },
            "root": { "path": "rootfs", "readonly": true },
            "hostname": self.hostname,
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                  "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
                { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                  "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                  "options": ["nosuid", "noexec", "nodev"] },
                { "destination": "/sys", "type": "sysfs", "source": "sysfs",
                  "options": ["nosuid", "noexec", "nodev", "ro"] },
            ],
        });
        if let Some(capabilities) = &self.capabilities {
            config["process"]["capabilities"] = capabilities.clone();
        }
        config["process"]["noNewPrivileges"] = json!(self.no_new_privileges);
        if let Some(profile) = &self.seccomp {
            config["linux"] = json!({ "seccomp": profile });
        }
        let mounts = config["mounts"].as_array_mut().expect("mounts is an array");
        mounts.extend(self.extra_mounts.iter().cloned());
        config
    }
}

/// A bundle directory (`config.json` + `rootfs/bin/`) owned by one test and
/// removed when dropped.
pub struct Bundle {
    dir: PathBuf,
    id: String,
}

impl Bundle {
    /// An empty bundle: `rootfs/bin/` exists, config.json does not.
    pub fn new(test: &str) -> Bundle {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = run_dir().join("bundles").join(format!("{test}-{n}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rootfs/bin"))
            .unwrap_or_else(|e| panic!("cannot create bundle {}: {e}", dir.display()));
        let id = format!("{test}-{}-{n}", std::process::id());
        Bundle { dir, id }
    }

    /// A bundle with `rootfs/bin/<program>` compiled with `toolchain` and a
    /// config.json from `spec`.
    pub fn with_program(test: &str, program: &str, toolchain: Toolchain, spec: &Spec) -> Bundle {
        let bundle = Bundle::new(test);
        bundle.install_program(program, toolchain);
        bundle.write_spec(spec);
        bundle
    }

    /// A bundle with busybox and its applet symlinks, and a config.json from
    /// `spec`.
    pub fn with_busybox(test: &str, spec: &Spec) -> Bundle {
        let bundle = Bundle::new(test);
        bundle.install_busybox();
        bundle.write_spec(spec);
        bundle
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A container id unique to this bundle.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Copies `file` to `rootfs/bin/<name>`.
    pub fn install(&self, name: &str, file: &Path) {
        let dest = self.rootfs().join("bin").join(name);
        fs::copy(file, &dest).unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", file.display(), dest.display()));
    }

    /// Compiles `tests/fixtures/<program>.c` and installs it as
    /// `rootfs/bin/<program>`, with the host's copy of its ELF interpreter
    /// when it is dynamically linked.
    pub fn install_program(&self, program: &str, toolchain: Toolchain) {
        let binary = compile(program, toolchain);
        self.install(program, &binary);
        let bytes = fs::read(&binary).unwrap_or_else(|e| panic!("cannot read {}: {e}", binary.display()));
        if let Some(interpreter) = interpreter_of(&bytes) {
            self.install_interpreter(&interpreter);
        }
    }

    /// Copies the host's file at the absolute `path` (through symlinks) to
    /// the same path in the rootfs, mode 0755: an ELF interpreter.
    pub fn install_interpreter(&self, path: &str) {
        let dest = self.rootfs().join(path.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().expect("an absolute path has a parent"))
            .unwrap_or_else(|e| panic!("cannot create the directory of {}: {e}", dest.display()));
        fs::copy(path, &dest).unwrap_or_else(|e| {
            panic!(
                "cannot copy the ELF interpreter {path} to {}: {e} (musl-tools installs musl's)",
                dest.display()
            )
        });
        make_executable(&dest);
    }

    /// Installs the host's static busybox as `rootfs/bin/busybox`, with
    /// relative symlinks for `BUSYBOX_APPLETS`.
    pub fn install_busybox(&self) {
        self.install("busybox", host_busybox());
        let bin = self.rootfs().join("bin");
        for applet in BUSYBOX_APPLETS {
            symlink("busybox", bin.join(applet)).unwrap_or_else(|e| panic!("cannot link rootfs/bin/{applet}: {e}"));
        }
    }

    /// `rootfs/bin/<applet>` → `busybox` for each applet not linked yet.
    pub fn link_applets(&self, applets: &[&str]) {
        let bin = self.rootfs().join("bin");
        for applet in applets {
            let link = bin.join(applet);
            if fs::symlink_metadata(&link).is_err() {
                symlink("busybox", &link).unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
            }
        }
    }

    pub fn write_spec(&self, spec: &Spec) {
        self.write_config_json(&spec.to_json());
    }

    pub fn write_config_json(&self, config: &Value) {
        let text = serde_json::to_string_pretty(config).expect("a Value always serializes");
        self.write_config_text(&text);
    }

    /// Writes config.json verbatim, valid or not.
    pub fn write_config_text(&self, text: &str) {
        let path = self.dir.join("config.json");
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// `--root <dir>/state [global...] run --bundle <dir> <id>` as cordon
    /// arguments: the state directory stays in the bundle's, which goes
    /// with the bundle, also when a test kills cordon.
    pub fn run_args(&self, global: &[&str]) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--root".into(), self.dir.join("state").into_os_string()];
        args.extend(global.iter().map(OsString::from));

        args.push("run".into());
        args.push("--bundle".into());
        args.push(self.dir.clone().into_os_string());
        args.push(self.id.clone().into());
        args
    }

    /// Runs the bundle with `cordon [global...] run` and waits for it.
    pub fn run(&self, global: &[&str]) -> Outcome {
        run_cordon(&self.run_args(global))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What a finished run of `reaper cordon ...` produced.
#[derive(Debug)]
pub struct Outcome {
    /// The command line, for failure messages.
    pub command: String,
    pub stdout: String,
    /// Everything on stderr except reaper's final line.
    pub stderr: String,
    /// cordon's exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed cordon, if one did.
    pub signal: Option<i32>,
    /// Processes still alive 100 ms after cordon ended (killed by reaper).
    pub leftover: u32,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        match (self.code, self.signal) {
            (Some(code), _) => writeln!(f, "exit code: {code}")?,
            (None, Some(sig)) => writeln!(f, "killed by signal {sig}")?,
            (None, None) => writeln!(f, "no exit status")?,
        }
        writeln!(f, "leftover processes: {}", self.leftover)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

impl Outcome {
    /// Asserts cordon exited with `code` (not killed by a signal).
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit status\n{self}");
        self
    }

    /// Asserts cordon exited with a non-zero code (not killed by a signal).
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit code\n{self}"
        );
        self
    }

    /// Asserts no process outlived the run.
    #[track_caller]
    pub fn assert_no_leftover(&self) -> &Self {
        assert_eq!(self.leftover, 0, "processes outlived the run\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_stdout(&self, expected: &str) -> &Self {
        assert_eq!(self.stdout, expected, "unexpected stdout\n{self}");
        self
    }

    /// The single error line cordon printed, after asserting stderr is
    /// exactly one line starting with `cordon: `.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && self.stderr.ends_with('\n'),
            "stderr is not exactly one line\n{self}"
        );
        assert!(
            lines[0].starts_with("cordon: "),
            "stderr does not start with \"cordon: \"\n{self}"
        );
        lines[0]
    }
}

/// Renders a command line for messages.
fn render(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `reaper cordon ...` process group that is still running.
pub struct Running {
    child: Option<Child>,
    command: String,
    stdout: mpsc::Receiver<Vec<u8>>,
    stderr: mpsc::Receiver<Vec<u8>>,
}

/// Starts `reaper cordon <args>` in a process group of its own, with stdin
/// closed and stdout/stderr captured.
pub fn spawn_cordon<S: AsRef<OsStr>>(args: &[S]) -> Running {
    let args: Vec<OsString> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    let command = render(cordon_bin(), &args);
    let mut child = Command::new(reaper())
        .arg(cordon_bin())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    Running {
        child: Some(child),
        command,
        stdout,
        stderr,
    }
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Runs `reaper cordon <args>` to completion within `RUN_TIMEOUT`.
pub fn run_cordon<S: AsRef<OsStr>>(args: &[S]) -> Outcome {
    spawn_cordon(args).wait(RUN_TIMEOUT)
}

impl Running {
    /// The reaper's pid (cordon is its only child).
    pub fn reaper_pid(&self) -> u32 {
        self.child.as_ref().expect("not yet waited for").id()
    }

    /// Whether the reaper (and so cordon) is still running.
    pub fn is_running(&mut self) -> bool {
        let child = self.child.as_mut().expect("not yet waited for");
        matches!(child.try_wait(), Ok(None))
    }

    /// Waits for the run to end and its pipes to close; on timeout kills the
    /// process group and panics with what was captured.
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let mut child = self.child.take().expect("waited for only once");
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let pid = i32::try_from(child.id()).expect("pids fit i32");
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = child.wait();
                    let grace = Duration::from_secs(2);
                    let stdout = self.stdout.recv_timeout(grace).unwrap_or_default();
                    let stderr = self.stderr.recv_timeout(grace).unwrap_or_default();
                    panic!(
                        "{} did not finish within {timeout:?}; killed its process group.\n\
                         --- stdout ---\n{}\n--- stderr ---\n{}",
                        self.command,
                        String::from_utf8_lossy(&stdout),
                        String::from_utf8_lossy(&stderr),
                    );
                }
                Err(e) => panic!("waiting for {}: {e}", self.command),
            }
        };
        // reaper killed every leftover before exiting, so the pipes close now
        // unless something escaped it; give that a bounded wait.
        let pipes_deadline = Instant::now() + Duration::from_secs(5);
        let collect = |rx: &mpsc::Receiver<Vec<u8>>, name: &str| {
            let left = pipes_deadline.saturating_duration_since(Instant::now());
            let bytes = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "{}: {name} still open after the run ended: some process escaped reaper",
                    self.command
                )
            });
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let stdout = collect(&self.stdout, "stdout");
        let raw_stderr = collect(&self.stderr, "stderr");
        parse_outcome(self.command.clone(), stdout, &raw_stderr, status.code())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = i32::try_from(child.id()).expect("pids fit i32");
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// Splits reaper's report (`leftover=N child=exited:S` or
/// `leftover=N child=signaled:S`, the last line) from cordon's stderr and checks reaper's own status
/// agrees with it.
fn parse_outcome(command: String, stdout: String, raw_stderr: &str, reaper_code: Option<i32>) -> Outcome {
    // Found by its text, not as the last line, so that an error message
    // without a final newline still shows up (and fails `error_line`).
    let (stderr, last) = match raw_stderr.rfind("leftover=") {
        Some(i) => (&raw_stderr[..i], raw_stderr[i..].trim_end()),
        None => (raw_stderr, ""),
    };
    let malformed = || -> ! {
        panic!(
            "{command}: reaper's last stderr line is malformed (reaper status {reaper_code:?})\n\
             --- stdout ---\n{stdout}\n--- stderr ---\n{raw_stderr}"
        )
    };
    let mut leftover = None;
    let mut code = None;
    let mut signal = None;
    for field in last.split_whitespace() {
        match field.split_once('=') {
            Some(("leftover", n)) => leftover = n.parse::<u32>().ok(),
            Some(("child", how)) => match how.split_once(':') {
                Some(("exited", n)) => code = n.parse::<i32>().ok(),
                Some(("signaled", n)) => signal = n.parse::<i32>().ok(),
                _ => malformed(),
            },
            _ => malformed(),
        }
    }
    let Some(leftover) = leftover else { malformed() };
    if code.is_none() && signal.is_none() {
        malformed();
    }
    let expected = code.or(signal.map(|s| 128 + s));
    assert_eq!(
        reaper_code, expected,
        "{command}: reaper's exit status disagrees with its report: {last}"
    );
    Outcome {
        command,
        stdout,
        stderr: stderr.to_owned(),
        code,
        signal,
        leftover,
    }
}

/// The pids of `pid`'s children, from `/proc/<pid>/task/*/children`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            children.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    children.sort_unstable();
    children.dedup();
    children
}

/// All descendants of `pid`, parents before their children.
pub fn descendants_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = children_of(pid);
    while let Some(p) = queue.pop() {
        if !found.contains(&p) {
            found.push(p);
            queue.extend(children_of(p));
        }
    }
    found
}

/// A field of `/proc/<pid>/status` (`"TracerPid"`, `"State"`, ...), trimmed.
pub fn proc_status_field(pid: u32, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim().to_owned())
    })
}

/// Whether `pid` no longer runs: gone from /proc, or a zombie.
pub fn process_is_dead(pid: u32) -> bool {
    match proc_status_field(pid, "State") {
        None => true,
        Some(state) => state.starts_with('Z') || state.starts_with('X'),
    }
}

/// Polls `probe` every 10 ms until it returns `Some` or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The host's `uname -r`, from the host's own `uname`.
pub fn host_release() -> String {
    let out = Command::new("uname")
        .arg("-r")
        .output()
        .expect("run the host's uname -r");
    assert!(out.status.success(), "host uname -r failed: {}", out.status);
    let release = String::from_utf8(out.stdout).expect("uname -r prints UTF-8");
    let release = release.trim().to_owned();
    assert!(!release.is_empty(), "host uname -r printed nothing");
    release
}

/// Asserts `text` contains `needle`, showing the outcome otherwise.
#[track_caller]
pub fn assert_contains(outcome: &Outcome, text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}\n\n{outcome}");
}

/// Runs `/bin/<program>` (compiled with `toolchain`) alone in a bundle and
/// checks its exit status, its whole stdout, and that nothing outlived it.
pub fn run_fixture(test: &str, program: &str, toolchain: Toolchain, code: i32, stdout: &str) {
    let argv0 = format!("/bin/{program}");
    let bundle = Bundle::with_program(test, program, toolchain, &Spec::new(&[argv0.as_str()]));
    bundle
        .run(&[])
        .assert_code(code)
        .assert_stdout(stdout)
        .assert_no_leftover();
}

/// The stdout of a run in which every one of `sections` passed.
pub fn sections_ok(sections: &[&str]) -> String {
    sections.iter().map(|s| format!("{s} ok\n")).collect()
}

/// Asserts a fixture run printed exactly `expected`, exited 0 and left no
/// process behind; otherwise panics with a summary (exit status, failed
/// checks, sections that never reported) above the full outcome.
#[track_caller]
pub fn assert_fixture(out: &Outcome, expected: &str) {
    let status = match (out.code, out.signal) {
        (Some(0), _) => None,
        (Some(code), _) if code > 128 => Some(format!(
            "exit code {code}: the program was killed by signal {}",
            code - 128
        )),
        (Some(code), _) => Some(format!("exit code {code}")),
        (None, Some(signal)) if signal == libc::SIGSYS => Some(format!(
            "cordon itself was killed by signal {signal} (SIGSYS): it made a host system call \
             its own seccomp filter forbids; the audit log (dmesg) names the call"
        )),
        (None, Some(signal)) => Some(format!("cordon itself was killed by signal {signal}")),
        (None, None) => Some("no exit status".to_owned()),
    };
    if status.is_some() || out.stdout != expected {
        let failed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
        let missing: Vec<&str> = expected
            .lines()
            .filter(|l| !out.stdout.lines().any(|o| o == *l))
            .collect();
        panic!(
            "{}\nfailed checks:{}\nexpected lines missing:{}\n\n{out}",
            status.unwrap_or_else(|| "exit code 0 but unexpected output".to_owned()),
            list(&failed),
            list(&missing),
        );
    }
    out.assert_no_leftover();
}

/// ` none`, or one indented line per item.
fn list(items: &[&str]) -> String {
    if items.is_empty() {
        " none".to_owned()
    } else {
        items.iter().map(|i| format!("\n  {i}")).collect()
    }
}
