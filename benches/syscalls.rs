//! What a system call, a container start, a process spawn and a shell loop
//! cost on cordon, as ratios against the same work done natively in the same
//! run, and against runsc when it is installed.
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
//!   `cordon run` of a bundle holding only that binary;
//! - fork, _exit and waitpid of a process holding 100 MiB of touched memory,
//!   timed inside the program by `fork_big.c`, natively and under `cordon do`;
//! - fork, execve of that `true` and waitpid, timed inside the program by
//!   `spawn_loop.c`, natively and as the program of a bundle;
//! - two loops of busybox sh (Debian's busybox-static), timed by the shell
//!   itself with `$EPOCHREALTIME` so that the container's start is left out:
//!   1000 rounds of arithmetic and `[`, which make no system call, and 200
//!   rounds that fork and exec the static `true`.
//!
//! Every bundle is also run by `runsc --platform=ptrace` (Debian's runsc)
//! when runsc is on PATH and can run here; otherwise one line says why not.
//! Cordon's rows then give their ratio to runsc as well as to native.
//!
//! The C programs are compiled with `gcc -static -O2` into a scratch directory
//! under `$CARGO_TARGET_TMPDIR`, which also holds the bundles and runsc's
//! state, and is removed when the bench ends.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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
const RUNSC_START_RUNS: usize = 5;
/// fork+exec+wait rounds per native run of `spawn_loop`: ~0.5 s.
const NATIVE_SPAWNS: u32 = 1000;
/// fork+exec+wait rounds per sandboxed run: each costs 5–20 ms under ptrace.
const SANDBOX_SPAWNS: u32 = 200;
/// Runs of each loop per configuration, runsc included; the median is
/// reported. Sandboxed runs of the spawning loops take seconds each.
const LOOP_RUNS: usize = 3;

/// The busybox sh loops, run natively and sandboxed with the same rounds.
const SHELL_LOOPS: [ShellLoop; 2] = [
    ShellLoop {
        name: "arithmetic",
        what: "`i=$((i+1))` and `[`",
        script: "s=$EPOCHREALTIME; i=0; while [ $i -lt $1 ]; do i=$((i+1)); done; e=$EPOCHREALTIME; echo \"$i $s $e\"",
        rounds: 1000,
    },
    ShellLoop {
        name: "spawning",
        what: "fork+exec+wait of /bin/true",
        script: "s=$EPOCHREALTIME; for i in $(seq 1 $1); do \"$2\" || exit 1; done; e=$EPOCHREALTIME; echo \"$i $s $e\"",
        rounds: 200,
    },
];

/// The host's static busybox (Debian package busybox-static).
const HOST_BUSYBOX: &str = "/bin/busybox";

fn main() {
    let scratch = Scratch::create();
    let getpid_loop = compile("getpid_loop.c", scratch.path());
    let true_bin = compile("true.c", scratch.path());
    let spawn_loop = compile("spawn_loop.c", scratch.path());
    let fork_big = compile("fork_big.c", scratch.path());
    let mut runsc = Runsc::find(scratch.path());

    println!("cordon benchmarks: {}", cordon_bin().display());
    println!();
    getpid_table(&getpid_loop);
    println!();
    fork_big_table(&fork_big);
    println!();
    start_table(scratch.path(), &true_bin, &mut runsc);
    println!();
    spawn_table(scratch.path(), &spawn_loop, &true_bin, &mut runsc);
    for shell_loop in &SHELL_LOOPS {
        println!();
        shell_table(scratch.path(), shell_loop, &true_bin, &mut runsc);
    }
}

