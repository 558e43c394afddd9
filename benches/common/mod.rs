//! What the benchmarks share: running a command a few times for a median
//! figure, runsc when it is installed, throw-away bundles and compiled
//! programs, and the rows of ratios they print.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

/// One bundle to run under runsc and under cordon (pinned and not), and how
/// to read a figure from each run.
pub struct Sandboxed<'a> {
    pub bundle: &'a Path,
    /// Runs per cordon configuration.
    pub runs: usize,
    pub runsc_runs: usize,
    pub figure: Figure,
    pub unit: Unit,
}

impl Sandboxed<'_> {
    /// Prints runsc's row (or why there is none), then cordon's rows, each
    /// compared with `native` and with runsc's figure.
    pub fn print_rows(&self, native: f64, runsc: &mut Runsc) {
        let runsc_figure = runsc.measure(self.runsc_runs, self.figure, |id| {
            let bundle = self.bundle.as_os_str().to_owned();
            vec!["run".into(), "--bundle".into(), bundle, id.into()]
        });
        match &runsc_figure {
            Ok(value) => Row::compared(RUNSC_LABEL, self.unit, *value, native).print(),
            Err(why) => println!("  {RUNSC_LABEL:<32} skipped: {why}"),
        }
        for pin in [true, false] {
            let sandboxed = measure(self.runs, self.figure, || {
                let mut command = cordon(pin);
                command
                    .arg("run")
                    .arg("--bundle")
                    .arg(self.bundle)
                    .arg(container_id("cordon"));
                command
            })
            .unwrap_or_else(|failure| panic!("cordon runs the bundle: {failure}"));
            let label = format!("cordon run --pin-cpu {pin}");
            let mut row = Row::compared(&label, self.unit, sandboxed, native);
            if let Ok(runsc) = runsc_figure {
                row = row.versus_runsc(runsc);
            }
            row.print();
        }
    }
}

/// The label of runsc's rows.
const RUNSC_LABEL: &str = "runsc run --platform=ptrace";

/// runsc, while it has worked in this bench: optional on the host, and it may
/// be installed but unable to run here (no root, no ptrace, an old kernel).
pub enum Runsc {
    Usable {
        binary: PathBuf,
        /// runsc's state directory (`--root`), under the scratch directory.
        root: PathBuf,
    },
    /// Why runsc is not run: not found, or its first failure.
    Unusable(String),
}

impl Runsc {
    pub fn find(scratch: &Path) -> Runsc {
        match find_on_path("runsc") {
            Some(binary) => Runsc::Usable {
                binary,
                root: scratch.join("runsc-root"),
            },
            None => Runsc::Unusable("runsc is not on PATH".to_owned()),
        }
    }

    /// The median figure of `runs` runs of `runsc <global flags> <verb>`,
    /// after a warm-up run, or why there is none; `verb(id)` gives the
    /// arguments of a run whose container id is `id`. A failure makes runsc
    /// unusable for the rest of the bench: later calls return the same
    /// reason without running it again.
    pub fn measure(
        &mut self,
        runs: usize,
        figure: Figure,
        verb: impl Fn(&str) -> Vec<OsString>,
    ) -> Result<f64, String> {
        let (binary, root) = match self {
            Runsc::Usable { binary, root } => (binary.clone(), root.clone()),
            Runsc::Unusable(why) => return Err(why.clone()),
        };
        // The id of the run under way, to delete its container if it fails.
        let last_id = RefCell::new(String::new());
        let result = measure(runs, figure, || {
            let id = container_id("runsc");
            let mut command = Command::new(&binary);
            command.arg("--root").arg(&root);
            command.args(["--rootless=false", "--network=none", "--platform=ptrace"]);
            command.args(verb(&id));
            *last_id.borrow_mut() = id;
            command
        });
        result.map_err(|failure| {
            force_delete(&binary, &root, &last_id.borrow());
            let why = failure.brief();
            *self = Runsc::Unusable(why.clone());
            why
        })
    }
}

/// Removes what a failed `runsc run` left: its sandbox processes and state.
/// Best effort: the container may never have been created (and `runsc do`
/// names its own).
fn force_delete(runsc: &Path, root: &Path, id: &str) {
    let mut delete = Command::new(runsc);
    delete.arg("--root").arg(root).args(["delete", "-force", id]);
    let _ = run(&mut delete);
}

