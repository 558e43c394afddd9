//! The verbs that report: state (OCI state JSON), ps, list and events, in
//! runc's formats.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use cordon_actors::client::ClientError;
use cordon_actors::protocol::{ContainerStatus, ProcessEntry, WireUsage};
use serde::Serialize;
use serde_json::json;

use super::manage::connect;
use super::{Globals, LifecycleError};
use crate::state::{ContainerDir, ContainerRecord};

/// The runtime-spec version the state JSON follows.
const OCI_VERSION: &str = "1.2.0";

/// The state of a container, as the runtime spec's `state` operation
/// (runtime.md) and runc print it. `pid` is the container's monitor's (the
/// pid file's), which forwards the signals it gets to the container's
/// foreground, else the sandbox process's, which forwards them to its root
/// container's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: &'static str,
    pub id: String,
    /// 0 once stopped, as runc prints it.
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
}

/// The live status of the container a record describes: its sandbox's
/// answer, or stopped when the sandbox process is gone or cannot answer.
/// A sandbox that refuses this user is an error: it runs, and says so.
fn live_status(dir: &ContainerDir, record: &ContainerRecord) -> Result<ContainerStatus, LifecycleError> {
    if !record.sandbox_alive() {
        return Ok(ContainerStatus::Stopped);
    }
    match dir.connect().and_then(|mut client| client.state(&record.id)) {
        Ok(state) => Ok(state.status),
        Err(err) if is_refusal(&err) => Err(LifecycleError::from_client(&record.id, err)),
        Err(_) => Ok(ContainerStatus::Stopped),
    }
}

/// Whether the sandbox, or its socket's mode, refused this user.
fn is_refusal(err: &ClientError) -> bool {
    match err {
        ClientError::PermissionDenied => true,
        ClientError::Connect { source, .. } => source.kind() == io::ErrorKind::PermissionDenied,
        _ => false,
    }
}

/// The OCI state of the container a record describes.
fn live_state(dir: &ContainerDir, record: &ContainerRecord) -> Result<OciState, LifecycleError> {
    let status = live_status(dir, record)?;
    Ok(OciState {
        oci_version: OCI_VERSION,
        id: record.id.clone(),
        pid: match (status, record.monitor) {
            (ContainerStatus::Stopped, _) => 0,
            (_, Some(monitor)) if monitor.alive() => monitor.pid,
            (_, _) => record.sandbox_pid,
        },
        status: status.to_string(),
        bundle: record.bundle.clone(),
        rootfs: record.rootfs.clone(),
        created: record.created.clone(),
        owner: record.owner.clone(),
        annotations: record.annotations.clone(),
    })
}

fn print(text: &str) -> Result<(), LifecycleError> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(LifecycleError::Output)
}

/// `cordon state ID`.
pub fn state(globals: &Globals, id: &str) -> Result<(), LifecycleError> {
    let dir = globals.root.open(id)?;
    let record = dir.read_record()?;
    let state = live_state(&dir, &record)?;
    let mut text = serde_json::to_string_pretty(&state).expect("a state always serializes");
    text.push('\n');
    print(&text)
}

/// How `ps` and `list` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `cordon ps ID`: a table of the container's processes, or with `json`
/// their pids as runc prints them.
pub fn ps(globals: &Globals, id: &str, format: Format) -> Result<(), LifecycleError> {
    let mut connected = connect(globals, id)?;
    let processes = connected
        .client
        .processes(id)
        .map_err(|err| LifecycleError::from_client(id, err))?;
    print(&match format {
        Format::Json => {
            let pids: Vec<i32> = processes.iter().map(|process| process.pid).collect();
            format!("{}\n", serde_json::to_string(&pids).expect("pids serialize"))
        }
        Format::Table => process_table(&processes),
    })
}

