//! The bridge from the kernel's event channel into the actor system.
//!
//! A dedicated thread blocks on the crossbeam receiver, so that neither the
//! kernel (which only sends) nor the arbiter (which only gets mailbox
//! messages) ever waits on the other.

use std::thread::JoinHandle;

use actix::Recipient;
use crossbeam_channel::Receiver;

use cordon_kernel::control::handle::KernelEvent;

use crate::messages::loader::Event;

/// Starts the bridge thread, which sends every event to `loader`. It ends
/// when the kernel drops its sender or the Loader is gone.
pub(crate) fn spawn(events: Receiver<KernelEvent>, loader: Recipient<Event>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("kernel-events".into()).spawn(move || {
        for event in events {
            tracing::trace!(?event, "kernel event");
            if !loader.connected() {
                break;
            }
            loader.do_send(Event(event));
        }
        tracing::debug!("kernel event bridge ended");
    })
}
