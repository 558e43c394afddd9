//! The structures of Linux's x86-64 ABI that the kernel reads from and
//! writes to application memory, laid out as the application's headers lay
//! them out (include/uapi/asm-generic/stat.h, statfs.h, time_types.h,
//! resource.h, termbits.h, utsname.h, capability.h, filter.h), with the
//! field names libc gives them.

use std::time::Duration;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `struct timespec`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl Timespec {
    /// `duration` as a timespec. Seconds past i64::MAX saturate: no time
    /// the kernel reports (left on a timer, CPU used, since boot) gets
    /// there.
    pub fn from_duration(duration: Duration) -> Timespec {
        Timespec {
            tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(duration.subsec_nanos()),
        }
    }
}

/// `struct timeval`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

impl Timeval {
    /// `duration` as a timeval, cut to microseconds; seconds saturate as
    /// [`Timespec::from_duration`]'s do.
    pub fn from_duration(duration: Duration) -> Timeval {
        Timeval {
            tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
            tv_usec: i64::from(duration.subsec_micros()),
        }
    }
}

/// `struct stat` (x86-64's, which is also the kernel's `struct stat`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub __pad0: i32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub __unused: [i64; 3],
}

impl Stat {
    /// The size in bytes. st_size is an off_t, but no filesystem gives a
    /// negative one; were one to, the file would read as empty.
    pub fn size(&self) -> u64 {
        u64::try_from(self.st_size).unwrap_or(0)
    }
}

impl From<libc::stat> for Stat {
    /// The host's answer about a host file, as the application sees it.
    fn from(st: libc::stat) -> Stat {
        Stat {
            st_dev: st.st_dev,
            st_ino: st.st_ino,
            st_nlink: st.st_nlink,
            st_mode: st.st_mode,
            st_uid: st.st_uid,
            st_gid: st.st_gid,
            __pad0: 0,
            st_rdev: st.st_rdev,
            st_size: st.st_size,
            st_blksize: st.st_blksize,
            st_blocks: st.st_blocks,
            st_atime: st.st_atime,
            st_atime_nsec: st.st_atime_nsec,
            st_mtime: st.st_mtime,
            st_mtime_nsec: st.st_mtime_nsec,
            st_ctime: st.st_ctime,
            st_ctime_nsec: st.st_ctime_nsec,
            __unused: [0; 3],
        }
    }
}

/// `struct statfs`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

/// `struct rlimit` (and `struct rlimit64`, the same on x86-64).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Rlimit {
    pub rlim_cur: u64,
    pub rlim_max: u64,
}

/// `struct winsize`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Winsize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}

/// The number of control characters in the kernel's termios.
pub const NCCS: usize = 19;

/// Linux's `struct termios` as TCGETS returns it (not glibc's, which is
/// larger).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct KernelTermios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; NCCS],
}

/// Linux's `struct termios2` (TCGETS2): termios and the two speeds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct KernelTermios2 {
    pub termios: KernelTermios,
    pub c_ispeed: u32,
    pub c_ospeed: u32,
}

/// The length of each field of `struct utsname`, NUL included.
pub const UTS_FIELD: usize = 65;

/// `struct new_utsname`, what uname(2) fills.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Utsname {
    pub sysname: [u8; UTS_FIELD],
    pub nodename: [u8; UTS_FIELD],
    pub release: [u8; UTS_FIELD],
    pub version: [u8; UTS_FIELD],
    pub machine: [u8; UTS_FIELD],
    pub domainname: [u8; UTS_FIELD],
}

/// `struct __user_cap_header_struct` (capget(2), capset(2)).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CapUserHeader {
    pub version: u32,
    pub pid: i32,
}

/// `struct __user_cap_data_struct`: 32 capabilities of each set; versions 2
/// and 3 pass two of them, low word first.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CapUserData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

/// `struct sock_filter`: one classic BPF instruction (linux/filter.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`: a BPF program's length and where it is.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SockFprog {
    pub len: u16,
    pub _pad: [u8; 6],
    pub filter: u64,
}

/// `struct iovec`: one buffer of a vector.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Iovec {
    pub iov_base: u64,
    pub iov_len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes the application's headers give these structures.
    #[test]
    fn sizes_match_the_hosts_libc() {
        assert_eq!(size_of::<Timespec>(), size_of::<libc::timespec>());
        assert_eq!(size_of::<Timeval>(), size_of::<libc::timeval>());
        assert_eq!(size_of::<Stat>(), size_of::<libc::stat>());
        assert_eq!(size_of::<Statfs>(), size_of::<libc::statfs>());
        assert_eq!(size_of::<Rlimit>(), size_of::<libc::rlimit>());
        assert_eq!(size_of::<SockFilter>(), size_of::<libc::sock_filter>());
        assert_eq!(size_of::<SockFprog>(), size_of::<libc::sock_fprog>());
        assert_eq!(size_of::<Iovec>(), size_of::<libc::iovec>());
        assert_eq!(size_of::<Winsize>(), size_of::<libc::winsize>());
        assert_eq!(size_of::<Utsname>(), size_of::<libc::utsname>());
    }

    #[test]
    fn durations_convert_and_saturate() {
        let d = Duration::new(3, 4_005_006);
        assert_eq!(
            Timespec::from_duration(d),
            Timespec {
                tv_sec: 3,
                tv_nsec: 4_005_006
            }
        );
        assert_eq!(
            Timeval::from_duration(d),
            Timeval {
                tv_sec: 3,
                tv_usec: 4_005
            }
        );
        assert_eq!(Timespec::from_duration(Duration::MAX).tv_sec, i64::MAX);
    }

    #[test]
    fn a_host_stat_keeps_its_fields() {
        let host = nix::sys::stat::stat("/").expect("stat /");
        let st = Stat::from(host);
        assert_eq!(
            (st.st_dev, st.st_ino, st.st_mode),
            (host.st_dev, host.st_ino, host.st_mode)
        );
        assert_eq!((st.st_mtime, st.st_mtime_nsec), (host.st_mtime, host.st_mtime_nsec));
    }
}