fn process_table(processes: &[ProcessEntry]) -> String {
    let mut table = format!("{:<8}{:<8}{:<6}{:<10}{}\n", "PID", "PPID", "STAT", "STIME", "CMD");
    for process in processes {
        let started = UNIX_EPOCH + Duration::from_secs(process.started_unix);
        // HH:MM, UTC, as ps shows a process started today.
        let time = &crate::state::rfc3339(started)[11..16];
        table.push_str(&format!(
            "{:<8}{:<8}{:<6}{:<10}{}\n",
            process.pid, process.ppid, process.state, time, process.command
        ));
    }
    table
}

/// `cordon list`: every container under the state root.
pub fn list(globals: &Globals, format: Format, quiet: bool) -> Result<(), LifecycleError> {
    let states: Vec<OciState> = globals
        .root
        .list()?
        .iter()
        .filter_map(|dir| dir.read_record().ok().map(|record| live_state(dir, &record)))
        .collect::<Result<_, _>>()?;
    if quiet {
        return print(&states.iter().map(|state| format!("{}\n", state.id)).collect::<String>());
    }
    print(&match format {
        Format::Json => format!("{}\n", serde_json::to_string(&states).expect("states serialize")),
        Format::Table => {
            let mut table = format!(
                "{:<12}{:<10}{:<10}{:<40}{:<33}{}\n",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"
            );
            for state in &states {
                table.push_str(&format!(
                    "{:<12}{:<10}{:<10}{:<40}{:<33}{}\n",
                    state.id,
                    state.pid,
                    state.status,
                    state.bundle.display(),
                    state.created,
                    state.owner
                ));
            }
            table
        }
    })
}

/// One `stats` event, shaped (and ordered) as runc prints it: type, id,
/// then cpu, memory and pids data.
fn stats_event(id: &str, usage: &WireUsage) -> String {
    #[derive(Serialize)]
    struct Event<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: &'a str,
        data: serde_json::Value,
    }
    let event = Event {
        kind: "stats",
        id,
        data: json!({
            "cpu": { "usage": { "total": usage.cpu_time_ns } },
            "memory": { "usage": { "usage": usage.memory_bytes } },
            "pids": { "current": usage.processes },
        }),
    };
    format!(
        "{}\n",
        serde_json::to_string(&event).expect("an event always serializes")
    )
}

/// `cordon events ID`: a stats event every `interval` until the container
/// stops, or with `once` (`--stats`) a single one.
pub fn events(globals: &Globals, id: &str, once: bool, interval: Duration) -> Result<(), LifecycleError> {
    let mut connected = connect(globals, id)?;
    loop {
        let stats = connected.client.stats(id);
        let usage = match stats {
            Ok(usage) => usage,
            // Gone between two events: the stream ends with the container.
            Err(_) if !once && !connected.record.sandbox_alive() => return Ok(()),
            Err(err) => return Err(LifecycleError::from_client(id, err)),
        };
        print(&stats_event(id, &usage))?;
        if once {
            return Ok(());
        }
        thread::sleep(interval);
        // Each round on a fresh connection: an interval may outlast the
        // sandbox's idle timeout.
        if live_status(&connected.dir, &connected.record)? == ContainerStatus::Stopped {
            return Ok(());
        }
        match connected.dir.connect() {
            Ok(client) => connected.client = client,
            Err(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_events_have_runc_s_shape() {
        let usage = WireUsage {
            cpu_time_ns: 5,
            memory_bytes: 4096,
            processes: 2,
        };
        let event: serde_json::Value = serde_json::from_str(&stats_event("box", &usage)).expect("JSON");
        assert_eq!(event["type"], "stats");
        assert_eq!(event["id"], "box");
        assert_eq!(event["data"]["cpu"]["usage"]["total"], 5);
        assert_eq!(event["data"]["memory"]["usage"]["usage"], 4096);
        assert_eq!(event["data"]["pids"]["current"], 2);
    }

    #[test]
    fn process_tables_have_a_header_and_a_row_each() {
        let table = process_table(&[ProcessEntry {
            pid: 1,
            ppid: 0,
            command: "sleep".to_owned(),
            state: 'S',
            started_unix: 0,
        }]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("PID"));
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["1", "0", "S", "00:00", "sleep"]
        );
    }
}
