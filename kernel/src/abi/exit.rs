//! How a process ends.

/// How a process ended, as `wait` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`; only the low 8 bits survive, as on Linux.
    Exited(u8),
    /// Killed by this signal number.
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell would report: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => i32::from(code),
            ExitStatus::Signaled(sig) => 128 + sig,
        }
    }
}
