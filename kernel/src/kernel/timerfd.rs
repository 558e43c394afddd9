//! timerfd_create(2): a timer read as a file. A read returns how many times
//! it expired since the last read (or since it was set), as a u64.
//!
//! Lock order: a timer's `state` (deadline, interval, expiries not read) is
//! a leaf: it is let go of before the timers' lock (`Timers::state`) is
//! taken to set its alarm (`set`, the drop) and before its queue is
//! notified, and the timer thread rings it with its own lock let go of.
//! Since its drop takes the timers' lock, which comes before the task
//! set's, a timerfd is never dropped under the task set's lock.
//!
//! Expiries are counted lazily from the deadline whenever the timer is
//! looked at; the kernel's timer thread rings the timer at its deadline
//! only so that readers and pollers wake up. Deadlines are kept on
//! CLOCK_MONOTONIC; an absolute time on CLOCK_REALTIME or CLOCK_BOOTTIME is
//! converted when the timer is set, so a later step of the host's clock does
//! not move it (Linux would).

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::kernel::Kernel;
use crate::sync::Blocking;
use crate::sync::WaitQueue;
use crate::vfs::File;
use crate::vfs::anon_inode;
use crate::vfs::caller::Caller;
use crate::vfs::status_flags::StatusFlags;

use crate::task::timer::{Alarm, new_alarm_id};

/// A timer setting, as struct itimerspec holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerSetting {
    /// Until the first expiry; zero disarms.
    pub value: Duration,
    /// Between expiries; zero for one expiry.
    pub interval: Duration,
}

struct TimerState {
    /// The next expiry, in nanoseconds of CLOCK_MONOTONIC (negative for an
    /// absolute time long past); None while disarmed.
    deadline: Option<i128>,
    /// In nanoseconds; zero for a one-shot timer.
    interval: i128,
    /// Expiries not read yet.
    ticks: u64,
}

impl TimerState {
    /// Counts the expiries up to `now` and moves the deadline past it.
    fn advance(&mut self, now: i128) {
        let Some(deadline) = self.deadline.filter(|&deadline| deadline <= now) else {
            return;
        };
        if self.interval == 0 {
            self.ticks = self.ticks.saturating_add(1);
            self.deadline = None;
        } else {
            let expired = (now - deadline) / self.interval + 1;
            self.ticks = self.ticks.saturating_add(u64::try_from(expired).unwrap_or(u64::MAX));
            self.deadline = Some(deadline + expired * self.interval);
        }
    }
}

/// What the timer thread rings: the timer without its file status.
struct TimerCore {
    state: Mutex<TimerState>,
    /// Readers wait here; the timer thread notifies it at each expiry.
    queue: WaitQueue,
}

impl TimerCore {
    fn lock(&self) -> MutexGuard<'_, TimerState> {
        self.state.lock().expect("timerfd poisoned")
    }

    /// The next deadline as an instant to sleep until.
    fn next_instant(state: &TimerState, now: i128) -> Option<Instant> {
        let left = state.deadline? - now;
        Some(Instant::now() + duration_of(left.max(0)))
    }
}

impl Alarm for TimerCore {
    fn ring(&self) -> Option<Instant> {
        let now = clock_now(libc::CLOCK_MONOTONIC);
        let (expired, next) = {
            let mut state = self.lock();
            state.advance(now);
            (state.ticks > 0, TimerCore::next_instant(&state, now))
        };
        if expired {
            self.queue.notify_all();
        }
        next
    }
}

/// A timerfd.
pub struct TimerFd {
    clock: libc::clockid_t,
    core: Arc<TimerCore>,
    flags: StatusFlags,
    /// Whose timer thread rings it.
    kernel: Weak<Kernel>,
    /// Its alarm on the kernel's timer thread.
    alarm: u64,
}

/// A clock's time now, in nanoseconds.
fn clock_now(clock: libc::clockid_t) -> i128 {
    // The clocks a timerfd takes exist on every Linux host.
    let now = crate::sys::time::clock_gettime(clock).unwrap_or_default();
    i128::from(now.tv_sec) * 1_000_000_000 + i128::from(now.tv_nsec)
}

fn nanos(duration: Duration) -> i128 {
    duration.as_nanos() as i128
}

/// Precondition: `nanos` >= 0.
fn duration_of(nanos: i128) -> Duration {
    let nanos = u128::try_from(nanos).expect("a non-negative duration");
    Duration::new(
        u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
        (nanos % 1_000_000_000) as u32,
    )
}

impl TimerFd {
    /// A disarmed timer on `clock` (CLOCK_REALTIME, CLOCK_MONOTONIC or
    /// CLOCK_BOOTTIME).
    pub fn new(kernel: &Kernel, clock: libc::clockid_t, nonblock: bool) -> Self {
        TimerFd {
            clock,
            core: Arc::new(TimerCore {
                state: Mutex::new(TimerState {
                    deadline: None,
                    interval: 0,
                    ticks: 0,
                }),
                queue: WaitQueue::default(),
            }),
            flags: StatusFlags::read_write(nonblock),
            kernel: kernel.weak(),
            alarm: new_alarm_id(),
        }
    }

