//! Resource limits (getrlimit(2)), kept by the kernel, never applied to the host.

use nix::errno::Errno;

/// Number of resources Linux defines (RLIMIT_CPU .. RLIMIT_RTTIME).
pub const RLIM_NLIMITS: usize = 16;
/// The "no limit" value.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// One limit: the soft value enforced and the hard ceiling for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// A process's limits, indexed by `RLIMIT_*` number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLimits {
    limits: [Limit; RLIM_NLIMITS],
}

impl Default for ResourceLimits {
    /// The limits a Linux init starts with (see `INIT_RLIMITS` in
    /// include/asm-generic/resource.h).
    fn default() -> Self {
        let unlimited = Limit {
            soft: RLIM_INFINITY,
            hard: RLIM_INFINITY,
        };
        let mut limits = [unlimited; RLIM_NLIMITS];
        limits[libc::RLIMIT_STACK as usize] = Limit {
            soft: 8 << 20,
            hard: RLIM_INFINITY,
        };
        limits[libc::RLIMIT_CORE as usize] = Limit {
            soft: 0,
            hard: RLIM_INFINITY,
        };
        limits[libc::RLIMIT_NPROC as usize] = Limit {
            soft: 0x3fff,
            hard: 0x3fff,
        };
        limits[libc::RLIMIT_NOFILE as usize] = Limit { soft: 1024, hard: 4096 };
        limits[libc::RLIMIT_MEMLOCK as usize] = Limit {
            soft: 8 << 20,
            hard: 8 << 20,
        };
        limits[libc::RLIMIT_SIGPENDING as usize] = Limit {
            soft: 0x3fff,
            hard: 0x3fff,
        };
        limits[libc::RLIMIT_MSGQUEUE as usize] = Limit {
            soft: 819_200,
            hard: 819_200,
        };
        limits[libc::RLIMIT_NICE as usize] = Limit { soft: 0, hard: 0 };
        limits[libc::RLIMIT_RTPRIO as usize] = Limit { soft: 0, hard: 0 };
        ResourceLimits { limits }
    }
}

impl ResourceLimits {
    /// The limit on `resource`, or EINVAL for an unknown resource.
    pub fn get(&self, resource: u32) -> Result<Limit, Errno> {
        self.limits.get(resource as usize).copied().ok_or(Errno::EINVAL)
    }

    /// Sets a limit as setrlimit(2) does: the soft value may not exceed the
    /// hard one, and raising the hard one takes CAP_SYS_RESOURCE.
    pub fn set(&mut self, resource: u32, new: Limit, privileged: bool) -> Result<(), Errno> {
        let slot = self.limits.get_mut(resource as usize).ok_or(Errno::EINVAL)?;
        if new.soft > new.hard {
            return Err(Errno::EINVAL);
        }
        if new.hard > slot.hard && !privileged {
            return Err(Errno::EPERM);
        }
        if resource == libc::RLIMIT_NOFILE && new.hard > NR_OPEN {
            return Err(Errno::EPERM);
        }
        *slot = new;
        Ok(())
    }

    /// Sets a limit from configuration (an OCI spec), where no privilege rule
    /// applies but the values must still be coherent.
    pub fn configure(&mut self, resource: u32, new: Limit) -> Result<(), Errno> {
        self.set(resource, new, true)
    }

    /// The soft value of `resource`, which is what the kernel enforces.
    pub fn soft(&self, resource: u32) -> u64 {
        self.limits[resource as usize].soft
    }
}

/// Linux's default fs.nr_open: the ceiling for RLIMIT_NOFILE.
pub const NR_OPEN: u64 = 1 << 20;

/// Maps an OCI rlimit type name ("RLIMIT_NOFILE") to its number.
pub fn resource_by_name(name: &str) -> Option<u32> {
    let number = match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    };
    Some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_above_hard_is_invalid() {
        let mut limits = ResourceLimits::default();
        let nofile = libc::RLIMIT_NOFILE;
        assert_eq!(
            limits.set(nofile, Limit { soft: 10, hard: 5 }, false),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn raising_hard_limit_needs_privilege() {
        let mut limits = ResourceLimits::default();
        let nofile = libc::RLIMIT_NOFILE;
        assert_eq!(
            limits.set(nofile, Limit { soft: 10, hard: 8192 }, false),
            Err(Errno::EPERM)
        );
        assert_eq!(limits.set(nofile, Limit { soft: 10, hard: 8192 }, true), Ok(()));
        assert_eq!(limits.get(nofile), Ok(Limit { soft: 10, hard: 8192 }));
    }

    #[test]
    fn names_map_to_numbers() {
        assert_eq!(resource_by_name("RLIMIT_NOFILE"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(resource_by_name("RLIMIT_BOGUS"), None);
    }
}
