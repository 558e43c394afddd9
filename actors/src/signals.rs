//! The SignalForwarder: the host signals a sandbox process (or a foreground
//! `cordon run`) is sent go to the root container's foreground process, as
//! they would reach a process run without a sandbox; `--panic-signal` aborts
//! the sandbox with a dump of every task instead.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::*;
use actix_rt::signal::unix::{Signal, SignalKind, signal};

use crate::messages::loader::{Abort, ForwardSignal};

/// The signals forwarded, as runsc forwards them.
pub(crate) const FORWARDED: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// The host signals listened to, as one stream of signal numbers.
pub(crate) struct HostSignals {
    listeners: Vec<(i32, Signal)>,
}

impl HostSignals {
    /// Installs handlers for the forwarded signals and the panic signal.
    /// From here on these signals no longer have their default action on
    /// the sandbox process.
    pub(crate) fn listen(panic_signal: Option<i32>) -> std::io::Result<HostSignals> {
        let mut listeners = Vec::new();
        for number in FORWARDED.into_iter().chain(panic_signal) {
            if listeners.iter().all(|(listening, _)| *listening != number) {
                listeners.push((number, signal(SignalKind::from_raw(number))?));
            }
        }
        Ok(HostSignals { listeners })
    }
}

impl Stream for HostSignals {
    type Item = i32;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<i32>> {
        for (number, listener) in &mut self.listeners {
            // A listener only ends when the runtime does.
            if let Poll::Ready(Some(())) = listener.poll_recv(cx) {
                return Poll::Ready(Some(*number));
            }
        }
        Poll::Pending
    }
}

/// Sends each host signal to the Loader: for the root container, or (the
/// panic signal) to abort.
pub(crate) struct SignalForwarder {
    forward: Recipient<ForwardSignal>,
    abort: Recipient<Abort>,
    panic_signal: Option<i32>,
    signals: Option<HostSignals>,
}

impl SignalForwarder {
    pub(crate) fn new(
        forward: Recipient<ForwardSignal>,
        abort: Recipient<Abort>,
        panic_signal: Option<i32>,
        signals: HostSignals,
    ) -> SignalForwarder {
        SignalForwarder {
            forward,
            abort,
            panic_signal,
            signals: Some(signals),
        }
    }
}

impl Actor for SignalForwarder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.add_stream(self.signals.take().expect("the signals are taken once, at start"));
    }
}

impl StreamHandler<i32> for SignalForwarder {
    fn handle(&mut self, number: i32, _ctx: &mut Context<Self>) {
        if Some(number) == self.panic_signal {
            self.abort.do_send(Abort {
                reason: format!("received the panic signal {number}"),
            });
        } else {
            tracing::info!(signal = number, "forwarding host signal to the container");
            self.forward.do_send(ForwardSignal(number));
        }
    }
}
