//! Timers that deliver signals: each process's interval timers (alarm(2),
//! setitimer(2): ITIMER_REAL on the wall clock, ITIMER_VIRTUAL and
//! ITIMER_PROF on its CPU time) and its POSIX timers (timer_create(2)), all
//! served by one kernel thread. The same thread rings [`Alarm`]s: timerfds,
//! whose expiries wake their readers and pollers rather than send signals.
//!
//! Lock order: `Timers::state` (every timer and alarm) before the task
//! set's lock (`TaskSet::inner`): the timer thread sends signals and reads
//! CPU clocks with it held, so the task set's lock is never held while
//! taking it (a timerfd's drop takes it: no file is dropped under the task
//! set's lock). An alarm's owner may hold the alarm's own lock while
//! setting it, so alarms ring with `state` let go of.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::Core;
use crate::abi::credentials::Credentials;
use crate::abi::signal::SigInfo;

/// Which timer of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerId {
    /// ITIMER_REAL.
    Real,
    /// A timer_create(2) timer.
    Posix(i32),
}

/// What an expiry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// Sends `signo` to the process, or to one thread (SIGEV_THREAD_ID),
    /// carrying `value`.
    Signal {
        signo: i32,
        value: u64,
        thread: Option<i32>,
    },
    /// SIGEV_NONE: nothing; the timer is only read.
    Nothing,
}

/// One timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// The next expiry; None while disarmed.
    pub deadline: Option<Instant>,
    /// Re-armed by this much after each expiry; zero for one-shot.
    pub interval: Duration,
    pub notify: Notify,
    /// Expiries that went by without a signal of their own, at the last
    /// expiry (timer_getoverrun(2)).
    pub overrun: u32,
    /// The clock absolute times are read on.
    pub clock: libc::clockid_t,
}

impl Timer {
    /// An ITIMER_REAL that sends SIGALRM.
    pub fn real(deadline: Instant, interval: Duration) -> Self {
        Timer {
            deadline: Some(deadline),
            interval,
            notify: Notify::Signal {
                signo: libc::SIGALRM,
                value: 0,
                thread: None,
            },
            overrun: 0,
            clock: libc::CLOCK_REALTIME,
        }
    }
}

/// An interval timer on a process's CPU time (ITIMER_VIRTUAL, ITIMER_PROF).
/// The application's CPU time is all user time on cordon, so both count the
/// same clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimer {
    /// The process CPU time at which it fires.
    pub target: Duration,
    pub interval: Duration,
    /// SIGVTALRM or SIGPROF.
    pub signo: i32,
}

/// Something the timer thread wakes at a deadline (a timerfd's expiry).
pub trait Alarm: Send + Sync {
    /// Its deadline has passed: acts on it, and returns the next deadline
    /// to ring at, if any. An alarm may ring early or more than once for a
    /// deadline, and must check the time itself.
    fn ring(&self) -> Option<Instant>;
}

/// A fresh identity for [`Timers::set_alarm`].
pub fn new_alarm_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// CPU time cannot wake the timer thread, so while a CPU timer is armed it
/// looks this often.
const CPU_TIMER_TICK: Duration = Duration::from_millis(10);

#[derive(Default)]
struct State {
    timers: HashMap<(i32, TimerId), Timer>,
    /// By process and `ITIMER_*` number.
    cpu: HashMap<(i32, i32), CpuTimer>,
    /// Alarms by identity, with the deadline they ring at; an alarm that
    /// is gone when due is forgotten.
    alarms: HashMap<u64, (Instant, Weak<dyn Alarm>)>,
    /// The thread that fires timers runs.
    running: bool,
}

/// All timers of the sandbox.
#[derive(Default)]
pub struct Timers {
    state: Mutex<State>,
    changed: Condvar,
}

/// si_code of a signal from a timer.
const SI_TIMER: i32 = -2;
/// The most POSIX timers a process may hold.
const MAX_TIMERS: usize = 4096;

