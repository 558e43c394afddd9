//! What a container's whole life costs through cordon's control plane, as a
//! ratio against starting the same static `true` natively, and against
//! `runc run` when runc is installed and works here.
//!
//! Run with `cargo bench --bench lifecycle`. Rows, each the median wall time
//! of several runs:
//! - native fork+exec+wait of `true` (the baseline);
//! - `runc run` of a bundle holding only that `true`;
//! - `cordon run` of the same bundle: create, start, wait and delete through
//!   the sandbox process and its socket, in one command;
//! - the same as four commands, `cordon create`, `start`, `wait`, `delete`,
//!   as podman or containerd drive it.
//!
//! Nothing here asserts on time; the numbers to compare between runs are the
//! ratios. The scratch directory under `$CARGO_TARGET_TMPDIR` holds the
//! binary, the bundle and both runtimes' state, and is removed at the end.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;

/// Runs per configuration; the median is reported.
const RUNS: usize = 15;

fn main() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cordon-lifecycle-bench-{}", std::process::id()));
    fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("cannot create {}: {e}", scratch.display()));
    let true_bin = compile_true(&scratch);
    let bundle = write_bundle(&scratch, &true_bin);
    let cordon_root = scratch.join("cordon-root");
    let runc_root = scratch.join("runc-root");

    println!("a container's life, /bin/true: median wall time of {RUNS} runs");
    let native = median_ms(|_| expect(run(&mut Command::new(&true_bin))));
    row("native fork+exec+wait", native, native, None);

    let runc = find_on_path("runc").and_then(|runc| {
        let mut failure = None;
        let figure = median_ms(|n| {
            let id = format!("runc-{}-{n}", std::process::id());
            let mut command = Command::new(&runc);
            command
                .arg("--root")
                .arg(&runc_root)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(&id);
            if let Err(why) = run(&mut command) {
                failure.get_or_insert(why);
            }
        });
        match failure {
            None => Some(figure),
            Some(why) => {
                println!("{:<40} not measured: {why}", "runc run");
                None
            }
        }
    });
    match runc {
        Some(runc) => row("runc run", runc, native, None),
        None if find_on_path("runc").is_none() => println!("{:<40} not measured: runc is not on PATH", "runc run"),
        None => {}
    }

    let cordon_run = median_ms(|n| {
        let id = format!("run-{n}");
        expect(run(cordon(&cordon_root)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)));
    });
    row("cordon run", cordon_run, native, runc);

    let verbs = median_ms(|n| {
        let id = format!("verbs-{n}");
        expect(run(cordon(&cordon_root)
            .args(["create", "--bundle"])
            .arg(&bundle)
            .arg(&id)));
        expect(run(cordon(&cordon_root).args(["start", &id])));
        expect(run(cordon(&cordon_root).args(["wait", &id])));
        expect(run(cordon(&cordon_root).args(["delete", &id])));
    });
    row("cordon create+start+wait+delete", verbs, native, runc);

    if let Err(e) = fs::remove_dir_all(&scratch) {
        eprintln!("cannot remove {}: {e}", scratch.display());
    }
}

/// Prints one row: the figure, its ratio to native, and to runc's if any.
fn row(label: &str, millis: f64, native: f64, runc: Option<f64>) {
    let mut line = format!("{label:<40} {millis:>9.2} ms");
    if millis != native {
        line.push_str(&format!("  {:>7.1}x native", millis / native));
    }
    if let Some(runc) = runc {
        line.push_str(&format!("  {:>5.2}x runc", millis / runc));
    }
    println!("{line}");
}

/// The median wall time of `RUNS` calls of `body` (given the run's index),
/// in milliseconds.
fn median_ms(mut body: impl FnMut(usize)) -> f64 {
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|n| {
            let start = Instant::now();
            body(n);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// `cordon --root ROOT`, the binary cargo built for this bench.
fn cordon(root: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cordon"));
    command.arg("--root").arg(root);
    command
}

/// Runs `command` with no input and its output discarded; Err says why it
/// failed. Its stderr goes to a file, not a pipe: `cordon create` leaves the
/// sandbox process holding it.
fn run(command: &mut Command) -> Result<(), String> {
    let errors = std::env::temp_dir().join(format!("cordon-lifecycle-bench-{}.err", std::process::id()));
    let file = fs::File::create(&errors).map_err(|e| format!("cannot create {}: {e}", errors.display()))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .status()
        .map_err(|e| format!("cannot start: {e}"))?;
    let stderr = fs::read_to_string(&errors).unwrap_or_default();
    let _ = fs::remove_file(&errors);
    match status.success() {
        true => Ok(()),
        false => Err(format!("{status}: {}", stderr.trim())),
    }
}

fn expect(result: Result<(), String>) {
    if let Err(why) = result {
        panic!("a baseline or cordon run failed: {why}");
    }
}

/// Compiles benches/fixtures/true.c statically.
fn compile_true(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fixtures/true.c");
    let binary = dir.join("true");
    let mut gcc = Command::new("gcc");
    gcc.args(["-static", "-O2", "-o"]).arg(&binary).arg(&source);
    run(&mut gcc).unwrap_or_else(|why| panic!("cannot build true.c (needs gcc and static glibc): {why}"));
    binary
}

/// A bundle whose rootfs holds only /bin/true, with the namespaces and
/// /proc mount runc expects (cordon accepts them too).
fn write_bundle(dir: &Path, true_bin: &Path) -> PathBuf {
    let bundle = dir.join("bundle");
    for sub in ["bin", "proc", "dev"] {
        fs::create_dir_all(bundle.join("rootfs").join(sub)).expect("create the rootfs");
    }
    fs::copy(true_bin, bundle.join("rootfs/bin/true")).expect("copy true into the rootfs");
    let config = json!({
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
        "mounts": [{ "destination": "/proc", "type": "proc", "source": "proc" }],
        "linux": {
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
            ],
        },
    });
    fs::write(bundle.join("config.json"), config.to_string()).expect("write config.json");
    bundle
}

/// The first executable called `name` in a directory of `$PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