/// Prints the getpid round trip natively and under cordon, pinned and not.
fn getpid_table(getpid_loop: &Path) {
    println!("getpid round trip, median of {GETPID_RUNS} runs");
    let figure = Figure::Reported(last_line_number);
    let native = measure(GETPID_RUNS, figure, || {
        let mut command = Command::new(getpid_loop);
        command.arg(NATIVE_GETPID_CALLS.to_string());
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native", Unit::Nanos, native).print();
    for pin in [true, false] {
        let sandboxed = measure(GETPID_RUNS, figure, || {
            let mut command = cordon(pin);
            command.arg("do").arg("--").arg(getpid_loop);
            command.arg(SANDBOX_GETPID_CALLS.to_string());
            command
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
        Row::compared(&format!("cordon do --pin-cpu {pin}"), Unit::Nanos, sandboxed, native).print();
    }
}

/// Prints the cost of forking a process with 100 MiB of touched memory,
/// natively and under cordon.
fn fork_big_table(fork_big: &Path) {
    println!("fork+exit+wait of a process with 100 MiB touched, best of 5 rounds, median of {GETPID_RUNS} runs");
    let figure = Figure::Reported(last_line_number);
    let native = measure(GETPID_RUNS, figure, || Command::new(fork_big)).unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native", Unit::Micros, native).print();
    for pin in [true, false] {
        let sandboxed = measure(GETPID_RUNS, figure, || {
            let mut command = cordon(pin);
            command.arg("do").arg("--").arg(fork_big);
            command
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
        Row::compared(&format!("cordon do --pin-cpu {pin}"), Unit::Micros, sandboxed, native).print();
    }
}

/// Prints the wall time of starting `true` natively, under runsc and under
/// cordon.
fn start_table(scratch: &Path, true_bin: &Path, runsc: &mut Runsc) {
    println!("start and wait for /bin/true, median wall time of {START_RUNS} runs ({RUNSC_START_RUNS} for runsc)");
    let bundle = write_bundle(scratch, "start", &[("true", true_bin)], &["/bin/true"]);
    let native = measure(START_RUNS, Figure::WallMillis, || Command::new(true_bin)).expect("the native true runs");
    Row::baseline("native fork+exec", Unit::Millis, native).print();
    let sandboxed = Sandboxed {
        bundle: &bundle,
        runs: START_RUNS,
        runsc_runs: RUNSC_START_RUNS,
        figure: Figure::WallMillis,
        unit: Unit::Millis,
    };
    sandboxed.print_rows(native, runsc);
}

/// Prints the cost of one fork+execve+waitpid of the static `true`, as
/// `spawn_loop` times it natively, under runsc and under cordon.
fn spawn_table(scratch: &Path, spawn_loop: &Path, true_bin: &Path, runsc: &mut Runsc) {
    println!(
        "fork+exec+wait of a static true, per round ({NATIVE_SPAWNS} rounds native, {SANDBOX_SPAWNS} sandboxed), \
         median of {LOOP_RUNS} runs"
    );
    let sandboxed_spawns = SANDBOX_SPAWNS.to_string();
    let bundle = write_bundle(
        scratch,
        "spawn",
        &[("spawn_loop", spawn_loop), ("true", true_bin)],
        &["/bin/spawn_loop", &sandboxed_spawns, "/bin/true"],
    );
    print_loop_rows("native", &bundle, Figure::Reported(last_line_number), runsc, || {
        let mut command = Command::new(spawn_loop);
        command.arg(NATIVE_SPAWNS.to_string()).arg(true_bin);
        command
    });
}

/// Prints the rows of a loop measured in microseconds per round: natively
/// with `native_command()`, then `bundle` under runsc and cordon.
fn print_loop_rows(
    native_label: &str,
    bundle: &Path,
    figure: Figure,
    runsc: &mut Runsc,
    native_command: impl Fn() -> Command,
) {
    let native = measure(LOOP_RUNS, figure, native_command).unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline(native_label, Unit::Micros, native).print();
    let sandboxed = Sandboxed {
        bundle,
        runs: LOOP_RUNS,
        runsc_runs: LOOP_RUNS,
        figure,
        unit: Unit::Micros,
    };
    sandboxed.print_rows(native, runsc);
}

/// A busybox sh loop, timed by the shell itself. Its script takes the rounds
/// as `$1` and the path of `true` as `$2`, and ends by printing the count
/// reached and `$EPOCHREALTIME` before and after the loop: `COUNT START END`.
struct ShellLoop {
    name: &'static str,
    /// What one round does, for the table's title.
    what: &'static str,
    script: &'static str,
    rounds: u32,
}

/// Prints the cost of one round of `shell_loop` natively (the host's busybox,
/// running the scratch `true`), under runsc and under cordon (the same
/// busybox in the rootfs as /bin/sh, running /bin/true).
fn shell_table(scratch: &Path, shell_loop: &ShellLoop, true_bin: &Path, runsc: &mut Runsc) {
    let ShellLoop {
        name,
        what,
        script,
        rounds,
    } = *shell_loop;
    println!("busybox sh loop of {rounds} rounds of {what}, per round, median of {LOOP_RUNS} runs");
    let busybox = Path::new(HOST_BUSYBOX);
    assert!(
        busybox.is_file(),
        "{HOST_BUSYBOX} not found: install busybox-static (the shell loops need a static busybox)"
    );
    let rounds_arg = rounds.to_string();
    let bundle = write_bundle(
        scratch,
        &format!("shell-{name}"),
        &[("busybox", busybox), ("true", true_bin)],
        &["/bin/sh", "-c", script, "sh", &rounds_arg, "/bin/true"],
    );
    let sh = bundle.join("rootfs/bin/sh");
    symlink("busybox", &sh).unwrap_or_else(|e| panic!("cannot link {}: {e}", sh.display()));

    print_loop_rows("native busybox sh", &bundle, Figure::ShellLoop(rounds), runsc, || {
        let mut command = Command::new(busybox);
        command.args(["sh", "-c", script, "sh", &rounds_arg]).arg(true_bin);
        command
    });
}

/// One bundle to run under runsc and under cordon (pinned and not), and how
/// to read a figure from each run.
struct Sandboxed<'a> {
    bundle: &'a Path,
    /// Runs per cordon configuration.
    runs: usize,
    runsc_runs: usize,
    figure: Figure,
    unit: Unit,
}

impl Sandboxed<'_> {
    /// Prints runsc's row (or why there is none), then cordon's rows, each
    /// compared with `native` and with runsc's figure.
    fn print_rows(&self, native: f64, runsc: &mut Runsc) {
        let runsc_figure = runsc.measure(self.bundle, self.runsc_runs, self.figure);
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
enum Runsc {
    Usable {
        binary: PathBuf,
        /// runsc's state directory (`--root`), under the scratch directory.
        root: PathBuf,
    },
    /// Why runsc is not run: not found, or its first failure.
    Unusable(String),
}

impl Runsc {
    fn find(scratch: &Path) -> Runsc {
        match find_on_path("runsc") {
            Some(binary) => Runsc::Usable {
                binary,
                root: scratch.join("runsc-root"),
            },
            None => Runsc::Unusable("runsc is not on PATH".to_owned()),
        }
    }

    /// The median figure of `runs` runs of `bundle`, after a warm-up run, or
    /// why there is none. A failure makes runsc unusable for the rest of the
    /// bench: later calls return the same reason without running it again.
    fn measure(&mut self, bundle: &Path, runs: usize, figure: Figure) -> Result<f64, String> {
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
            command.args([
                "--rootless=false",
                "--network=none",
                "--platform=ptrace",
                "run",
                "--bundle",
            ]);
            command.arg(bundle).arg(&id);
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
/// Best effort: the container may never have been created.
fn force_delete(runsc: &Path, root: &Path, id: &str) {
    let mut delete = Command::new(runsc);
    delete.arg("--root").arg(root).args(["delete", "-force", id]);
    let _ = run(&mut delete);
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
fn container_id(runtime: &str) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    format!("bench-{runtime}-{}-{run}", std::process::id())
}

/// How a run's figure is taken.
#[derive(Clone, Copy)]
enum Figure {
    /// The wall time of the whole run, in milliseconds.
    WallMillis,
    /// The number the program prints as the last line of its stdout.
    Reported(fn(&str) -> Result<f64, String>),
    /// The microseconds per round of a shell loop of this many rounds, from
    /// the `COUNT START END` line it prints.
    ShellLoop(u32),
}

impl Figure {
    /// The figure of a run that took `elapsed_ms` and printed `stdout`.
    fn read(self, elapsed_ms: f64, stdout: &str) -> Result<f64, String> {
        match self {
            Figure::WallMillis => Ok(elapsed_ms),
            Figure::Reported(parse) => parse(stdout),
            Figure::ShellLoop(rounds) => shell_loop_micros(stdout, rounds),
        }
    }
}

/// The median figure of `runs` runs of the command `command()` makes, after
/// one warm-up run; the first failure ends it.
fn measure(runs: usize, figure: Figure, command: impl Fn() -> Command) -> Result<f64, RunFailure> {
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
fn last_line_number(stdout: &str) -> Result<f64, String> {
    let last = stdout.lines().last().unwrap_or_default();
    last.trim()
        .parse()
        .map_err(|e| format!("printed {last:?}, not a number: {e}"))
}

/// Microseconds per round of a shell loop that printed `COUNT START END`,
/// START and END being `$EPOCHREALTIME` (seconds with six decimals). COUNT
/// must be `rounds`: a loop cut short would look cheap.
fn shell_loop_micros(stdout: &str, rounds: u32) -> Result<f64, String> {
    let last = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split_whitespace().collect();
    let [count, start, end] = fields[..] else {
        return Err(format!("printed {last:?}, not `COUNT START END`"));
    };
    if count != rounds.to_string() {
        return Err(format!("the loop stopped at {count}, not {rounds}"));
    }
    let (start, end) = (epoch_micros(start)?, epoch_micros(end)?);
    if end < start {
        return Err(format!("the shell's clock went back from {start} to {end} µs"));
    }
    Ok((end - start) as f64 / f64::from(rounds))
}

/// `$EPOCHREALTIME` (`SECONDS.MICROS`) in whole microseconds, parsed as
/// integers: an f64 of it would keep only a quarter-microsecond.
fn epoch_micros(value: &str) -> Result<u64, String> {
    let parse = || -> Option<u64> {
        let (seconds, micros) = value.split_once('.')?;
        if micros.len() != 6 {
            return None;
        }
        Some(seconds.parse::<u64>().ok()? * 1_000_000 + micros.parse::<u64>().ok()?)
    };
    parse().ok_or_else(|| format!("{value:?} is not $EPOCHREALTIME (SECONDS.MICROS)"))
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
struct RunFailure {
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

/// Writes an OCI bundle into `<dir>/<name>` whose rootfs holds `binaries`
/// (each copied to /bin/<name>) and whose process is `args`, and returns the
/// bundle's path.
fn write_bundle(dir: &Path, name: &str, binaries: &[(&str, &Path)], args: &[&str]) -> PathBuf {
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
    let config = serde_json::to_string_pretty(&bundle_config(args)).expect("a json! value serializes");
    let config_path = bundle.join("config.json");
    fs::write(&config_path, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
    bundle
}

/// A config.json running `args` as root on a read-only root, with the
/// namespaces and /proc mount runsc expects; cordon accepts it as well.
fn bundle_config(args: &[&str]) -> Value {
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

/// The scratch directory for compiled programs, bundles and runsc's state,
/// removed on drop.
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
struct Row<'a> {
    label: &'a str,
    unit: Unit,
    value: f64,
    ratio: Option<f64>,
    versus_runsc: Option<f64>,
}

impl<'a> Row<'a> {
    fn baseline(label: &'a str, unit: Unit, value: f64) -> Row<'a> {
        Row {
            label,
            unit,
            value,
            ratio: None,
            versus_runsc: None,
        }
    }

    fn compared(label: &'a str, unit: Unit, value: f64, baseline: f64) -> Row<'a> {
        Row {
            label,
            unit,
            value,
            ratio: Some(value / baseline),
            versus_runsc: None,
        }
    }

    fn versus_runsc(self, runsc: f64) -> Row<'a> {
        Row {
            versus_runsc: Some(self.value / runsc),
            ..self
        }
    }

    fn print(&self) {
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
