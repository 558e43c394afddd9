//! /proc end to end: a C program reading its own and its child's files
//! (tests/fixtures/procfs.c, sections as in check.h), and busybox `ps` and
//! `cat /proc/self/status` in a busybox bundle. Test bundles mount proc at
//! /proc (see `Spec::to_json`).

use std::fs;
use std::os::unix::fs::symlink;

use crate::common::{Bundle, Spec, Toolchain, assert_contains, run_fixture};

/// One "ok" line per section of procfs.c, in order.
const SECTIONS: &str = "stat ok\nstatus ok\ncmdline ok\nenviron ok\nexe ok\ncwd ok\nfd ok\nmaps ok\n\
                        child ok\nthreads ok\nsystem ok\noom_score_adj ok\n";

#[test]
fn a_process_reads_its_own_proc_glibc() {
    run_fixture("procfs-glibc", "procfs", Toolchain::GlibcStatic, 0, SECTIONS);
}

#[test]
fn a_process_reads_its_own_proc_musl() {
    run_fixture("procfs-musl", "procfs", Toolchain::MuslStatic, 0, SECTIONS);
}

/// A busybox bundle running `sh -c <script>`, with the applets it calls.
fn busybox_bundle(test: &str, script: &str, applets: &[&str]) -> Bundle {
    let bundle = Bundle::with_busybox(test, &Spec::new(&["/bin/sh", "-c", script]));
    let bin = bundle.rootfs().join("bin");
    for applet in applets {
        let link = bin.join(applet);
        if fs::symlink_metadata(&link).is_err() {
            symlink("busybox", &link).unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
        }
    }
    bundle
}

/// `ps` lists the init, a background child and itself, with their pids.
#[test]
fn busybox_ps_lists_the_processes() {
    let bundle = busybox_bundle(
        "procfs-ps",
        "sleep 30 & child=$!; \
         until [ \"$(cat /proc/$child/comm)\" = sleep ]; do :; done; \
         ps -o pid,ppid,comm; echo child=$child; kill $child",
        &["ps", "kill", "cat"],
    );
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    let child = out
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("child="))
        .unwrap_or_else(|| panic!("no child pid printed\n{out}"))
        .to_string();
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(
        rows.first().is_some_and(|header| header == &["PID", "PPID", "COMMAND"]),
        "unexpected ps header\n{out}"
    );
    let has = |pid: &str, ppid: &str, comm: &str| rows.iter().any(|row| row == &[pid, ppid, comm]);
    assert!(has("1", "0", "sh"), "ps does not show the init shell as pid 1\n{out}");
    assert!(has(&child, "1", "sleep"), "ps does not show sleep as {child}\n{out}");
    assert!(
        rows.iter().any(|row| row.len() == 3 && row[1] == "1" && row[2] == "ps"),
        "ps does not show itself\n{out}"
    );
}

/// `cat /proc/self/status` in a busybox shell describes cat.
#[test]
fn busybox_cat_proc_self_status() {
    let bundle = busybox_bundle("procfs-status", "cat /proc/self/status; echo done", &["cat"]);
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    for line in [
        "Name:\tcat\n",
        "State:\tR (running)\n",
        "PPid:\t1\n",
        "Uid:\t0\t0\t0\t0\n",
        "Threads:\t1\n",
    ] {
        assert_contains(&out, &out.stdout, line);
    }
    assert_contains(&out, &out.stdout, "VmRSS:");
    assert_contains(&out, &out.stdout, "done\n");
}

/// Reading /proc/PID/fdinfo/N through a description that fd N shares
/// shows its position (Linux reads it without the lock the read holds):
/// the read does not wait for itself.
#[test]
fn fdinfo_read_through_the_file_it_describes() {
    let bundle = busybox_bundle(
        "procfs-fdinfo-self",
        "exec 4</dev/null; exec 3</proc/$$/fdinfo/4; exec 4<&3; cat <&3; echo done",
        &["cat"],
    );
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    assert_contains(&out, &out.stdout, "pos:\t0\n");
    assert_contains(&out, &out.stdout, "done\n");
}
