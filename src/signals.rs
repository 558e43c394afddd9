//! Signals as the runc command line names them: `KILL`, `SIGKILL`, `9`,
//! `sigterm`, and the real-time `RTMIN+3`.

/// The standard signals by name (signal(7), x86-64 numbering).
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The lowest and highest real-time signals applications see (glibc keeps
/// 32 and 33 for itself).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Why a signal could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {0:?}; give a name such as TERM or KILL, or a number from 1 to 64")]
pub struct UnknownSignal(pub String);

/// Reads a signal given by name (with or without `SIG`, any case), as
/// `RTMIN+N` / `RTMAX-N`, or by number.
pub fn parse(text: &str) -> Result<i32, UnknownSignal> {
    let unknown = || UnknownSignal(text.to_owned());
    if let Ok(number) = text.parse::<i32>() {
        return match number {
            1..=RTMAX => Ok(number),
            _ => Err(unknown()),
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, number)) = NAMES.iter().find(|(known, _)| *known == name) {
        return Ok(number);
    }
    let realtime = |base: i32, offset: &str, sign: i32| {
        let offset = match offset {
            "" => 0,
            offset => offset.parse::<i32>().map_err(|_| unknown())?,
        };
        let number = base + sign * offset;
        match (RTMIN..=RTMAX).contains(&number) {
            true => Ok(number),
            false => Err(unknown()),
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(RTMIN, rest.strip_prefix('+').unwrap_or(rest), 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(RTMAX, rest.strip_prefix('-').unwrap_or(rest), -1);
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for text in ["KILL", "SIGKILL", "kill", "sigkill", "9"] {
            assert_eq!(parse(text), Ok(libc::SIGKILL), "{text}");
        }
        assert_eq!(parse("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse("RTMIN"), Ok(34));
        assert_eq!(parse("RTMIN+3"), Ok(37));
        assert_eq!(parse("SIGRTMAX-1"), Ok(63));
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        for text in ["0", "65", "-1", "FOO", "RTMIN+40", ""] {
            let err = parse(text).expect_err(text);
            assert!(err.to_string().contains("TERM or KILL"), "{err}");
        }
    }
}
