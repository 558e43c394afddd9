//! The containers of one sandbox, as the kernel sees them: each has its own
//! mounts (its root and the mounts its spec names), and every process
//! belongs to one, inheriting it from its parent.
//!
//! Lock order: the table's lock (`Containers::table`: tag to container) is
//! held only to look an entry up, add or remove it (removing one may drop
//! its mounts, whose memfs nodes take their data lock and the memory file's
//! allocator): `sweep` asks the task set with it let go of. A container's
//! `reaped_cpu` is a leaf, taken alone.
//!
//! All containers share the sandbox's one PID namespace (as the containers of
//! a Kubernetes pod with `shareProcessNamespace` do): pids are unique across
//! them, the root container's init is pid 1 and reaps every orphan, and its
//! end ends every container.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

pub use crate::task::ContainerTag;

use crate::seccomp::Seccomp;
use crate::vfs::MountNamespace;

/// One container: its name for the control plane and its mounts.
pub struct Container {
    /// Set when the control plane names it (the root container is named
    /// when the control plane starts listening); events about an unnamed
    /// container go nowhere.
    pub(crate) name: OnceLock<String>,
    pub(crate) mounts: MountNamespace,
    /// CPU time of its processes reaped without a parent in the sandbox
    /// (exec'd processes, a subcontainer's init), which the task set no
    /// longer counts for it.
    pub(crate) reaped_cpu: std::sync::Mutex<std::time::Duration>,
    /// Set when the control plane has destroyed it: it leaves the table
    /// once its last process is gone, so that the exits of its killed
    /// processes are still reported under its name.
    retired: AtomicBool,
    /// The seccomp filters of its first process, which every later one
    /// (exec) runs under too, as runc applies a container's profile.
    pub(crate) seccomp: OnceLock<Seccomp>,
}

impl Container {
    pub(crate) fn new(mounts: MountNamespace) -> Container {
        Container {
            name: OnceLock::new(),
            mounts,
            reaped_cpu: std::sync::Mutex::default(),
            retired: AtomicBool::new(false),
            seccomp: OnceLock::new(),
        }
    }
}

/// Every container of the sandbox, by tag.
#[derive(Default)]
pub(crate) struct Containers {
    table: RwLock<BTreeMap<ContainerTag, Arc<Container>>>,
    /// The next tag to hand out; tags are never reused, so a process of a
    /// removed container never finds another in its place.
    next: AtomicU32,
}

impl Containers {
    /// Adds `container` under a new tag (the first is [`ContainerTag::ROOT`]).
    pub(crate) fn add(&self, container: Container) -> ContainerTag {
        let tag = ContainerTag(self.next.fetch_add(1, Ordering::Relaxed));
        let mut table = self.table.write().expect("container table poisoned");
        table.insert(tag, Arc::new(container));
        tag
    }

    /// The container `tag` names, while it exists.
    pub(crate) fn get(&self, tag: ContainerTag) -> Option<Arc<Container>> {
        self.table.read().expect("container table poisoned").get(&tag).cloned()
    }

    /// Marks `tag` for removal once `has_processes` says it has none left.
    pub(crate) fn retire(&self, tag: ContainerTag) {
        if let Some(container) = self.get(tag) {
            container.retired.store(true, Ordering::Release);
        }
    }

    /// Forgets every retired container `has_processes` says is empty. Its
    /// processes' own references keep what they use until they end.
    pub(crate) fn sweep(&self, has_processes: impl Fn(ContainerTag) -> bool) {
        let retired: Vec<ContainerTag> = self
            .table
            .read()
            .expect("container table poisoned")
            .iter()
            .filter(|(_, container)| container.retired.load(Ordering::Acquire))
            .map(|(&tag, _)| tag)
            .collect();
        for tag in retired {
            if !has_processes(tag) {
                self.table.write().expect("container table poisoned").remove(&tag);
            }
        }
    }
}
