//! Blocking on behalf of a thread, interruptibly, without knowing what a
//! thread is (gVisor's `context.Blocker`).
//!
//! Lock order: `block_on` takes a queue's `waiters` (to register and
//! unregister), the waker's `sequence`, and whatever `attempt` and
//! `interrupted` take (a file's own lock; for a task, the task set's), one
//! after the other: no lock is held across an attempt, and a caller holds
//! none across the wait, which sleeps.
//!
//! A blocking operation (a pipe read, a lock wait, a sleep) gets a
//! [`Block`]: the waker its thread sleeps on and a way to ask whether a
//! signal should cut the sleep short. The task layer implements it for
//! tasks; [`Uninterruptible`] serves the kernel's own waits and unit tests.

use std::sync::Arc;
use std::time::Instant;

use nix::errno::Errno;

use super::{WaitQueue, Waker};

/// What a blocking operation needs of the thread it blocks.
pub trait Block {
    /// The waker the thread sleeps on.
    fn waker(&self) -> &Arc<Waker>;

    /// Whether the sleep should end with EINTR now (a signal waits to be
    /// acted on).
    fn interrupted(&self) -> bool;
}

/// The waits every [`Block`] offers.
pub trait Blocking {
    /// Runs `attempt` until it gives an answer. Between attempts the thread
    /// sleeps until `queue` (if any) is notified, a signal arrives (EINTR)
    /// or `deadline` passes (ETIMEDOUT).
    fn block_on<T>(
        &self,
        queue: Option<&WaitQueue>,
        deadline: Option<Instant>,
        attempt: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno>;

    /// Like [`block_on`](Self::block_on), waking on any of `queues`.
    fn block_on_any<T>(
        &self,
        queues: &[&WaitQueue],
        deadline: Option<Instant>,
        attempt: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno>;
}

impl<B: Block + ?Sized> Blocking for B {
    fn block_on<T>(
        &self,
        queue: Option<&WaitQueue>,
        deadline: Option<Instant>,
        attempt: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno> {
        self.block_on_any(queue.as_slice(), deadline, attempt)
    }

    fn block_on_any<T>(
        &self,
        queues: &[&WaitQueue],
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno> {
        let waker = self.waker();
        for queue in queues {
            queue.register(waker);
        }
        let result = loop {
            let seen = waker.sequence();
            if let Some(result) = attempt() {
                break result;
            }
            if self.interrupted() {
                break Err(Errno::EINTR);
            }
            if !waker.wait(seen, deadline) {
                break Err(Errno::ETIMEDOUT);
            }
        };
        for queue in queues {
            queue.unregister(waker);
        }
        result
    }
}

/// A [`Block`] that nothing interrupts: for waits of the kernel itself,
/// which no signal can reach, and for unit tests of blocking objects.
#[derive(Debug, Default)]
pub struct Uninterruptible {
    waker: Arc<Waker>,
}

impl Block for Uninterruptible {
    fn waker(&self) -> &Arc<Waker> {
        &self.waker
    }

    fn interrupted(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_attempt_that_answers_returns_at_once() {
        let blocker = Uninterruptible::default();
        assert_eq!(blocker.block_on(None, None, || Some(Ok(7))), Ok(7));
    }

    #[test]
    fn a_deadline_ends_the_wait() {
        let blocker = Uninterruptible::default();
        let deadline = Instant::now() + Duration::from_millis(10);
        assert_eq!(
            blocker.block_on::<()>(None, Some(deadline), || None),
            Err(Errno::ETIMEDOUT)
        );
    }

    #[test]
    fn a_notified_queue_retries_the_attempt() {
        let blocker = Uninterruptible::default();
        let queue = Arc::new(WaitQueue::default());
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let notifier = {
            let (queue, ready) = (Arc::clone(&queue), Arc::clone(&ready));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                ready.store(true, std::sync::atomic::Ordering::SeqCst);
                queue.notify_all();
            })
        };
        let result = blocker.block_on(Some(&queue), Some(Instant::now() + Duration::from_secs(10)), || {
            ready.load(std::sync::atomic::Ordering::SeqCst).then_some(Ok(()))
        });
        assert_eq!(result, Ok(()));
        notifier.join().unwrap();
    }

    struct Interrupted(Arc<Waker>);

    impl Block for Interrupted {
        fn waker(&self) -> &Arc<Waker> {
            &self.0
        }

        fn interrupted(&self) -> bool {
            true
        }
    }

    #[test]
    fn an_interrupted_thread_gets_eintr_once_the_attempt_fails() {
        let blocker = Interrupted(Waker::new());
        assert_eq!(blocker.block_on::<()>(None, None, || None), Err(Errno::EINTR));
        assert_eq!(blocker.block_on(None, None, || Some(Ok(1))), Ok(1));
    }
}
