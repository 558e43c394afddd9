//! The stub factory: one long-lived thread that forks every stub process.
//!
//! A stub dies with the thread that forked it (PR_SET_PDEATHSIG follows
//! the parent *thread*), and task threads come and go while their stub
//! process lives on in other threads. So stubs are forked here, by a thread
//! that lives as long as the sandbox process, and seized by their tracers.

use std::os::fd::RawFd;
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Mutex, OnceLock};

use nix::unistd::Pid;

use super::stub;

struct Request {
    memory_fd: RawFd,
    reply: SyncSender<nix::Result<Pid>>,
}

static FACTORY: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();

fn factory() -> &'static Mutex<Sender<Request>> {
    FACTORY.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("stub-factory".into())
            .spawn(move || {
                for request in rx {
                    let _ = request.reply.send(stub::fork_stub(request.memory_fd));
                }
            })
            .expect("the stub factory thread starts");
        Mutex::new(tx)
    })
}

/// Forks a new stub process, spinning and waiting to be seized.
pub(super) fn new_stub(memory_fd: RawFd) -> nix::Result<Pid> {
    let (reply, answer) = mpsc::sync_channel(1);
    let sent = factory()
        .lock()
        .expect("stub factory poisoned")
        .send(Request { memory_fd, reply });
    if sent.is_err() {
        return Err(nix::errno::Errno::EAGAIN);
    }
    answer.recv().unwrap_or(Err(nix::errno::Errno::EAGAIN))
}
