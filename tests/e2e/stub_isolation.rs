//! The ptrace platform's stub process, seen from the host while application
//! code runs in it: it must hold nothing of cordon's (no cordon mappings, no
//! heap or stack of its own, no file descriptor but the memory file), run
//! under seccomp and a tracer, and die with its tracer (PTRACE_O_EXITKILL).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::{Bundle, RUN_TIMEOUT, Spec, children_of, descendants_of, poll, proc_status_field};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long cordon may take to start the application and settle its stub.
const SETTLE: Duration = Duration::from_secs(15);

/// How long the stub may outlive a SIGKILLed tracer.
const EXIT_KILL: Duration = Duration::from_secs(2);

/// Every way `stub` falls short of holding only the memory file; empty when
/// it is clean. `cordon` is the cordon process, `cordon_exe` its binary.
fn stub_problems(stub: u32, cordon: u32, cordon_exe: &Path) -> Vec<String> {
    let mut problems = Vec::new();

    match fs::read_to_string(format!("/proc/{stub}/maps")) {
        Err(e) => problems.push(format!("cannot read /proc/{stub}/maps: {e}")),
        Ok(maps) => {
            let exe = cordon_exe.to_string_lossy();
            for line in maps.lines() {
                if line.contains(exe.as_ref()) {
                    problems.push(format!("maps the cordon binary: {line}"));
                }
                if line.ends_with("[heap]") || line.ends_with("[stack]") {
                    problems.push(format!("has a heap or stack: {line}"));
                }
            }
            if !maps.lines().any(|l| l.ends_with("[vsyscall]")) {
                problems.push(format!("no [vsyscall] line (is this the stub?):\n{maps}"));
            }
        }
    }

    match fs::read_dir(format!("/proc/{stub}/fd")) {
        Err(e) => problems.push(format!("cannot list /proc/{stub}/fd: {e}")),
        Ok(entries) => {
            let fds: Vec<String> = entries
                .flatten()
                .map(|e| {
                    let target = fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_else(|err| format!("<{err}>"));
                    format!("{} -> {target}", e.file_name().to_string_lossy())
                })
                .collect();
            let only_memfd = fds.len() == 1 && fds[0].split(" -> ").nth(1).is_some_and(|t| t.starts_with("/memfd:"));
            if !only_memfd {
                problems.push(format!("fds other than exactly one memfd: {fds:?}"));
            }
        }
    }

    match fs::read_to_string(format!("/proc/{stub}/status")) {
        Err(e) => problems.push(format!("cannot read /proc/{stub}/status: {e}")),
        Ok(status) => {
            if !status.lines().any(|l| l == "Seccomp:\t2") {
                let seccomp = status.lines().find(|l| l.starts_with("Seccomp:"));
                problems.push(format!("not in seccomp filter mode: {seccomp:?}"));
            }
        }
    }

    let tracer = proc_status_field(stub, "TracerPid").and_then(|t| t.parse::<u32>().ok());
    match tracer {
        None | Some(0) => problems.push(format!("not traced: TracerPid {tracer:?}")),
        Some(tracer) => {
            // The tracer is a thread of cordon or of a process cordon started.
            let tgid = proc_status_field(tracer, "Tgid").and_then(|t| t.parse::<u32>().ok());
            let ours = tgid.is_some_and(|t| t == cordon || descendants_of(cordon).contains(&t));
            if !ours {
                problems.push(format!("traced by {tracer} (thread group {tgid:?}), not by cordon"));
            }
        }
    }
    problems
}

#[test]
fn stub_holds_only_the_memory_file_and_dies_with_its_tracer() {
    // The sleep only has to outlast the checks; cordon is killed right after.
    let bundle = Bundle::with_busybox("stub", &Spec::new(&["/bin/busybox", "sleep", "30"]));
    let mut running = crate::common::spawn_cordon(&bundle.run_args(&[]));
    let reaper = running.reaper_pid();
    let cordon_exe = fs::canonicalize(crate::common::cordon_bin()).expect("canonicalize the cordon binary");

    let Some(cordon) = poll(SETTLE, || children_of(reaper).first().copied()) else {
        panic!("cordon never started\n{}", running.wait(RUN_TIMEOUT));
    };

    // The stub is the one process below cordon without children of its own.
    // Right after it is created it may still look like cordon; poll until it
    // has settled, or report how it looked last.
    let mut last_seen = Vec::new();
    let stub = poll(SETTLE, || {
        if !running.is_running() {
            return Some(None);
        }
        let leaves: Vec<u32> = descendants_of(cordon)
            .into_iter()
            .filter(|&p| children_of(p).is_empty())
            .collect();
        match leaves.as_slice() {
            &[stub] => {
                last_seen = stub_problems(stub, cordon, &cordon_exe);
                last_seen.is_empty().then_some(Some(stub))
            }
            other => {
                last_seen = vec![format!("expected one stub process below cordon, found {other:?}")];
                None
            }
        }
    });
    let stub = match stub {
        Some(Some(stub)) => stub,
        Some(None) => panic!(
            "cordon ended before its stub could be inspected\n{}",
            running.wait(RUN_TIMEOUT)
        ),
        None => panic!("the stub never settled within {SETTLE:?}:\n{}", last_seen.join("\n")),
    };

    // The sandbox process (the stub's tracer, below `cordon run`) confines
    // itself before the application runs (DESIGN.md §1).
    let sandbox = proc_status_field(stub, "TracerPid")
        .and_then(|tracer| proc_status_field(tracer.parse().ok()?, "Tgid"))
        .and_then(|tgid| tgid.parse::<u32>().ok())
        .expect("the settled stub has a tracer");
    assert_eq!(
        proc_status_field(sandbox, "Seccomp").as_deref(),
        Some("2"),
        "the sandbox process is not under its seccomp filter"
    );

    let cordon_pid = Pid::from_raw(i32::try_from(cordon).expect("pids fit i32"));
    kill(cordon_pid, Signal::SIGKILL).expect("SIGKILL cordon");
    let gone = poll(EXIT_KILL, || crate::common::process_is_dead(stub).then_some(()));
    assert!(
        gone.is_some(),
        "stub {stub} still alive {EXIT_KILL:?} after its tracer was killed: {:?}",
        proc_status_field(stub, "State")
    );

    let out = running.wait(RUN_TIMEOUT);
    assert_eq!(out.signal, Some(libc::SIGKILL), "cordon was not the one killed\n{out}");
    out.assert_no_leftover();
}
