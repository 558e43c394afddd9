//! What a system call and a container start cost on cordon, as ratios against
//! the same work done natively in the same run.
//!
//! Run with `cargo bench --bench syscalls`. Absolute times depend on the host
//! (and on whatever else shares its CPUs), so the numbers to compare between
//! runs are the ratios, each measured against a native baseline taken minutes
//! apart at most. Nothing here asserts on time.
//!
//! Measured:
//! - the getpid round trip, timed inside the program by `getpid_loop.c`
//!   (natively, and under `cordon do` with the tracer pinned and unpinned);
//! - the wall time of running a static `true`: native fork+exec against
//!   `cordon run` of a bundle holding only that binary, and `runsc run` of the
//!   same bundle when runsc is installed.
//!
//! The C programs are compiled with `gcc -static -O2` into a scratch directory
//! under `$CARGO_TARGET_TMPDIR`, removed when the bench ends.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// getpid calls per native run: enough for the loop to take ~0.1 s.
const NATIVE_GETPID_CALLS: u32 = 1_000_000;
/// getpid calls per sandboxed run: each costs 5–40 µs under ptrace.
const SANDBOX_GETPID_CALLS: u32 = 20_000;
/// Runs of the getpid loop per configuration; the median is reported.
const GETPID_RUNS: usize = 5;
/// Starts of `true` per configuration; the median is reported.
const START_RUNS: usize = 20;
/// Starts of `true` under runsc, which is slower to start than the others.
const RUNSC_RUNS: usize = 5;

fn main() {
    let scratch = Scratch::create();
    let getpid_loop = compile("getpid_loop.c", scratch.path());
    let true_bin = compile("true.c", scratch.path());
    let bundle = write_bundle(scratch.path(), &true_bin);

    println!("cordon benchmarks: {}", cordon_bin().display());
    println!();
    getpid_table(&getpid_loop);
    println!();
    start_table(&true_bin, &bundle);
}

/// Prints the getpid round trip natively and under cordon, pinned and not.
fn getpid_table(getpid_loop: &Path) {
    println!("getpid round trip, median of {GETPID_RUNS} runs");
    let native = median_getpid_ns(|| {
        let mut command = Command::new(getpid_loop);
        command.arg(NATIVE_GETPID_CALLS.to_string());
        command
    });
    Row::baseline("native", Unit::Nanos, native).print();
    for pin in [true, false] {
        let sandboxed = median_getpid_ns(|| {
            let mut command = cordon(pin);
            command.arg("do").arg("--").arg(getpid_loop);
            command.arg(SANDBOX_GETPID_CALLS.to_string());
            command
        });
        Row::compared(&format!("cordon do --pin-cpu {pin}"), Unit::Nanos, sandboxed, native).print();
    }
}

/// Prints the wall time of starting `true` natively, under cordon and under
/// runsc.
fn start_table(true_bin: &Path, bundle: &Path) {
    println!("start and wait for /bin/true, median wall time of {START_RUNS} runs ({RUNSC_RUNS} for runsc)");
    let native = median_start_ms(START_RUNS, |_| Command::new(true_bin)).expect("the native true runs");
    Row::baseline("native fork+exec", Unit::Millis, native).print();
    for pin in [true, false] {
        let sandboxed = median_start_ms(START_RUNS, |run| {
            let mut command = cordon(pin);
            command
                .arg("run")
                .arg("--bundle")
                .arg(bundle)
                .arg(container_id("cordon", run));
            command
        })
        .expect("cordon runs the bundle");
        Row::compared(&format!("cordon run --pin-cpu {pin}"), Unit::Millis, sandboxed, native).print();
    }
    print_runsc_row(bundle, native);
}

/// Prints runsc's row, or why there is none: runsc is optional on the host.
fn print_runsc_row(bundle: &Path, native_ms: f64) {
    const LABEL: &str = "runsc run --platform=ptrace";
    let Some(runsc) = find_on_path("runsc") else {
        println!("  {LABEL:<32} skipped: runsc is not on PATH");
        return;
    };
    let measured = median_start_ms(RUNSC_RUNS, |run| {
        let mut command = Command::new(&runsc);
        command.args([
            "--rootless=false",
            "--network=none",
            "--platform=ptrace",
            "run",
            "--bundle",
        ]);
        command.arg(bundle).arg(container_id("runsc", run));
        command
    });
    match measured {
        Ok(ms) => Row::compared(LABEL, Unit::Millis, ms, native_ms).print(),
        Err(failure) => println!("  {LABEL:<32} skipped: {}", failure.brief()),
    }
}

/// The cordon binary cargo built for this bench.
fn cordon_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_cordon"))
}

