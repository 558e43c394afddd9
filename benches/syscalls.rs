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
//!   (natively, and under `cordon do` with the tracer pinned and unpinned;
//!   then both under a 300-call seccomp filter the program installs);
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

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::{
    Figure, Row, Runsc, Sandboxed, Scratch, Unit, compile, cordon, cordon_bin, last_line_number, measure, write_bundle,
};

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
        script: "s=$EPOCHREALTIME; i=0; while [ $i -lt $1 ]; do i=$((i+1)); done; e=$EPOCHREALTIME; echo \"$1 $i $s $e\"",
        rounds: 1000,
    },
    ShellLoop {
        name: "spawning",
        what: "fork+exec+wait of /bin/true",
        script: "s=$EPOCHREALTIME; for i in $(seq 1 $1); do \"$2\" || exit 1; done; e=$EPOCHREALTIME; echo \"$1 $i $s $e\"",
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
    // Under a 300-call seccomp filter, as a container runtime's profile
    // installs: natively, and enforced by cordon's kernel.
    let native_filtered = measure(GETPID_RUNS, figure, || {
        let mut command = Command::new(getpid_loop);
        command.arg(NATIVE_GETPID_CALLS.to_string()).arg("filtered");
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native, seccomp filter", Unit::Nanos, native_filtered).print();
    let sandboxed = measure(GETPID_RUNS, figure, || {
        let mut command = cordon(true);
        command.arg("do").arg("--").arg(getpid_loop);
        command.arg(SANDBOX_GETPID_CALLS.to_string()).arg("filtered");
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::compared("cordon do, seccomp filter", Unit::Nanos, sandboxed, native_filtered).print();
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
    let bundle = write_bundle(scratch, "start", &[("true", true_bin)], &["/bin/true"], &[]);
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
        &[],
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
/// as `$1` and the path of `true` as `$2`, and ends by printing the rounds
/// asked for, the count reached and `$EPOCHREALTIME` before and after the
/// loop: `ROUNDS COUNT START END`.
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
        &[],
    );
    let sh = bundle.join("rootfs/bin/sh");
    symlink("busybox", &sh).unwrap_or_else(|e| panic!("cannot link {}: {e}", sh.display()));

    print_loop_rows(
        "native busybox sh",
        &bundle,
        Figure::Reported(shell_loop_micros),
        runsc,
        || {
            let mut command = Command::new(busybox);
            command.args(["sh", "-c", script, "sh", &rounds_arg]).arg(true_bin);
            command
        },
    );
}

/// Microseconds per round of a shell loop that printed `ROUNDS COUNT START
/// END`, START and END being `$EPOCHREALTIME` (seconds with six decimals).
/// COUNT must be ROUNDS: a loop cut short would look cheap.
fn shell_loop_micros(stdout: &str) -> Result<f64, String> {
    let last = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split_whitespace().collect();
    let [rounds, count, start, end] = fields[..] else {
        return Err(format!("printed {last:?}, not `ROUNDS COUNT START END`"));
    };
    if count != rounds {
        return Err(format!("the loop stopped at {count}, not {rounds}"));
    }
    let rounds: u32 = rounds
        .parse()
        .map_err(|e| format!("{rounds:?} is not a number of rounds: {e}"))?;
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