impl Timers {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("timers poisoned")
    }

    pub fn get(&self, pid: i32, id: TimerId) -> Option<Timer> {
        self.lock().timers.get(&(pid, id)).copied()
    }

    /// Sets (or with None removes) a timer; returns the old one. Starts the
    /// timer thread the first time one is armed.
    pub fn set(&self, core: &Arc<Core>, pid: i32, id: TimerId, timer: Option<Timer>) -> Option<Timer> {
        let mut state = self.lock();
        let old = match timer {
            Some(timer) => state.timers.insert((pid, id), timer),
            None => state.timers.remove(&(pid, id)),
        };
        self.start(core, state);
        old
    }

    /// Starts the timer thread the first time something is armed, and
    /// tells it the timers changed.
    fn start(&self, core: &Arc<Core>, mut state: std::sync::MutexGuard<'_, State>) {
        let armed =
            state.timers.values().any(|t| t.deadline.is_some()) || !state.cpu.is_empty() || !state.alarms.is_empty();
        if !state.running && armed {
            state.running = true;
            let weak = Arc::downgrade(core);
            let spawned = std::thread::Builder::new()
                .name("timers".into())
                .spawn(move || fire_timers(weak));
            if spawned.is_err() {
                state.running = false;
                tracing::error!("cannot start the timer thread");
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    pub fn get_cpu(&self, pid: i32, which: i32) -> Option<CpuTimer> {
        self.lock().cpu.get(&(pid, which)).copied()
    }

    /// Sets (or with None disarms) a CPU-time interval timer; returns the
    /// old one.
    pub fn set_cpu(&self, core: &Arc<Core>, pid: i32, which: i32, timer: Option<CpuTimer>) -> Option<CpuTimer> {
        let mut state = self.lock();
        let old = match timer {
            Some(timer) => state.cpu.insert((pid, which), timer),
            None => state.cpu.remove(&(pid, which)),
        };
        self.start(core, state);
        old
    }

    /// Rings `alarm` at `deadline` instead of whatever alarm `id` was set
    /// to; with None, forgets alarm `id`. Starts the timer thread the first
    /// time one is set.
    pub fn set_alarm(&self, core: &Arc<Core>, id: u64, alarm: Option<(Instant, Weak<dyn Alarm>)>) {
        let mut state = self.lock();
        match alarm {
            Some(alarm) => state.alarms.insert(id, alarm),
            None => state.alarms.remove(&id),
        };
        self.start(core, state);
    }

    /// Rings the alarms that are due, outside the lock (an alarm takes its
    /// own locks, which its owner may hold while setting it), and sets
    /// each again for the deadline it asks for, unless it was set meanwhile
    /// for an earlier one.
    fn ring_alarms(&self) {
        let now = Instant::now();
        let due: Vec<(u64, Weak<dyn Alarm>)> = {
            let mut state = self.lock();
            let ids: Vec<u64> = state
                .alarms
                .iter()
                .filter(|(_, (deadline, _))| *deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| state.alarms.remove(&id).map(|(_, alarm)| (id, alarm)))
                .collect()
        };
        for (id, weak) in due {
            let Some(alarm) = weak.upgrade() else { continue };
            let Some(next) = alarm.ring() else { continue };
            let mut state = self.lock();
            let entry = state.alarms.entry(id).or_insert((next, weak));
            entry.0 = entry.0.min(next);
        }
    }

    /// timer_create(2): a new disarmed POSIX timer of `pid`.
    pub fn create(&self, pid: i32, clock: libc::clockid_t, notify: Notify) -> Option<i32> {
        let mut state = self.lock();
        let owned = state
            .timers
            .keys()
            .filter(|(owner, id)| *owner == pid && *id != TimerId::Real)
            .count();
        if owned >= MAX_TIMERS {
            return None;
        }
        let id = (0..).find(|&id| !state.timers.contains_key(&(pid, TimerId::Posix(id))))?;
        let timer = Timer {
            deadline: None,
            interval: Duration::ZERO,
            notify,
            overrun: 0,
            clock,
        };
        state.timers.insert((pid, TimerId::Posix(id)), timer);
        Some(id)
    }

    /// Forgets every timer of a process that exited or exec'd (POSIX
    /// timers do not survive execve; ITIMER_REAL does, `keep_real`).
    pub fn forget(&self, pid: i32, keep_real: bool) {
        self.lock()
            .timers
            .retain(|(owner, id), _| *owner != pid || (keep_real && *id == TimerId::Real));
    }
}

/// The timer thread: sleeps until the earliest deadline, sends the
/// signals, re-arms periodic timers. Ends with the kernel.
fn fire_timers(core: Weak<Core>) {
    while let Some(strong) = core.upgrade() {
        let timers = &strong.timers;
        timers.ring_alarms();
        let mut state = timers.lock();
        let now = Instant::now();
        let due: Vec<(i32, TimerId)> = state
            .timers
            .iter()
            .filter(|(_, t)| t.deadline.is_some_and(|deadline| deadline <= now))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            let timer = state.timers.get_mut(&key).expect("listed above");
            let deadline = timer.deadline.expect("due timers are armed");
            // Expiries missed while the thread was late count as overruns.
            let missed = if timer.interval.is_zero() {
                0
            } else {
                ((now - deadline).as_nanos() / timer.interval.as_nanos()) as u64
            };
            timer.overrun = u32::try_from(missed).unwrap_or(u32::MAX);
            timer.deadline = if timer.interval.is_zero() {
                None
            } else {
                Some(deadline + timer.interval * (missed as u32 + 1))
            };
            let (pid, id) = key;
            let sent = match timer.notify {
                Notify::Nothing => Ok(()),
                Notify::Signal { signo, value, thread } => {
                    let info = match id {
                        // Interval timers signal as the kernel itself.
                        TimerId::Real => SigInfo::from_kernel(signo),
                        TimerId::Posix(id) => SigInfo::from_timer(signo, SI_TIMER, id, timer.overrun, value),
                    };
                    match thread {
                        Some(tid) => strong.tasks.send_thread(tid, Some(pid), &Credentials::default(), info),
                        None => strong.tasks.send(pid, info),
                    }
                }
            };
            if sent.is_err() {
                state.timers.remove(&key);
            }
        }
        let cpu_due: Vec<((i32, i32), CpuTimer, Duration)> = state
            .cpu
            .iter()
            .map(|(key, timer)| (*key, *timer, strong.tasks.process_cpu(key.0)))
            .filter(|(_, timer, used)| *used >= timer.target)
            .collect();
        for (key, timer, used) in cpu_due {
            if timer.interval.is_zero() {
                state.cpu.remove(&key);
            } else {
                let next = CpuTimer {
                    target: used + timer.interval,
                    ..timer
                };
                state.cpu.insert(key, next);
            }
            if strong.tasks.send(key.0, SigInfo::from_kernel(timer.signo)).is_err() {
                state.cpu.remove(&key);
            }
        }
        // Sleep until the next deadline or a change, and at most a second,
        // to notice the kernel going away.
        let tick = if state.cpu.is_empty() {
            Duration::from_secs(1)
        } else {
            CPU_TIMER_TICK
        };
        let wait = state
            .timers
            .values()
            .filter_map(|t| t.deadline)
            .chain(state.alarms.values().map(|(deadline, _)| *deadline))
            .map(|deadline| deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(tick)
            .min(tick);
        drop(timers.changed.wait_timeout(state, wait).expect("timers poisoned"));
    }
}
