//! Scheduling as applications see it: a virtual CPU set the size of the
//! host's, and SCHED_OTHER for everyone. The host scheduler does the real
//! work on the task threads.

use nix::errno::Errno;

use super::buffer_len;
use super::context::TaskCtx;
use crate::abi::arch::{SyscallArgs, usize_to_u64};
use crate::abi::errno::SyscallResult;

/// The size of the kernel's cpumask in bytes (a whole number of longs).
fn mask_bytes(cpus: usize) -> usize {
    cpus.div_ceil(64) * 8
}

fn check_target(task: &TaskCtx, pid: i32) -> Result<(), Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && task.tasks().tgid(pid).is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

/// Implements sched_getaffinity(2): every virtual CPU.
pub fn sched_getaffinity(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    check_target(task, args.int(0))?;
    let cpus = task.core().cpus;
    // The length is an unsigned int, as Linux takes it.
    let len = args.u32(1);
    let size = mask_bytes(cpus);
    if u64::from(len) < usize_to_u64(size) || len % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let mut mask = vec![0u8; size];
    for cpu in 0..cpus {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    task.mm().copy_out(args.addr(2), &mask)?;
    Ok(usize_to_u64(size))
}

/// Implements sched_setaffinity(2): accepted when the set holds a virtual
/// CPU; tasks keep running where the host puts them.
pub fn sched_setaffinity(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    check_target(task, args.int(0))?;
    let cpus = task.core().cpus;
    // The length is an unsigned int, as Linux takes it.
    let len = buffer_len(u64::from(args.u32(1)), mask_bytes(cpus));
    let mut mask = vec![0u8; len];
    task.mm().copy_in(args.addr(2), &mut mask)?;
    let any = (0..cpus).any(|cpu| cpu / 8 < len && mask[cpu / 8] & (1 << (cpu % 8)) != 0);
    if !any {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// Implements getcpu(2): the CPU the task thread runs on, node 0.
pub fn getcpu(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    let cpu = u32::try_from(crate::sys::cpu::current_cpu() % task.core().cpus).expect("a CPU number fits a u32");
    let mm = task.mm();
    if args.u64(0) != 0 {
        mm.write_pod(args.addr(0), &cpu)?;
    }
    if args.u64(1) != 0 {
        mm.write_pod(args.addr(1), &0u32)?;
    }
    Ok(0)
}

/// Implements sched_getscheduler(2): SCHED_OTHER.
pub fn sched_getscheduler(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    check_target(task, args.int(0))?;
    Ok(libc::SCHED_OTHER as u64)
}

/// Implements sched_getparam(2): priority 0, as for SCHED_OTHER.
pub fn sched_getparam(task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    check_target(task, args.int(0))?;
    task.mm().write_pod(args.addr(1), &0i32)?;
    Ok(0)
}

/// Implements sched_get_priority_max(2) and sched_get_priority_min(2).
pub fn sched_get_priority(_task: &mut TaskCtx, args: &SyscallArgs) -> SyscallResult {
    match args.int(0) {
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE => Ok(0),
        libc::SCHED_FIFO | libc::SCHED_RR if args.number == libc::SYS_sched_get_priority_max as u64 => Ok(99),
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(1),
        _ => Err(Errno::EINVAL),
    }
}
