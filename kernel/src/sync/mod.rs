//! Sleeping and waking inside the kernel: per-task wakers, the wait queues
//! of the objects tasks wait for, and the futex table.

pub mod futex;
mod waker;

pub use waker::{WaitQueue, Waiter, Waker};
