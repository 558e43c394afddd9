//! The root and the spec's mounts as the host sees them: writes to a
//! read-write bind mount (and, with `--overlay=none`, to a writable root)
//! reach the host; a read-only bind mount refuses them; under the default
//! memory overlay the host rootfs is never written; a tmpfs holds no more
//! than its `size=`.

use std::fs;
use std::path::Path;

use serde_json::json;

use crate::common::{Bundle, Spec};

/// Every busybox tool the scripts below use is run as `busybox <tool>`.
const SCRIPT_PREFIX: &str = "b=/bin/busybox; ";

/// A busybox bundle running `script`, with root.readonly set to `readonly`
/// and, when `volume` names a mount option ("rw" or "ro"), the bundle's own
/// `vol/` directory (holding `keep`) bind-mounted at /vol.
fn bundle(test: &str, script: &str, volume: Option<&str>, readonly: bool) -> Bundle {
    let full = format!("{SCRIPT_PREFIX}{script}");
    let spec = Spec::new(&["/bin/busybox", "sh", "-c", &full]);
    let bundle = Bundle::with_busybox(test, &spec);
    let mut config = spec.to_json();
    config["root"]["readonly"] = json!(readonly);
    if let Some(mode) = volume {
        let vol = bundle.path().join("vol");
        fs::create_dir_all(&vol).expect("create the host directory");
        fs::write(vol.join("keep"), "original\n").expect("write a host file");
        let mount = json!({ "destination": "/vol", "type": "bind", "source": vol, "options": ["rbind", mode] });
        config["mounts"]
            .as_array_mut()
            .expect("the test spec has mounts")
            .push(mount);
    }
    bundle.write_config_json(&config);
    bundle
}

#[test]
fn read_write_bind_mount_writes_through_to_the_host() {
    let script = "cd /vol && $b cat keep && echo new > made && $b mkdir d && $b mv made d/moved && \
                  $b chmod 640 d/moved && $b ln -s d/moved link && $b rm keep && $b cat link";
    let bundle = bundle("bind-rw", script, Some("rw"), true);
    let vol = bundle.path().join("vol");
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout("original\nnew\n")
        .assert_no_leftover();
    assert!(!vol.join("keep").exists(), "rm reached the host");
    assert_eq!(fs::read_to_string(vol.join("d/moved")).unwrap(), "new\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(vol.join("d/moved")).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(fs::read_link(vol.join("link")).unwrap(), Path::new("d/moved"));
}

#[test]
fn read_only_bind_mount_refuses_writes() {
    let script = "cd /vol && $b cat keep && (echo x > made) 2>&1; $b rm keep 2>&1; echo done";
    let bundle = bundle("bind-ro", script, Some("ro"), true);
    let vol = bundle.path().join("vol");
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    assert!(out.stdout.starts_with("original\n"), "{out}");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(out.stdout.ends_with("done\n"), "{out}");
    assert_eq!(fs::read_to_string(vol.join("keep")).unwrap(), "original\n");
    assert!(!vol.join("made").exists());
}

#[test]
fn memory_overlay_keeps_root_writes_off_the_host() {
    let script = "echo inside > /written && $b cat /written && $b rm /bin/busybox.keep && \
                  ($b test -e /bin/busybox.keep || echo gone)";
    let bundle = bundle("overlay-memory", script, None, false);
    fs::write(bundle.rootfs().join("bin/busybox.keep"), "k").unwrap();
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout("inside\ngone\n")
        .assert_no_leftover();
    assert!(
        !bundle.rootfs().join("written").exists(),
        "the write stayed in the sandbox"
    );
    assert!(
        bundle.rootfs().join("bin/busybox.keep").exists(),
        "the delete stayed in the sandbox"
    );
}

#[test]
fn overlay_none_writes_to_a_writable_root() {
    let bundle = bundle(
        "overlay-none",
        "echo through > /written && $b cat /written",
        None,
        false,
    );
    bundle
        .run(&["--overlay=none"])
        .assert_code(0)
        .assert_stdout("through\n")
        .assert_no_leftover();
    assert_eq!(
        fs::read_to_string(bundle.rootfs().join("written")).unwrap(),
        "through\n"
    );
}

#[test]
fn overlay_none_with_a_read_only_root_is_erofs() {
    let out = bundle("overlay-none-ro", "echo x > /written", None, true).run(&["--overlay=none"]);
    // The mount points are made (as runc makes them); the application's
    // own write is what fails.
    assert_ne!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("can't create /written: Read-only file system"),
        "{out}"
    );
}

/// A tmpfs from the spec holds at most its `size=`: a write past it is
/// ENOSPC, and removing files gives the space back.
#[test]
fn tmpfs_mount_is_limited_to_its_size() {
    let script = "$b grep ' /data ' /proc/mounts; \
                  $b dd if=/dev/zero of=/data/small bs=64k count=8 2>/dev/null && echo small written; \
                  $b dd if=/dev/zero of=/data/big bs=64k count=16 2>&1 | $b grep -o 'No space left on device'; \
                  $b rm /data/small /data/big && \
                  $b dd if=/dev/zero of=/data/again bs=64k count=12 2>/dev/null && echo space returned";
    let full = format!("{SCRIPT_PREFIX}{script}");
    let spec = Spec::new(&["/bin/busybox", "sh", "-c", &full]);
    let bundle = Bundle::with_busybox("tmpfs-size", &spec);
    let mut config = spec.to_json();
    let mount =
        json!({ "destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"] });
    config["mounts"]
        .as_array_mut()
        .expect("the test spec has mounts")
        .push(mount);
    bundle.write_config_json(&config);
    bundle
        .run(&[])
        .assert_code(0)
        .assert_stdout("tmpfs /data tmpfs rw,relatime 0 0\nsmall written\nNo space left on device\nspace returned\n")
        .assert_no_leftover();
}

/// A single file bind-mounted (as /etc/resolv.conf is): read through, and
/// written through when the mount is read-write; EROFS when read-only.
#[test]
fn single_file_bind_mounts_read_and_write() {
    let script = "$b cat /etc/rw.conf /etc/ro.conf && echo appended >> /etc/rw.conf && \
                  (echo x >> /etc/ro.conf) 2>&1; $b cat /etc/rw.conf";
    let full = format!("{SCRIPT_PREFIX}{script}");
    let spec = Spec::new(&["/bin/busybox", "sh", "-c", &full]);
    let bundle = Bundle::with_busybox("file-bind", &spec);
    let (rw, ro) = (bundle.path().join("rw.conf"), bundle.path().join("ro.conf"));
    fs::write(&rw, "rw line\n").unwrap();
    fs::write(&ro, "ro line\n").unwrap();
    let mut config = spec.to_json();
    let mounts = config["mounts"].as_array_mut().expect("the test spec has mounts");
    mounts.push(json!({ "destination": "/etc/rw.conf", "type": "bind", "source": rw, "options": ["bind", "rw"] }));
    mounts.push(json!({ "destination": "/etc/ro.conf", "type": "bind", "source": ro, "options": ["bind", "ro"] }));
    bundle.write_config_json(&config);
    let out = bundle.run(&[]);
    out.assert_code(0).assert_no_leftover();
    assert!(out.stdout.starts_with("rw line\nro line\n"), "{out}");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(out.stdout.ends_with("rw line\nappended\n"), "{out}");
    assert_eq!(fs::read_to_string(&rw).unwrap(), "rw line\nappended\n");
    assert_eq!(fs::read_to_string(&ro).unwrap(), "ro line\n");
}