/// The cordon binary cargo built for this bench.
pub fn cordon_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cordon"))
}

/// `cordon --pin-cpu <pin>`, ready for a verb.
pub fn cordon(pin: bool) -> Command {
    let mut command = Command::new(cordon_bin());
    command.arg("--pin-cpu").arg(pin.to_string());
    command
}

/// A container id unique to this process, runtime and run; runsc keeps state
/// under its id, so two runs must not share one.
fn container_id(runtime: &str) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    format!("bench-{runtime}-{}-{run}", std::process::id())
}

/// How a run's figure is taken.
#[derive(Clone, Copy)]
pub enum Figure {
    /// The wall time of the whole run, in milliseconds.
    WallMillis,
    /// A number the run prints, parsed from its stdout.
    Reported(fn(&str) -> Result<f64, String>),
}

impl Figure {
    /// The figure of a run that took `elapsed_ms` and printed `stdout`.
    fn read(self, elapsed_ms: f64, stdout: &str) -> Result<f64, String> {
        match self {
            Figure::WallMillis => Ok(elapsed_ms),
            Figure::Reported(parse) => parse(stdout),
        }
    }
}

/// The median figure of `runs` runs of the command `command()` makes, after
/// one warm-up run; the first failure ends it.
pub fn measure(runs: usize, figure: Figure, command: impl Fn() -> Command) -> Result<f64, RunFailure> {
    let mut samples = Vec::with_capacity(runs);
    for n in 0..=runs {
        let mut command = command();
        let start = Instant::now();
        let output = run(&mut command)?;
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = figure
            .read(elapsed_ms, &stdout)
            .map_err(|reason| RunFailure::new(&command, reason, &output))?;
        if n > 0 {
            samples.push(value);
        }
    }
    Ok(median(samples))
}

/// The number a loop program prints as its last line of stdout.
pub fn last_line_number(stdout: &str) -> Result<f64, String> {
    let last = stdout.lines().last().unwrap_or_default();
    last.trim()
        .parse()
        .map_err(|e| format!("printed {last:?}, not a number: {e}"))
}

/// Runs `command` with stdin closed and its output captured, and fails unless
/// it exits 0.
fn run(command: &mut Command) -> Result<Output, RunFailure> {
    let output = command.stdin(Stdio::null()).output().map_err(|e| RunFailure {
        command: describe(command),
        reason: format!("cannot start: {e}"),
        stderr: String::new(),
    })?;
    if output.status.success() {
        return Ok(output);
    }
    Err(RunFailure::new(command, output.status.to_string(), &output))
}

/// A command that did not start, did not exit 0, or printed no figure.
#[derive(Debug)]
pub struct RunFailure {
    command: String,
    /// Why it failed: the spawn error, the exit status or the bad output.
    reason: String,
    stderr: String,
}

impl RunFailure {
    fn new(command: &Command, reason: String, output: &Output) -> RunFailure {
        RunFailure {
            command: describe(command),
            reason,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The failure on one line: the last line of stderr is where runtimes
    /// put their fatal error.
    fn brief(&self) -> String {
        let last = self.stderr.lines().rev().find(|line| !line.trim().is_empty());
        format!(
            "`{}` failed: {}: {}",
            self.command,
            self.reason,
            last.unwrap_or("no stderr").trim()
        )
    }
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed: {}", self.command, self.reason)?;
        if !self.stderr.trim().is_empty() {
            write!(f, "; stderr:\n{}", self.stderr.trim_end())?;
        }
        Ok(())
    }
}

/// `command` as a shell-like line, for error messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The median of `samples`; the mean of the middle two when there is an even
/// number of them.
fn median(mut samples: Vec<f64>) -> f64 {
    assert!(!samples.is_empty(), "a median needs at least one sample");
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    }
}

