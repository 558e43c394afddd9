//! The filesystems and files that need no task: host trees and the
//! container's stdio, tmpfs and the memory overlay, devfs, sysfs, pipes,
//! eventfd, epoll, memfd and the terminal line discipline.

pub mod devfs;
pub mod epoll;
pub mod eventfd;
pub mod host;
pub mod memfd;
pub mod memfs;
mod page_set;
pub mod pipe;
pub mod sysfs;
pub mod tty;

pub use epoll::{EpollEvent, EpollFile};
pub use eventfd::EventFd;
pub use host::stdio::{HOST_POLL_INTERVAL, HostFile};
pub use host::{HostNode, HostTree};
pub use memfd::Memfd;
pub use pipe::{Fifo, PIPE_BUF, new_pipe};
