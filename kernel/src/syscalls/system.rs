//! The system as a whole: uname, getrandom, sched_yield.

use nix::errno::Errno;

use super::MAX_RW_COUNT;
use super::context::TaskCtx;
use crate::abi::ExitStatus;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::capability::Capability;
use crate::abi::errno::SyscallResult;
use crate::task::INIT_PID;

const VERSION: &str = "#1 SMP cordon";

/// Implements uname(2).
pub fn uname(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    // struct utsname: six fields of 65 bytes, NUL-padded.
    let uts = task.kernel.uts();
    let fields: [&[u8]; 6] = [
        b"Linux",
        &uts.hostname,
        crate::abi::version::RELEASE.as_bytes(),
        VERSION.as_bytes(),
        b"x86_64",
        &uts.domainname,
    ];
    let mut bytes = [0u8; 6 * 65];
    for (field, value) in bytes.chunks_exact_mut(65).zip(fields) {
        let n = value.len().min(64);
        field[..n].copy_from_slice(&value[..n]);
    }
    task.mm().copy_out(args.addr(0), &bytes)?;
    Ok(0)
}

/// __NEW_UTS_LEN: the longest name sethostname(2) takes.
const UTS_NAME_MAX: usize = 64;

/// Implements sethostname(2).
pub fn sethostname(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_uts_name(task, args, false)
}

/// Implements setdomainname(2).
pub fn setdomainname(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    set_uts_name(task, args, true)
}

/// Needs CAP_SYS_ADMIN (in the sandbox's UTS namespace, which every
/// container of it shares); the name is up to 64 bytes, taken as given.
fn set_uts_name(task: &mut TaskCtx, args: &SyscallArgs, domain: bool) -> SyscallResult {
    if !task.credentials().has(Capability::SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let len = usize::try_from(args.int(1))
        .ok()
        .filter(|len| *len <= UTS_NAME_MAX)
        .ok_or(Errno::EINVAL)?;
    let mut name = vec![0u8; len];
    task.mm().copy_in(args.addr(0), &mut name)?;
    task.kernel.set_uts_name(domain, name);
    Ok(0)
}

const REBOOT_MAGIC1: u32 = 0xfee1_dead;
const REBOOT_MAGIC2: [u32; 4] = [0x2812_1969, 0x0512_1996, 0x1604_1998, 0x2011_2000];
const REBOOT_CMD_RESTART: u32 = 0x0123_4567;
const REBOOT_CMD_RESTART2: u32 = 0xa1b2_c3d4;
const REBOOT_CMD_HALT: u32 = 0xcdef_0123;
const REBOOT_CMD_POWER_OFF: u32 = 0x4321_fedc;

/// Implements reboot(2) as Linux does inside a PID namespace (the
/// sandbox is one): with CAP_SYS_BOOT, a restart ends the init as killed
/// by SIGHUP, a halt or power-off as killed by SIGINT, and the caller
/// exits; other commands are EINVAL.
pub fn reboot(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    if !task.credentials().has(Capability::SYS_BOOT) {
        return Err(Errno::EPERM);
    }
    if args.u32(0) != REBOOT_MAGIC1 || !REBOOT_MAGIC2.contains(&args.u32(1)) {
        return Err(Errno::EINVAL);
    }
    let signal = match args.u32(2) {
        REBOOT_CMD_RESTART | REBOOT_CMD_RESTART2 => libc::SIGHUP,
        REBOOT_CMD_HALT | REBOOT_CMD_POWER_OFF => libc::SIGINT,
        _ => return Err(Errno::EINVAL),
    };
    task.tasks().exit_group(INIT_PID, ExitStatus::Signaled(signal));
    task.exit_thread(ExitStatus::Exited(0));
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
