//! The system as a whole: uname, getrandom, sched_yield.

use nix::errno::Errno;

use super::MAX_RW_COUNT;
use crate::arch::SyscallArgs;
use crate::errno::SyscallResult;
use crate::task::Task;

/// The kernel release applications see. A fixed string, never the host's:
/// it names the Linux behaviour cordon follows.
pub const RELEASE: &str = "6.1.0-cordon";
const VERSION: &str = "#1 SMP cordon";

/// Implements uname(2).
pub fn uname(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    // struct utsname: six fields of 65 bytes, NUL-padded.
    let fields = [
        "Linux",
        task.kernel.config.hostname.as_str(),
        RELEASE,
        VERSION,
        "x86_64",
        "(none)",
    ];
    let mut bytes = [0u8; 6 * 65];
    for (field, value) in bytes.chunks_exact_mut(65).zip(fields) {
        let n = value.len().min(64);
        field[..n].copy_from_slice(&value.as_bytes()[..n]);
    }
    task.mm.copy_out(args.u64(0), &bytes)?;
    Ok(0)
}

/// Implements getrandom(2) from the host's random source.
pub fn getrandom(task: &mut Task, args: &SyscallArgs) -> SyscallResult {
    let (addr, len, flags) = (args.u64(0), args.u64(1).min(MAX_RW_COUNT), args.u32(2));
    let known = libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE;
    if flags & !known != 0
        || flags & (libc::GRND_RANDOM | libc::GRND_INSECURE) == (libc::GRND_RANDOM | libc::GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let mut iovecs = Vec::new();
    task.mm.host_iovecs(addr, len, true, &mut iovecs)?;
    let mut done = 0;
    for iov in iovecs {
        let mut filled = 0;
        while filled < iov.iov_len {
            // SAFETY: the iovec points into application memory checked
            // writable by the memory manager, borrowed for this call.
            let n = unsafe {
                libc::getrandom(
                    iov.iov_base.cast::<u8>().add(filled).cast(),
                    iov.iov_len - filled,
                    flags & libc::GRND_NONBLOCK,
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    errno if done + filled == 0 => return Err(errno),
                    _ => return Ok((done + filled) as u64),
                }
            }
            filled += n as usize;
        }
        done += filled;
    }
    Ok(done as u64)
}

/// Implements sched_yield(2).
pub fn sched_yield(_task: &mut Task, _args: &SyscallArgs) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}
