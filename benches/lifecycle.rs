//! What a container's life and its control verbs cost through cordon's
//! control plane, as ratios against native runs of the same static
//! programs, and against runc and gVisor's runsc (`--platform=ptrace`) when
//! they are installed and work here.
//!
//! Run with `cargo bench --bench lifecycle`. Rows, each the median wall time
//! of several runs:
//! - a whole life of `/bin/true`: native fork+exec+wait (the baseline),
//!   `runc run`, `runsc run`, `cordon run` (create, start, wait and delete
//!   through the sandbox process and its socket, in one command), and the
//!   same as four commands, `cordon create`, `start`, `wait`, `delete`, as
//!   podman or containerd drive it;
//! - on a running container of one bundle (its init waits in pause(2)),
//!   under each runtime: the control round trip, `state ID`; and
//!   `exec ID /bin/true` from the command to its exit, also against native
//!   fork+exec+wait.
//!
//! Nothing here asserts on time; the numbers to compare between runs are the
//! ratios. The scratch directory under `$CARGO_TARGET_TMPDIR` holds the
//! binaries, the bundles and every runtime's state; the running containers
//! are deleted and the directory removed at the end.

use std::ffi::OsString;
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
    let true_bin = compile(&scratch, "true");
    let pause_bin = compile(&scratch, "pause");
    let programs = [("true", true_bin.as_path()), ("pause", pause_bin.as_path())];
    let once = write_bundle(&scratch, "once", &programs, "/bin/true");
    let service = write_bundle(&scratch, "service", &programs, "/bin/pause");
    let cordon_runtime = Runtime {
        name: "cordon",
        binary: PathBuf::from(env!("CARGO_BIN_EXE_cordon")),
        global: vec!["--root".into(), scratch.join("cordon-root").into()],
    };
    let runc = Runtime::runc(&scratch);
    let runsc = Runtime::runsc(&scratch);

    println!("a container's life, /bin/true: median wall time of {RUNS} runs");
    let native = median_ms(|_| run(&mut Command::new(&true_bin))).expect("native true runs");
    row("native fork+exec+wait", native, &[]);
    let run_once = |runtime: &Runtime| {
        median_ms(|n| {
            let id = format!("{}-{}-{n}", runtime.name, std::process::id());
            run(runtime.command().args(["run", "--bundle"]).arg(&once).arg(&id))
        })
    };
    let runc_run = runc.clone().and_then(|runc| run_once(&runc));
    report("runc run", &runc_run, &[("native", Ok(native))]);
    let runsc_run = runsc.clone().and_then(|runsc| run_once(&runsc));
    report("runsc run", &runsc_run, &[("native", Ok(native))]);
    let baselines = [("native", Ok(native)), ("runc", runc_run), ("runsc", runsc_run)];
    let cordon_run = run_once(&cordon_runtime).unwrap_or_else(|why| panic!("cordon run failed: {why}"));
    row("cordon run", cordon_run, &baselines);
    let verbs = median_ms(|n| {
        let id = format!("verbs-{n}");
        let verb = |args: &[&str]| run(cordon_runtime.command().args(args));
        run(cordon_runtime
            .command()
            .args(["create", "--bundle"])
            .arg(&once)
            .arg(&id))?;
        verb(&["start", &id])?;
        verb(&["wait", &id])?;
        verb(&["delete", &id])
    })
    .unwrap_or_else(|why| panic!("cordon's verbs failed: {why}"));
    row("cordon create+start+wait+delete", verbs, &baselines);

    println!();
    println!("a running container (its init in pause(2)): median wall time of {RUNS} runs");
    // Each running container is deleted when its `Service` drops, before the
    // scratch directory goes.
    let services: Vec<(&str, Result<Service, String>)> = [Ok(cordon_runtime), runc, runsc]
        .into_iter()
        .zip(["cordon", "runc", "runsc"])
        .map(|(runtime, name)| (name, runtime.and_then(|runtime| Service::start(runtime, &service))))
        .collect();
    if let Err(why) = &services[0].1 {
        panic!("cordon cannot run the service bundle: {why}");
    }
    let verb = |args: &[&str]| -> Vec<(&str, Result<f64, String>)> {
        services
            .iter()
            .map(|(name, service)| {
                let figure = service
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|service| median_ms(|_| run(&mut service.command(args))));
                (*name, figure)
            })
            .collect()
    };

    let state = verb(&["state"]);
    report("runc state", &state[1].1, &[]);
    report("runsc state", &state[2].1, &[]);
    let cordon_failed = |why| panic!("cordon failed on a running container: {why}");
    row(
        "cordon state",
        state[0].1.clone().unwrap_or_else(cordon_failed),
        &state[1..],
    );

    let exec = verb(&["exec", "/bin/true"]);
    let mut exec_baselines = vec![("native", Ok(native))];
    exec_baselines.extend(exec[1..].iter().cloned());
    report("runc exec /bin/true", &exec[1].1, &exec_baselines[..1]);
    report("runsc exec /bin/true", &exec[2].1, &exec_baselines[..1]);
    row(
        "cordon exec /bin/true",
        exec[0].1.clone().unwrap_or_else(cordon_failed),
        &exec_baselines,
    );

    drop(services);
    if let Err(e) = fs::remove_dir_all(&scratch) {
        eprintln!("cannot remove {}: {e}", scratch.display());
    }
}