    /// The file as a timerfd, if it is one.
    pub fn of(file: &dyn File) -> Option<&TimerFd> {
        file.as_any()?.downcast_ref::<TimerFd>()
    }

    /// timerfd_gettime(2): time left to the next expiry, and the interval.
    pub fn get(&self) -> TimerSetting {
        let now = clock_now(libc::CLOCK_MONOTONIC);
        let mut state = self.core.lock();
        state.advance(now);
        Self::setting(&state, now)
    }

    fn setting(state: &TimerState, now: i128) -> TimerSetting {
        TimerSetting {
            value: state
                .deadline
                .map_or(Duration::ZERO, |deadline| duration_of((deadline - now).max(1))),
            interval: duration_of(state.interval),
        }
    }

    /// timerfd_settime(2): arms the timer with `setting` (a zero value
    /// disarms it), `absolute` meaning the value is a time on the timer's
    /// clock. Unread expiries are dropped. Returns the old setting.
    pub fn set(&self, setting: TimerSetting, absolute: bool) -> TimerSetting {
        let now = clock_now(libc::CLOCK_MONOTONIC);
        let (old, next) = {
            let mut state = self.core.lock();
            state.advance(now);
            let old = Self::setting(&state, now);
            state.ticks = 0;
            state.interval = nanos(setting.interval);
            state.deadline = if setting.value.is_zero() {
                None
            } else if absolute {
                Some(now + nanos(setting.value) - clock_now(self.clock))
            } else {
                Some(now + nanos(setting.value))
            };
            (old, TimerCore::next_instant(&state, now))
        };
        if let Some(kernel) = self.kernel.upgrade() {
            let core: Arc<dyn Alarm> = self.core.clone();
            let alarm = next.map(|deadline| (deadline, Arc::downgrade(&core)));
            kernel.core.timers.set_alarm(&kernel.core, self.alarm, alarm);
        }
        // Readers sleeping until the old deadline look again.
        self.core.queue.notify_all();
        old
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        if let Some(kernel) = self.kernel.upgrade() {
            kernel.core.timers.set_alarm(&kernel.core, self.alarm, None);
        }
    }
}

impl File for TimerFd {
    fn read(&self, caller: &dyn Caller, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let nonblocking = self.flags.nonblocking();
        let ticks = loop {
            let until = {
                let now = clock_now(libc::CLOCK_MONOTONIC);
                TimerCore::next_instant(&self.core.lock(), now)
            };
            let result = caller.block_on(Some(&self.core.queue), until, || {
                let mut state = self.core.lock();
                state.advance(clock_now(libc::CLOCK_MONOTONIC));
                if state.ticks > 0 {
                    return Some(Ok(std::mem::take(&mut state.ticks)));
                }
                nonblocking.then_some(Err(Errno::EAGAIN))
            });
            match result {
                Err(Errno::ETIMEDOUT) => continue,
                other => break other?,
            }
        };
        buf[..8].copy_from_slice(&ticks.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, _caller: &dyn Caller, _data: &[u8], _offset: Option<u64>) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn poll(&self) -> u16 {
        let mut state = self.core.lock();
        state.advance(clock_now(libc::CLOCK_MONOTONIC));
        if state.ticks > 0 {
            (libc::POLLIN | libc::POLLRDNORM) as u16
        } else {
            0
        }
    }

    anon_inode::anon_file_methods!("timerfd", core.queue);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i128 = 1_000_000;

    fn state(deadline: i128, interval: i128) -> TimerState {
        TimerState {
            deadline: Some(deadline),
            interval,
            ticks: 0,
        }
    }

    #[test]
    fn a_one_shot_timer_expires_once() {
        let mut timer = state(100 * MS, 0);
        timer.advance(99 * MS);
        assert_eq!(timer.ticks, 0);
        timer.advance(500 * MS);
        assert_eq!((timer.ticks, timer.deadline), (1, None));
        timer.advance(900 * MS);
        assert_eq!(timer.ticks, 1);
    }

    #[test]
    fn an_interval_timer_counts_every_period_gone_by() {
        let mut timer = state(100 * MS, 10 * MS);
        timer.advance(135 * MS);
        assert_eq!(timer.ticks, 4, "expiries at 100, 110, 120 and 130 ms");
        assert_eq!(timer.deadline, Some(140 * MS));
    }

    #[test]
    fn an_absolute_time_long_past_counts_from_then() {
        let mut timer = state(-1000 * MS, 100 * MS);
        timer.advance(0);
        assert_eq!(timer.ticks, 11);
    }

    #[test]
    fn ringing_counts_the_expiry_and_asks_for_the_next() {
        let now = clock_now(libc::CLOCK_MONOTONIC);
        let core = TimerCore {
            state: Mutex::new(state(now - 5 * MS, 100 * MS)),
            queue: WaitQueue::default(),
        };
        let next = core.ring().expect("an interval timer rings again");
        assert!(next > Instant::now() + Duration::from_millis(50));
        assert_eq!(core.lock().ticks, 1);
        let one_shot = TimerCore {
            state: Mutex::new(state(now - 5 * MS, 0)),
            queue: WaitQueue::default(),
        };
        assert_eq!(one_shot.ring(), None);
    }
}
