//! Interval timers that deliver signals: ITIMER_REAL (alarm(2),
//! setitimer(2)), one per process, served by one kernel thread.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::kernel::Kernel;
use crate::signal::SigInfo;

/// A process's real-time interval timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealTimer {
    pub deadline: Instant,
    /// Re-armed by this much after each expiry; zero for one-shot.
    pub interval: Duration,
}

#[derive(Default)]
struct State {
    timers: HashMap<i32, RealTimer>,
    /// The thread that fires timers runs.
    running: bool,
}

/// All real-time timers of the sandbox.
#[derive(Default)]
pub struct Timers {
    state: Mutex<State>,
    changed: Condvar,
}

/// si_code of a signal from a timer.
const SI_TIMER: i32 = -2;

impl Timers {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("timers poisoned")
    }

    /// The timer of process `pid`, if armed.
    pub fn get(&self, pid: i32) -> Option<RealTimer> {
        self.lock().timers.get(&pid).copied()
    }

    /// Arms (or with None disarms) the timer of `pid`; returns the old one.
    pub fn set(&self, kernel: &Arc<Kernel>, pid: i32, timer: Option<RealTimer>) -> Option<RealTimer> {
        let mut state = self.lock();
        let old = match timer {
            Some(timer) => state.timers.insert(pid, timer),
            None => state.timers.remove(&pid),
        };
        if !state.running && !state.timers.is_empty() {
            state.running = true;
            let weak = Arc::downgrade(kernel);
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
        old
    }

    /// Forgets the timer of a process that exited.
    pub fn forget(&self, pid: i32) {
        self.lock().timers.remove(&pid);
    }
}

/// The timer thread: sleeps until the earliest deadline, sends SIGALRM,
/// re-arms periodic timers. Ends with the kernel.
fn fire_timers(kernel: Weak<Kernel>) {
    while let Some(strong) = kernel.upgrade() {
        let timers = &strong.timers;
        let mut state = timers.lock();
        let now = Instant::now();
        let due: Vec<i32> = state
            .timers
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(&pid, _)| pid)
            .collect();
        for pid in due {
            let timer = state.timers[&pid];
            if timer.interval.is_zero() {
                state.timers.remove(&pid);
            } else {
                let next = RealTimer {
                    deadline: timer.deadline + timer.interval,
                    ..timer
                };
                state.timers.insert(pid, next);
            }
            let info = SigInfo {
                signo: libc::SIGALRM,
                code: SI_TIMER,
                ..Default::default()
            };
            if strong.tasks.send(pid, info).is_err() {
                state.timers.remove(&pid);
            }
        }
        // Sleep until the next deadline or a change, and at most a second,
        // to notice the kernel going away.
        let wait = state
            .timers
            .values()
            .map(|t| t.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        drop(timers.changed.wait_timeout(state, wait).expect("timers poisoned"));
    }
}
