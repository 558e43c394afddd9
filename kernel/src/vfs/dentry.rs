//! Dentries: the names that lead to inodes, with their parents, so `..` and
//! getcwd(2) can walk back up; and locations, a dentry in a mount.
//!
//! Lock order: a dentry's `children` (its cache of live children) is held
//! across the filesystem's lookup, so it comes before every lock a lookup
//! takes (a memfs directory's, the task set's for /proc, the pty table's
//! for /dev/pts). Two dentries' `children` are never held together (a
//! rename moves a child from one cache to the other, one lock at a time),
//! and `place` (name, parent, deleted) is a leaf.

use crate::abi::structs::Stat;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use super::mount::Mount;
use super::{Inode, identity};

/// A name in a directory and the inode it leads to.
///
/// Children are cached weakly: a live dentry (held by a mount, a cwd or an
/// open file) is found again by a later lookup of the same inode, which is
/// what makes mount points and working directories stable. The filesystem
/// stays the authority on what a name means; the cache only keeps identity.
pub struct Dentry {
    /// The name in the parent and the parent (None for a filesystem root).
    /// Both change on rename.
    place: Mutex<Place>,
    inode: Arc<dyn Inode>,
    /// Guards the cache of live children by name.
    children: Mutex<HashMap<Vec<u8>, Weak<Dentry>>>,
}

struct Place {
    name: Vec<u8>,
    parent: Option<Arc<Dentry>>,
    /// Unlinked: getcwd and /proc links say " (deleted)".
    deleted: bool,
}

impl Dentry {
    /// The root dentry of a filesystem.
    pub fn root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Arc::new(Dentry {
            place: Mutex::new(Place {
                name: b"/".to_vec(),
                parent: None,
                deleted: false,
            }),
            inode,
            children: Mutex::new(HashMap::new()),
        })
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    fn place(&self) -> std::sync::MutexGuard<'_, Place> {
        self.place.lock().expect("dentry place poisoned")
    }

    pub fn name(&self) -> Vec<u8> {
        self.place().name.clone()
    }

    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.place().parent.clone()
    }

    pub fn is_deleted(&self) -> bool {
        self.place().deleted
    }

    /// Looks `name` up in this directory, reusing the cached dentry when it
    /// still names the same inode.
    ///
    /// The lookup happens under the children lock: a rename between the
    /// filesystem's answer and the caching would leave a new dentry with
    /// the old parent, which no later `moved` corrects, and the checks that
    /// keep a directory from moving beneath itself walk dentry parents.
    pub fn child(self: &Arc<Self>, name: &[u8]) -> Result<Arc<Dentry>, Errno> {
        let mut children = self.children.lock().expect("dentry children poisoned");
        let inode = self.inode.lookup(name)?;
        if let Some(cached) = children.get(name).and_then(Weak::upgrade) {
            let same = Arc::ptr_eq(&cached.inode, &inode)
                || identity(cached.inode.as_ref()).is_some_and(|id| Some(id) == identity(inode.as_ref()));
            if same {
                return Ok(cached);
            }
        }
        let dentry = Arc::new(Dentry {
            place: Mutex::new(Place {
                name: name.to_vec(),
                parent: Some(Arc::clone(self)),
                deleted: false,
            }),
            inode,
            children: Mutex::new(HashMap::new()),
        });
        children.retain(|_, weak| weak.strong_count() > 0);
        children.insert(name.to_vec(), Arc::downgrade(&dentry));
        Ok(dentry)
    }

    /// Forgets the cached child `name` after an unlink, marking it deleted.
    pub fn forget(&self, name: &[u8]) {
        let removed = self.children.lock().expect("dentry children poisoned").remove(name);
        if let Some(child) = removed.and_then(|weak| weak.upgrade()) {
            child.place().deleted = true;
        }
    }

    /// Moves the cached child `name` to `new_name` in `new_parent` after a
    /// rename; an entry it replaced there is forgotten.
    pub fn moved(self: &Arc<Self>, name: &[u8], new_parent: &Arc<Dentry>, new_name: &[u8]) {
        new_parent.forget(new_name);
        let moved = self.children.lock().expect("dentry children poisoned").remove(name);
        if let Some(child) = moved.and_then(|weak| weak.upgrade()) {
            {
                let mut place = child.place();
                place.name = new_name.to_vec();
                place.parent = Some(Arc::clone(new_parent));
            }
            new_parent
                .children
                .lock()
                .expect("dentry children poisoned")
                .insert(new_name.to_vec(), Arc::downgrade(&child));
        }
    }

    /// Swaps the cached children `name` here and `other_name` in
    /// `other_parent` after a RENAME_EXCHANGE: each keeps its identity and
    /// takes the other's place.
    pub fn exchanged(self: &Arc<Self>, name: &[u8], other_parent: &Arc<Dentry>, other_name: &[u8]) {
        let take = |parent: &Dentry, name: &[u8]| {
            parent
                .children
                .lock()
                .expect("dentry children poisoned")
                .remove(name)
                .and_then(|weak| weak.upgrade())
        };
        let (here, there) = (take(self, name), take(other_parent, other_name));
        let put = |child: Arc<Dentry>, parent: &Arc<Dentry>, name: &[u8]| {
            {
                let mut place = child.place();
                place.name = name.to_vec();
                place.parent = Some(Arc::clone(parent));
            }
            parent
                .children
                .lock()
                .expect("dentry children poisoned")
                .insert(name.to_vec(), Arc::downgrade(&child));
        };
        if let Some(child) = here {
            put(child, other_parent, other_name);
        }
        if let Some(child) = there {
            put(child, self, name);
        }
    }
}

/// A place in the mount tree: a dentry as seen through one mount.
#[derive(Clone)]
pub struct Location {
    pub mount: Arc<Mount>,
    pub dentry: Arc<Dentry>,
}

impl Location {
    pub fn inode(&self) -> &Arc<dyn Inode> {
        self.dentry.inode()
    }

    pub fn stat(&self) -> Result<Stat, Errno> {
        self.inode().stat()
    }

    pub fn is_dir(&self) -> bool {
        self.stat().is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }

    /// Whether both name the same dentry in the same mount.
    pub fn same(&self, other: &Location) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }

    /// The absolute path of this location as seen from `root` (a task's
    /// root); Linux's d_path. A location outside `root` is shown from the
    /// namespace root, and a deleted one gets " (deleted)".
    pub fn path_from(&self, root: &Location) -> Vec<u8> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut here = self.clone();
        loop {
            if here.same(root) {
                break;
            }
            if Arc::ptr_eq(&here.dentry, &here.mount.root) {
                match here.mount.mountpoint() {
                    Some(up) => {
                        here = up;
                        continue;
                    }
                    None => break,
                }
            }
            let Some(parent) = here.dentry.parent() else {
                break;
            };
            parts.push(here.dentry.name());
            here = Location {
                mount: Arc::clone(&here.mount),
                dentry: parent,
            };
        }
        let mut path = Vec::new();
        for part in parts.iter().rev() {
            path.push(b'/');
            path.extend_from_slice(part);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        if self.dentry.is_deleted() {
            path.extend_from_slice(b" (deleted)");
        }
        path
    }
}