/// Compiles `benches/fixtures/<source>` statically into `dir`, returning the
/// binary's path.
pub fn compile(source: &str, dir: &Path) -> PathBuf {
    let source_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/fixtures")
        .join(source);
    let binary = dir.join(Path::new(source).with_extension(""));
    let mut gcc = Command::new("gcc");
    gcc.args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"]);
    gcc.arg(&binary).arg(&source_path);
    run(&mut gcc).unwrap_or_else(|failure| panic!("cannot build {source} (needs gcc and static glibc): {failure}"));
    binary
}

/// Writes an OCI bundle into `<dir>/<name>` whose rootfs holds `binaries`
/// (each copied to /bin/<name>), whose process is `args` and which mounts
/// `mounts` after /proc, and returns the bundle's path.
pub fn write_bundle(dir: &Path, name: &str, binaries: &[(&str, &Path)], args: &[&str], mounts: &[Value]) -> PathBuf {
    let bundle = dir.join(name);
    let rootfs = bundle.join("rootfs");
    // /proc and /dev are mount points for runtimes that mount them (runsc).
    for sub in ["bin", "proc", "dev"] {
        let path = rootfs.join(sub);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    }
    for (binary, source) in binaries {
        let target = rootfs.join("bin").join(binary);
        fs::copy(source, &target)
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", source.display(), target.display()));
    }
    let config = serde_json::to_string_pretty(&bundle_config(args, mounts)).expect("a json! value serializes");
    let config_path = bundle.join("config.json");
    fs::write(&config_path, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
    bundle
}

/// A config.json running `args` as root on a read-only root, with the
/// namespaces and /proc mount runsc expects (then `mounts`); cordon accepts
/// it as well.
fn bundle_config(args: &[&str], mounts: &[Value]) -> Value {
    let mut all_mounts = vec![json!({ "destination": "/proc", "type": "proc", "source": "proc" })];
    all_mounts.extend_from_slice(mounts);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": true,
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "bench",
        "mounts": all_mounts,
        "linux": {
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
            ],
        },
    })
}

/// The first executable called `name` in a directory of `$PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The scratch directory for compiled programs, bundles and runsc's state,
/// removed on drop.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn create() -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cordon-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// The unit a row's figures are in.
#[derive(Clone, Copy)]
pub enum Unit {
    Nanos,
    Micros,
    Millis,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
        }
    }
}

/// One line of a table: a configuration, its median, how many times the
/// native baseline it is (none for the baseline itself), and how many times
/// runsc's figure (for cordon's rows, when runsc ran).
pub struct Row<'a> {
    label: &'a str,
    unit: Unit,
    value: f64,
    ratio: Option<f64>,
    versus_runsc: Option<f64>,
}

impl<'a> Row<'a> {
    pub fn baseline(label: &'a str, unit: Unit, value: f64) -> Row<'a> {
        Row {
            label,
            unit,
            value,
            ratio: None,
            versus_runsc: None,
        }
    }

    pub fn compared(label: &'a str, unit: Unit, value: f64, baseline: f64) -> Row<'a> {
        Row {
            label,
            unit,
            value,
            ratio: Some(value / baseline),
            versus_runsc: None,
        }
    }

    pub fn versus_runsc(self, runsc: f64) -> Row<'a> {
        Row {
            versus_runsc: Some(self.value / runsc),
            ..self
        }
    }

    pub fn print(&self) {
        let value = match self.unit {
            Unit::Nanos => format!("{:.0} {}", self.value, self.unit.suffix()),
            Unit::Micros => format!("{:.1} {}", self.value, self.unit.suffix()),
            Unit::Millis => format!("{:.2} {}", self.value, self.unit.suffix()),
        };
        let ratio = self.ratio.map_or_else(|| "baseline".to_owned(), format_ratio);
        let versus_runsc = self
            .versus_runsc
            .map(|r| format!("   vs runsc {:>6}", format_ratio(r)))
            .unwrap_or_default();
        println!("  {:<32} {value:>12}   ratio {ratio:>8}{versus_runsc}", self.label);
    }
}

/// A ratio with two significant digits below 10, none after the point above.
fn format_ratio(ratio: f64) -> String {
    if ratio < 1.0 {
        format!("{ratio:.2}x")
    } else if ratio < 10.0 {
        format!("{ratio:.1}x")
    } else {
        format!("{ratio:.0}x")
    }
}
