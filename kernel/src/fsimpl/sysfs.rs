//! /sys, minimal: the CPU lists C libraries and runtimes read to size their
//! thread pools.

use std::sync::Arc;

use crate::vfs::Inode;
use crate::vfs::synthetic::{SynthDir, SynthFile};

/// The root of a sysfs mount for a sandbox with `cpus` virtual CPUs.
pub fn root(dev: u64, cpus: usize) -> Arc<dyn Inode> {
    let list = if cpus <= 1 {
        "0\n".to_string()
    } else {
        format!("0-{}\n", cpus - 1)
    };
    let cpu_files: Vec<(Vec<u8>, Arc<dyn Inode>)> = ["online", "possible", "present"]
        .into_iter()
        .map(|name| {
            let file: Arc<dyn Inode> = SynthFile::text(dev, &format!("/sys/devices/system/cpu/{name}"), list.clone());
            (name.as_bytes().to_vec(), file)
        })
        .collect();
    let cpu = dir(dev, "/sys/devices/system/cpu", cpu_files);
    let system = dir(dev, "/sys/devices/system", vec![(b"cpu".to_vec(), cpu)]);
    let devices = dir(dev, "/sys/devices", vec![(b"system".to_vec(), system)]);
    dir(dev, "/sys", vec![(b"devices".to_vec(), devices)])
}

fn dir(dev: u64, path: &str, entries: Vec<(Vec<u8>, Arc<dyn Inode>)>) -> Arc<dyn Inode> {
    SynthDir::new(dev, path, 0o555, Box::new(move || entries.clone()))
}