/// `cordon --pin-cpu <pin>`, ready for a verb.
fn cordon(pin: bool) -> Command {
    let mut command = Command::new(cordon_bin());
    command.arg("--pin-cpu").arg(pin.to_string());
    command
}

/// A container id unique to this process, runtime and run; runsc keeps state
/// under its id, so two runs must not share one.
fn container_id(runtime: &str, run: usize) -> String {
    format!("bench-{runtime}-{}-{run}", std::process::id())
}

/// The median of `GETPID_RUNS` runs of the getpid loop, after one warm-up run,
/// in nanoseconds per call as the loop itself reports it.
fn median_getpid_ns(command: impl Fn() -> Command) -> f64 {
    run_checked(&mut command());
    let samples = (0..GETPID_RUNS)
        .map(|_| parse_ns_per_call(&run_checked(&mut command())))
        .collect();
    median(samples)
}

/// The ns-per-call figure `getpid_loop` prints as its last line.
fn parse_ns_per_call(output: &Output) -> f64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    last.trim()
        .parse()
        .unwrap_or_else(|e| panic!("getpid_loop printed {last:?}, not ns per call: {e}"))
}

/// Runs `command` to completion, panicking with its stderr if it fails: a
/// getpid measurement from a failed run would be meaningless.
fn run_checked(command: &mut Command) -> Output {
    run(command).unwrap_or_else(|failure| panic!("{failure}"))
}

/// The median wall time in milliseconds of `runs` runs of the command
/// `command(run)` makes, after one warm-up run; the first failure ends it.
fn median_start_ms(runs: usize, command: impl Fn(usize) -> Command) -> Result<f64, RunFailure> {
    run(&mut command(runs))?;
    let mut samples = Vec::with_capacity(runs);
    for n in 0..runs {
        let mut command = command(n);
        let start = Instant::now();
        run(&mut command)?;
        samples.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(samples))
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
    Err(RunFailure {
        command: describe(command),
        reason: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A command that did not start or did not exit 0.
#[derive(Debug)]
struct RunFailure {
    command: String,
    /// Why it failed: the spawn error or the exit status.
    reason: String,
    stderr: String,
}

impl RunFailure {
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
fn compile(source: &str, dir: &Path) -> PathBuf {
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

/// Writes an OCI bundle into `<dir>/bundle` whose rootfs holds only
/// `true_bin` at /bin/true, and returns the bundle's path.
fn write_bundle(dir: &Path, true_bin: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    // /proc and /dev are mount points for runtimes that mount them (runsc).
    for sub in ["bin", "proc", "dev"] {
        let path = rootfs.join(sub);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    }
    let target = rootfs.join("bin/true");
    fs::copy(true_bin, &target).unwrap_or_else(|e| panic!("cannot copy true to {}: {e}", target.display()));
    let config = serde_json::to_string_pretty(&bundle_config()).expect("a json! value serializes");
    let config_path = bundle.join("config.json");
    fs::write(&config_path, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
    bundle
}

/// A config.json running /bin/true as root on a read-only root, with the
/// namespaces and /proc mount runsc expects; cordon accepts it as well.
fn bundle_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/true"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": true,
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "bench",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
        ],
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

/// The scratch directory for compiled programs and the bundle, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn create() -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cordon-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch { dir }
    }

    fn path(&self) -> &Path {
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
enum Unit {
    Nanos,
    Millis,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Millis => "ms",
        }
    }
}

/// One line of a table: a configuration, its median, and how many times the
/// native baseline it is (none for the baseline itself).
struct Row<'a> {
    label: &'a str,
    unit: Unit,
    value: f64,
    ratio: Option<f64>,
}

impl<'a> Row<'a> {
    fn baseline(label: &'a str, unit: Unit, value: f64) -> Row<'a> {
        Row {
            label,
            unit,
            value,
            ratio: None,
        }
    }

    fn compared(label: &'a str, unit: Unit, value: f64, baseline: f64) -> Row<'a> {
        Row {
            label,
            unit,
            value,
            ratio: Some(value / baseline),
        }
    }

    fn print(&self) {
        let value = match self.unit {
            Unit::Nanos => format!("{:.0} {}", self.value, self.unit.suffix()),
            Unit::Millis => format!("{:.2} {}", self.value, self.unit.suffix()),
        };
        let ratio = match self.ratio {
            None => "baseline".to_owned(),
            Some(r) if r < 10.0 => format!("{r:.1}x"),
            Some(r) => format!("{r:.0}x"),
        };
        println!("  {:<32} {value:>12}   ratio {ratio:>8}", self.label);
    }
}
