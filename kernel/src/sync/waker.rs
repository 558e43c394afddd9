//! Sleeping in the kernel: a per-task [`Waker`] and the [`WaitQueue`]s of
//! the objects a task can wait for.
//!
//! Lock order: a wait queue's `waiters` (who waits for it) is let go of
//! before any waiter is notified, and a waker's `sequence` (the count of
//! notifications; its condition variable releases it while waiting) takes
//! nothing under it, so both may be taken under any other lock: the task
//! set's, the futex table's, an epoll instance's `state` when it registers.
//!
//! A blocked task sleeps on its own waker. Whatever it waits for (a pipe, a
//! child) notifies the wakers registered on its queue; a signal sent to the
//! task notifies the waker directly. Either way the task wakes, re-checks
//! its condition, and returns EINTR if a signal is what woke it.
//!
//! A queue wakes anything that implements [`Waiter`]: besides task wakers,
//! epoll instances register there to hear of their files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

/// What a wait queue wakes: a task's [`Waker`], or an epoll interest that
/// passes the news on to its instance.
///
/// `notify` runs on the notifier's thread, sometimes with the task set
/// locked (signals are sent under it): it must not block, nor take any lock
/// but those of wakers and wait queues.
pub trait Waiter: Send + Sync {
    fn notify(&self);
}

/// A task's alarm clock: a notification counter and a condition variable.
#[derive(Debug, Default)]
pub struct Waker {
    /// Bumped by every notification, so a wait can tell whether one
    /// happened since it last looked.
    sequence: Mutex<u64>,
    condvar: Condvar,
    /// The task sleeps in `wait`: /proc shows it as S rather than R.
    sleeping: AtomicBool,
}

impl Waker {
    pub fn new() -> Arc<Waker> {
        Arc::new(Waker::default())
    }

    pub fn notify(&self) {
        *self.sequence.lock().expect("waker poisoned") += 1;
        self.condvar.notify_all();
    }

    pub fn sequence(&self) -> u64 {
        *self.sequence.lock().expect("waker poisoned")
    }

    /// Whether the task sleeps in the kernel right now.
    pub fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Relaxed)
    }

    /// Sleeps until a notification after `seen`, or `deadline`. Returns
    /// false when the deadline passed first.
    pub fn wait(&self, seen: u64, deadline: Option<Instant>) -> bool {
        self.sleeping.store(true, Ordering::Relaxed);
        let woken = self.wait_for_news(seen, deadline);
        self.sleeping.store(false, Ordering::Relaxed);
        woken
    }

    fn wait_for_news(&self, seen: u64, deadline: Option<Instant>) -> bool {
        let mut sequence = self.sequence.lock().expect("waker poisoned");
        while *sequence == seen {
            match deadline {
                None => sequence = self.condvar.wait(sequence).expect("waker poisoned"),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    sequence = self
                        .condvar
                        .wait_timeout(sequence, deadline - now)
                        .expect("waker poisoned")
                        .0;
                }
            }
        }
        true
    }
}

impl Waiter for Waker {
    fn notify(&self) {
        Waker::notify(self);
    }
}

/// The tasks (and epoll instances) waiting for one object.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Weak<dyn Waiter>>>,
}

impl std::fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.waiters.lock().map_or(0, |waiters| waiters.len());
        f.debug_struct("WaitQueue").field("waiters", &count).finish()
    }
}

impl WaitQueue {
    /// Adds a waiter; waiters that are gone are dropped on the way.
    pub fn register<W: Waiter + 'static>(&self, waiter: &Arc<W>) {
        let weak: Weak<W> = Arc::downgrade(waiter);
        let weak: Weak<dyn Waiter> = weak;
        let mut waiters = self.waiters.lock().expect("wait queue poisoned");
        waiters.retain(|w| w.strong_count() > 0);
        waiters.push(weak);
    }

    pub fn unregister<W: Waiter + 'static>(&self, waiter: &Arc<W>) {
        let target = Arc::as_ptr(waiter).cast::<()>();
        self.waiters
            .lock()
            .expect("wait queue poisoned")
            .retain(|w| w.as_ptr().cast::<()>() != target && w.strong_count() > 0);
    }

    pub fn notify_all(&self) {
        let waiters: Vec<Arc<dyn Waiter>> = self
            .waiters
            .lock()
            .expect("wait queue poisoned")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for waker in waiters {
            waker.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_notification_before_the_wait_is_not_lost() {
        let waker = Waker::new();
        let seen = waker.sequence();
        waker.notify();
        assert!(waker.wait(seen, Some(Instant::now() + Duration::from_secs(5))));
    }

    #[test]
    fn wait_times_out_without_notification() {
        let waker = Waker::new();
        let seen = waker.sequence();
        assert!(!waker.wait(seen, Some(Instant::now() + Duration::from_millis(10))));
    }

    #[test]
    fn queues_wake_registered_tasks_from_other_threads() {
        let waker = Waker::new();
        let queue = Arc::new(WaitQueue::default());
        queue.register(&waker);
        let seen = waker.sequence();
        let notifier = Arc::clone(&queue);
        let thread = std::thread::spawn(move || notifier.notify_all());
        assert!(waker.wait(seen, Some(Instant::now() + Duration::from_secs(5))));
        thread.join().unwrap();
        queue.unregister(&waker);
        assert!(queue.waiters.lock().unwrap().is_empty());
    }
}