/// An OCI runtime, with the global flags it is run with here.
#[derive(Clone)]
struct Runtime {
    name: &'static str,
    binary: PathBuf,
    global: Vec<OsString>,
}

impl Runtime {
    /// runc, with its state under `scratch`, or why it is not measured.
    fn runc(scratch: &Path) -> Result<Runtime, String> {
        Ok(Runtime {
            name: "runc",
            binary: find_on_path("runc").ok_or("runc is not on PATH")?,
            global: vec!["--root".into(), scratch.join("runc-root").into()],
        })
    }

    /// runsc on its ptrace platform without a network stack, with its state
    /// under `scratch`, or why it is not measured.
    fn runsc(scratch: &Path) -> Result<Runtime, String> {
        let mut global: Vec<OsString> = vec!["--root".into(), scratch.join("runsc-root").into()];
        global.extend(["--platform=ptrace", "--network=none"].map(OsString::from));
        Ok(Runtime {
            name: "runsc",
            binary: find_on_path("runsc").ok_or("runsc is not on PATH")?,
            global,
        })
    }

    /// `<runtime> <global flags>`, ready for a verb.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(&self.global);
        command
    }
}

/// A container created and started from a bundle, force-deleted on drop.
struct Service {
    runtime: Runtime,
    id: String,
}

impl Service {
    fn start(runtime: Runtime, bundle: &Path) -> Result<Service, String> {
        let id = format!("service-{}", std::process::id());
        let service = Service { runtime, id };
        let mut create = service.runtime.command();
        create.args(["create", "--bundle"]).arg(bundle).arg(&service.id);
        run(&mut create)?;
        run(&mut service.command(&["start"]))?;
        Ok(service)
    }

    /// `<runtime> <verb> ID <args…>` for `[verb, args…]`.
    fn command(&self, verb_and_args: &[&str]) -> Command {
        let (verb, args) = verb_and_args.split_first().expect("a verb");
        let mut command = self.runtime.command();
        command.arg(verb).arg(&self.id).args(args);
        command
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let mut delete = self.runtime.command();
        delete.args(["delete", "--force", &self.id]);
        if let Err(why) = run(&mut delete) {
            eprintln!("cannot delete the {} container {}: {why}", self.runtime.name, self.id);
        }
    }
}

/// Prints a row for `figure`, or why there is none.
fn report(label: &str, figure: &Result<f64, String>, baselines: &[(&str, Result<f64, String>)]) {
    match figure {
        Ok(millis) => row(label, *millis, baselines),
        Err(why) => println!("{label:<40} not measured: {why}"),
    }
}

/// Prints one row: the figure and its ratio to each baseline measured.
fn row(label: &str, millis: f64, baselines: &[(&str, Result<f64, String>)]) {
    let mut line = format!("{label:<40} {millis:>9.2} ms");
    for (name, baseline) in baselines {
        if let Ok(baseline) = baseline {
            line.push_str(&format!("  {:>7.2}x {name}", millis / baseline));
        }
    }
    println!("{line}");
}

/// The median wall time of `RUNS` calls of `body` (given the run's index),
/// in milliseconds, or the first failure.
fn median_ms(mut body: impl FnMut(usize) -> Result<(), String>) -> Result<f64, String> {
    let mut samples = Vec::with_capacity(RUNS);
    for n in 0..RUNS {
        let start = Instant::now();
        body(n)?;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Runs `command` with no input and its output discarded; Err says why it
/// failed. Its stderr goes to a file, not a pipe: `create` leaves the
/// sandbox process (or runc's init) holding it.
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

/// Compiles benches/fixtures/<name>.c statically into `dir`.
fn compile(dir: &Path, name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/fixtures/{name}.c"));
    let binary = dir.join(name);
    let mut gcc = Command::new("gcc");
    gcc.args(["-static", "-O2", "-o"]).arg(&binary).arg(&source);
    run(&mut gcc).unwrap_or_else(|why| panic!("cannot build {name}.c (needs gcc and static glibc): {why}"));
    binary
}

/// A bundle `<dir>/<name>` whose rootfs holds `programs` (as /bin/<name>)
/// and whose init is `program`, with the namespaces and /proc mount runc and
/// runsc expect (cordon accepts them too).
fn write_bundle(dir: &Path, name: &str, programs: &[(&str, &Path)], program: &str) -> PathBuf {
    let bundle = dir.join(name);
    for sub in ["bin", "proc", "dev"] {
        fs::create_dir_all(bundle.join("rootfs").join(sub)).expect("create the rootfs");
    }
    for (name, binary) in programs {
        fs::copy(binary, bundle.join("rootfs/bin").join(name)).expect("copy a program into the rootfs");
    }
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": [program],
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
