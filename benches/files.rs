//! What file I/O and a program's start cost on cordon, as ratios against the
//! same work done natively in the same run, and against runsc when it is
//! installed.
//!
//! Run with `cargo bench --bench files`. As in the `syscalls` bench, the
//! numbers to compare between runs are the ratios; nothing asserts on time.
//!
//! Measured, each figure timed inside the program unless said otherwise:
//! - sequential write, and read back, of a 1 GiB file in 1 MiB requests
//!   (`seq_io.c`), per MiB: on a tmpfs (the host's /dev/shm natively; a
//!   bundle's /dev/shm tmpfs mount under cordon and runsc) and on the memory
//!   overlay of the host's root (/tmp under `cordon do` and `runsc do`;
//!   natively, a file on the disk file system holding the bench's scratch
//!   directory, which stays in the page cache);
//! - stat of each of 10 000 files the program creates first
//!   (`stat_files.c`), per stat, in /tmp under `cordon do` and `runsc do`;
//! - the wall time of `python3 -c pass` (Debian's /usr/bin/python3, package
//!   python3): the interpreter's start, with cordon's and runsc's own.
//!
//! runsc is Debian's, run with `--platform=ptrace` when it is on PATH and can
//! run here; otherwise one line says why not.

mod common;

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

use serde_json::json;

use common::{
    Figure, Row, Runsc, Sandboxed, Scratch, Unit, compile, cordon, cordon_bin, last_line_number, measure, write_bundle,
};

/// The size of the file written and read, in MiB.
const IO_MIB: u32 = 1024;
/// Runs of each I/O measurement per configuration; the median is reported.
const IO_RUNS: usize = 3;
/// The files `stat_files` creates, and how many times it stats each.
const STAT_FILES: u32 = 10_000;
const STAT_PASSES: u32 = 3;
/// Runs of the stat loop per configuration.
const STAT_RUNS: usize = 3;
/// Runs of `python3 -c pass` per configuration.
const PYTHON_RUNS: usize = 10;
/// Debian's python3, named by path so that no shim on PATH stands in.
const PYTHON3: &str = "/usr/bin/python3";

/// The label of runsc's rows for `runsc do`.
const RUNSC_DO_LABEL: &str = "runsc do --platform=ptrace";

/// Which way `seq_io` moves the data.
#[derive(Clone, Copy)]
enum Direction {
    Write,
    Read,
}

impl Direction {
    fn arg(self) -> &'static str {
        match self {
            Direction::Write => "write",
            Direction::Read => "read",
        }
    }
}

fn main() {
    let scratch = Scratch::create();
    let seq_io = compile("seq_io.c", scratch.path());
    let stat_files = compile("stat_files.c", scratch.path());
    let mut runsc = Runsc::find(scratch.path());

    println!("cordon benchmarks: {}", cordon_bin().display());
    for direction in [Direction::Write, Direction::Read] {
        println!();
        tmpfs_io_table(scratch.path(), &seq_io, direction, &mut runsc);
        println!();
        overlay_io_table(scratch.path(), &seq_io, direction, &mut runsc);
    }
    println!();
    stat_table(scratch.path(), &stat_files, &mut runsc);
    println!();
    python_table(&mut runsc);
}

/// `seq_io <direction> <path> IO_MIB` as arguments.
fn seq_io_args(direction: Direction, path: &str) -> Vec<String> {
    vec![direction.arg().to_owned(), path.to_owned(), IO_MIB.to_string()]
}

