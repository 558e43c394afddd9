//! What each task is doing in the kernel, for the watchdog: the system call
//! it serves and since when.
//!
//! The task's own thread writes its clock on every system call, so the
//! record is two relaxed atomic stores, not a lock; the watchdog reads every
//! clock now and then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The system call a task is serving, if any, and when it entered it.
#[derive(Debug)]
pub struct SyscallClock {
    /// What `entered` counts from.
    base: Instant,
    number: AtomicU64,
    /// Nanoseconds from `base` to the entry, plus one; zero while the task
    /// is not inside a system call.
    entered: AtomicU64,
}

impl Default for SyscallClock {
    fn default() -> Self {
        SyscallClock {
            base: Instant::now(),
            number: AtomicU64::new(0),
            entered: AtomicU64::new(0),
        }
    }
}

impl SyscallClock {
    /// The task enters system call `number`.
    pub fn enter(&self, number: u64) {
        let since_base = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.number.store(number, Ordering::Relaxed);
        self.entered.store(since_base + 1, Ordering::Release);
    }

    /// The task leaves its system call.
    pub fn leave(&self) {
        self.entered.store(0, Ordering::Release);
    }

    /// The call being served and for how long, or None outside the kernel.
    pub fn current(&self) -> Option<(u64, Duration)> {
        let entered = self.entered.load(Ordering::Acquire);
        if entered == 0 {
            return None;
        }
        let number = self.number.load(Ordering::Relaxed);
        let since = Duration::from_nanos(entered - 1);
        Some((number, self.base.elapsed().saturating_sub(since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_call_and_forgets_it_on_leave() {
        let clock = SyscallClock::default();
        assert_eq!(clock.current(), None);
        clock.enter(0);
        std::thread::sleep(Duration::from_millis(5));
        let (number, served) = clock.current().expect("inside read");
        assert_eq!(number, 0);
        assert!(served >= Duration::from_millis(5), "{served:?}");
        clock.leave();
        assert_eq!(clock.current(), None);
    }
}
