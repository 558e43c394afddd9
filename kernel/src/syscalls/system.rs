//! The system as a whole: uname, getrandom, sched_yield.

use nix::errno::Errno;

use super::MAX_RW_COUNT;
use super::context::TaskCtx;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;

const VERSION: &str = "#1 SMP cordon";

/// Implements uname(2).
pub fn uname(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // struct utsname: six fields of 65 bytes, NUL-padded.
    let fields = [
        "Linux",
        task.kernel.config.hostname.as_str(),
        crate::abi::version::RELEASE,
        VERSION,
        "x86_64",
        "(none)",
    ];
    let mut bytes = [0u8; 6 * 65];
    for (field, value) in bytes.chunks_exact_mut(65).zip(fields) {
        let n = value.len().min(64);
        field[..n].copy_from_slice(&value.as_bytes()[..n]);
    }
    task.mm().copy_out(args.addr(0), &bytes)?;
    Ok(0)
}

/// Implements getrandom(2) from the host's random source.
pub fn getrandom(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let (addr, len, flags) = (args.addr(0), args.u64(1).min(MAX_RW_COUNT), args.u32(2));
    let known = libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE;
    if flags & !known != 0
        || flags & (libc::GRND_RANDOM | libc::GRND_INSECURE) == (libc::GRND_RANDOM | libc::GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    task.mm().check(addr, len, true)?;
    let len = usize::try_from(len).expect("at most MAX_RW_COUNT");
    let mut done = 0;
    let mut chunk = vec![0u8; len.min(CHUNK)];
    while done < len {
        let want = (len - done).min(CHUNK);
        let got = match crate::sys::random::fill(&mut chunk[..want], flags & libc::GRND_NONBLOCK) {
            Ok(got) => got,
            Err(errno) if done == 0 => return Err(errno),
            Err(_) => break,
        };
        task.mm().copy_out(addr + usize_to_u64(done), &chunk[..got])?;
        done += got;
        if got < want {
            break;
        }
    }
    Ok(usize_to_u64(done))
}

/// getrandom(2) fills in pieces of this size.
const CHUNK: usize = 1 << 16;

/// Implements sched_yield(2).
pub fn sched_yield(_task: &mut TaskCtx, _args: &SyscallArgs) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}

/// Implements sysinfo(2): the sandbox's uptime and process count; memory
/// figures are the host's, as a container sees them on Linux.
pub fn sysinfo(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let host = nix::sys::sysinfo::sysinfo()?;
    // struct sysinfo on x86-64: uptime, loads[3], totalram, freeram,
    // sharedram, bufferram, totalswap, freeswap (all 8 bytes), procs (u16),
    // padding, totalhigh, freehigh, mem_unit (u32), padding: 112 bytes.
    let mut out = [0u8; 112];
    let uptime = task.core().boot_time.elapsed().as_secs();
    out[0..8].copy_from_slice(&uptime.to_le_bytes());
    out[32..40].copy_from_slice(&host.ram_total().to_le_bytes());
    out[40..48].copy_from_slice(&host.ram_unused().to_le_bytes());
    out[64..72].copy_from_slice(&host.swap_total().to_le_bytes());
    out[72..80].copy_from_slice(&host.swap_free().to_le_bytes());
    let procs = u16::try_from(task.tasks().count()).unwrap_or(u16::MAX);
    out[80..82].copy_from_slice(&procs.to_le_bytes());
    out[104..108].copy_from_slice(&1u32.to_le_bytes());
    task.mm().copy_out(args.addr(0), &out)?;
    Ok(0)
}