/// Prints the cost per MiB of sequential I/O on a tmpfs: the host's /dev/shm
/// natively, then a bundle whose /dev/shm is a tmpfs mount under runsc and
/// cordon.
fn tmpfs_io_table(scratch: &Path, seq_io: &Path, direction: Direction, runsc: &mut Runsc) {
    println!(
        "sequential {} of a {IO_MIB} MiB file on a tmpfs (/dev/shm), per MiB, median of {IO_RUNS} runs",
        direction.arg()
    );
    let native_path = format!("/dev/shm/cordon-bench-{}", std::process::id());
    let native = measure(IO_RUNS, Figure::Reported(last_line_number), || {
        let mut command = Command::new(seq_io);
        command.args(seq_io_args(direction, &native_path));
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native", Unit::Micros, native).print();

    let args = seq_io_args(direction, "/dev/shm/file");
    let argv: Vec<&str> = std::iter::once("/bin/seq_io")
        .chain(args.iter().map(String::as_str))
        .collect();
    let shm = json!({
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "nodev", "mode=1777", format!("size={}m", IO_MIB + 64)],
    });
    let name = format!("tmpfs-{}", direction.arg());
    let bundle = write_bundle(scratch, &name, &[("seq_io", seq_io)], &argv, &[shm]);
    let sandboxed = Sandboxed {
        bundle: &bundle,
        runs: IO_RUNS,
        runsc_runs: IO_RUNS,
        figure: Figure::Reported(last_line_number),
        unit: Unit::Micros,
    };
    sandboxed.print_rows(native, runsc);
}

/// Prints the cost per MiB of sequential I/O on the memory overlay of the
/// host's root (/tmp under `cordon do` and `runsc do`); natively, on the
/// scratch directory's file system.
fn overlay_io_table(scratch: &Path, seq_io: &Path, direction: Direction, runsc: &mut Runsc) {
    println!(
        "sequential {} of a {IO_MIB} MiB file on the host root's overlay (/tmp), per MiB, median of {IO_RUNS} runs",
        direction.arg()
    );
    let native_path = scratch.join("seq-io-file");
    let native_path = native_path.to_str().expect("the scratch path is UTF-8");
    let native = measure(IO_RUNS, Figure::Reported(last_line_number), || {
        let mut command = Command::new(seq_io);
        command.args(seq_io_args(direction, native_path));
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native (disk, page cache)", Unit::Micros, native).print();
    let sandbox_path = format!("/tmp/cordon-bench-{}", std::process::id());
    let mut program: Vec<OsString> = vec![seq_io.as_os_str().to_owned()];
    program.extend(seq_io_args(direction, &sandbox_path).into_iter().map(OsString::from));
    print_do_rows(
        &program,
        IO_RUNS,
        Figure::Reported(last_line_number),
        Unit::Micros,
        native,
        runsc,
    );
}

/// Prints the cost of one stat among `STAT_FILES` files, natively in the
/// scratch directory and in /tmp under `runsc do` and `cordon do`.
fn stat_table(scratch: &Path, stat_files: &Path, runsc: &mut Runsc) {
    println!(
        "stat of each of {STAT_FILES} files, {STAT_PASSES} passes, per stat, median of {STAT_RUNS} runs \
         (native: the scratch directory; sandboxed: /tmp)"
    );
    let counts = [STAT_FILES.to_string(), STAT_PASSES.to_string()];
    let native_dir = scratch.join("stat-files");
    let native = measure(STAT_RUNS, Figure::Reported(last_line_number), || {
        let mut command = Command::new(stat_files);
        command.arg(&native_dir).args(&counts);
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native", Unit::Nanos, native).print();
    let sandbox_dir = format!("/tmp/cordon-bench-stat-{}", std::process::id());
    let program: Vec<OsString> = [stat_files.as_os_str(), OsStr::new(&sandbox_dir)]
        .into_iter()
        .map(OsStr::to_owned)
        .chain(counts.iter().map(OsString::from))
        .collect();
    print_do_rows(
        &program,
        STAT_RUNS,
        Figure::Reported(last_line_number),
        Unit::Nanos,
        native,
        runsc,
    );
}

/// Prints the wall time of `python3 -c pass`, natively, under `runsc do` and
/// under `cordon do`.
fn python_table(runsc: &mut Runsc) {
    println!("{PYTHON3} -c pass, median wall time of {PYTHON_RUNS} runs (sandboxed: with the sandbox's start)");
    assert!(Path::new(PYTHON3).is_file(), "{PYTHON3} not found: install python3");
    let native = measure(PYTHON_RUNS, Figure::WallMillis, || {
        let mut command = Command::new(PYTHON3);
        command.args(["-c", "pass"]);
        command
    })
    .unwrap_or_else(|failure| panic!("{failure}"));
    Row::baseline("native", Unit::Millis, native).print();
    let program: Vec<OsString> = [PYTHON3, "-c", "pass"].into_iter().map(OsString::from).collect();
    print_do_rows(&program, PYTHON_RUNS, Figure::WallMillis, Unit::Millis, native, runsc);
}

/// Prints the rows of `program` (its path and arguments) run on the host's
/// root: under `runsc do` (or why not), then under `cordon do` pinned and
/// not, each compared with `native` and with runsc's figure.
fn print_do_rows(program: &[OsString], runs: usize, figure: Figure, unit: Unit, native: f64, runsc: &mut Runsc) {
    let runsc_figure = runsc.measure(runs, figure, |_id| {
        // runsc do names its container itself.
        std::iter::once(OsString::from("do"))
            .chain(program.iter().cloned())
            .collect()
    });
    match &runsc_figure {
        Ok(value) => Row::compared(RUNSC_DO_LABEL, unit, *value, native).print(),
        Err(why) => println!("  {RUNSC_DO_LABEL:<32} skipped: {why}"),
    }
    for pin in [true, false] {
        let sandboxed = measure(runs, figure, || {
            let mut command = cordon(pin);
            command.arg("do").arg("--").args(program);
            command
        })
        .unwrap_or_else(|failure| panic!("cordon do runs {}: {failure}", program[0].to_string_lossy()));
        let label = format!("cordon do --pin-cpu {pin}");
        let mut row = Row::compared(&label, unit, sandboxed, native);
        if let Ok(runsc) = runsc_figure {
            row = row.versus_runsc(runsc);
        }
        row.print();
    }
}
