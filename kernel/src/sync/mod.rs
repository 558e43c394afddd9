//! Sleeping and waking inside the kernel: per-task wakers, the wait queues
//! of the objects tasks wait for, the [`Block`] interface blocking
//! operations sleep through, and the futex table.

mod block;
pub mod futex;
mod waker;

pub use block::{Block, Blocking, Uninterruptible};
pub use waker::{WaitQueue, Waiter, Waker};
