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
    /// The status `exit(code)` leaves: the low 8 bits of the code, as
    /// Linux's do_exit keeps `(code & 0xff) << 8`.
    pub fn from_exit_code(code: i32) -> ExitStatus {
        ExitStatus::Exited(code.to_le_bytes()[0])
    }

    /// The status a shell would report: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => i32::from(code),
            ExitStatus::Signaled(sig) => 128 + sig,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_keep_their_low_8_bits() {
        assert_eq!(ExitStatus::from_exit_code(3), ExitStatus::Exited(3));
        assert_eq!(ExitStatus::from_exit_code(256 + 7), ExitStatus::Exited(7));
        assert_eq!(ExitStatus::from_exit_code(-1), ExitStatus::Exited(255));
    }
}
