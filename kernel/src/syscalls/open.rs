//! Opening files by path: open, openat, openat2, creat.

use std::sync::Arc;

use nix::errno::Errno;

use super::context::TaskCtx;
use super::int_result;
use crate::abi::UserAddr;
use crate::abi::arch::SyscallArgs;
use crate::abi::errno::SyscallResult;
use crate::fsimpl::devfs;
use crate::kernel::tty_devices;
use crate::vfs::File;
use crate::vfs::{Location, ops};

/// Device nodes opened on behalf of a task: terminals depend on who asks.
struct CallerDevices<'a, 'b>(&'a TaskCtx<'b>);

impl ops::Devices for CallerDevices<'_, '_> {
    fn open_device(&self, location: Location, rdev: u64, flags: i32) -> Result<Arc<dyn File>, Errno> {
        if tty_devices::is_terminal_device(rdev) {
            tty_devices::open_device(self.0.kernel, self.0.caller(), location, rdev, flags)
        } else {
            devfs::open_device(location, rdev, flags)
        }
    }
}

/// Installs a file open(2) made. A session leader without a controlling
/// terminal that opens one for reading without O_NOCTTY takes it.
fn install_opened(task: &mut TaskCtx, file: Arc<dyn File>, flags: i32) -> SyscallResult {
    let reads = flags & libc::O_ACCMODE != libc::O_WRONLY && flags & libc::O_PATH == 0;
    if flags & libc::O_NOCTTY == 0 && reads {
        if let Some(terminal) = file.terminal() {
            task.tasks().acquire_terminal_on_open(task.pid(), &terminal);
        }
    }
    let limit = task.limit(libc::RLIMIT_NOFILE);
    let fd = task.fds().install(file, flags & libc::O_CLOEXEC != 0, 0, limit)?;
    Ok(int_result(fd))
}

/// Opens `path` relative to `dirfd` and installs the file; the common part
/// of every open call.
fn open_at(task: &mut TaskCtx, dirfd: i32, path: UserAddr, flags: i32, mode: u32) -> SyscallResult {
    let path = task.mm().read_cstring(path, libc::PATH_MAX as usize)?;
    let mode = mode & 0o7777 & !task.fs().umask;
    let file = {
        let resolver = task.resolver_at(dirfd)?;
        ops::open(&resolver, &path, flags, mode, task.caller(), &CallerDevices(task))?
    };
    install_opened(task, file, flags)
}

/// Implements open(2).
pub fn open(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    open_at(task, libc::AT_FDCWD, args.addr(0), args.int(1), args.u32(2))
}

/// Implements openat(2).
pub fn openat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    open_at(task, args.int(0), args.addr(1), args.int(2), args.u32(3))
}

/// Implements creat(2): open with O_CREAT|O_WRONLY|O_TRUNC.
pub fn creat(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    open_at(task, libc::AT_FDCWD, args.addr(0), flags, args.u32(1))
}

/// The RESOLVE_* flags openat2 knows.
const KNOWN_RESOLVE: u64 = libc::RESOLVE_NO_XDEV
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_BENEATH
    | libc::RESOLVE_IN_ROOT
    | libc::RESOLVE_CACHED;

/// Implements openat2(2): flags and mode as openat, and the resolve flag
/// RESOLVE_IN_ROOT (the dirfd is the root); RESOLVE_BENEATH refuses
/// absolute paths. RESOLVE_NO_MAGICLINKS is accepted, but /proc's magic
/// links are followed anyway: the resolver has no such mode yet.
pub fn openat2(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let size = args.size(3);
    if !(24..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; size];
    task.mm().copy_in(args.addr(2), &mut raw)?;
    if raw[24..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let word = |i: usize| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (flags, mode, resolve) = (word(0), word(1), word(2));
    // openat2 refuses flags outside Linux's VALID_OPEN_FLAGS (the highest
    // is __O_TMPFILE's bit 22) with EINVAL, so flags past an int's range
    // are EINVAL too.
    let (Ok(flags), Ok(mode)) = (i32::try_from(flags), u32::try_from(mode)) else {
        return Err(Errno::EINVAL);
    };
    if mode & !0o7777 != 0 || resolve & !KNOWN_RESOLVE != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & (libc::O_CREAT | libc::O_TMPFILE) == 0 && mode != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & libc::RESOLVE_CACHED != 0 {
        return Err(Errno::EAGAIN);
    }
    if resolve & (libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV) != 0 {
        return Err(Errno::EINVAL);
    }
    let dirfd = args.int(0);
    if resolve & (libc::RESOLVE_IN_ROOT | libc::RESOLVE_BENEATH) == 0 {
        return open_at(task, dirfd, args.addr(1), flags, mode);
    }
    let path = task.mm().read_cstring(args.addr(1), libc::PATH_MAX as usize)?;
    if resolve & libc::RESOLVE_BENEATH != 0 && path.first() == Some(&b'/') {
        return Err(Errno::EXDEV);
    }
    let mode = mode & !task.fs().umask;
    let file = {
        let mut resolver = task.resolver_at(dirfd)?;
        resolver.root = resolver.cwd.clone();
        ops::open(&resolver, &path, flags, mode, task.caller(), &CallerDevices(task))?
    };
    install_opened(task, file, flags)
}
