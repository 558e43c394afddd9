//! What a handler serves a system call with.

use std::ops::{Deref, DerefMut};

use crate::kernel::Kernel;
use crate::task::Task;
use crate::vfs::caller::Caller;

/// The calling task and the kernel it belongs to. Handlers reach the
/// task's state through it as through the task itself.
pub struct TaskCtx<'a> {
    task: &'a mut Task,
    /// The sandbox's kernel: its configuration, containers and terminals.
    pub kernel: &'a Kernel,
}

impl<'a> TaskCtx<'a> {
    pub fn new(task: &'a mut Task, kernel: &'a Kernel) -> TaskCtx<'a> {
        TaskCtx { task, kernel }
    }

    /// The task, as the caller of a file operation.
    pub fn caller(&self) -> &dyn Caller {
        &*self.task
    }
}

impl Deref for TaskCtx<'_> {
    type Target = Task;

    fn deref(&self) -> &Task {
        self.task
    }
}

impl DerefMut for TaskCtx<'_> {
    fn deref_mut(&mut self) -> &mut Task {
        self.task
    }
}
