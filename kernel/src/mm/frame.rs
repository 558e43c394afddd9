//! The x86-64 signal frame, laid out exactly as Linux's
//! setup_rt_frame() lays it out (arch/x86/kernel/signal_64.c), and its
//! undoing by rt_sigreturn(2).
//!
//! ```text
//!   higher addresses
//!   [ red zone, 128 bytes, left alone ]
//!   [ XSAVE image + FP_XSTATE_MAGIC2 ]   64-byte aligned   <- sigcontext.fpstate
//!   [ siginfo (128) ]
//!   [ ucontext (304): flags, link, stack_t, sigcontext, sigmask ]
//!   [ pretcode = sa_restorer ]           rsp at handler entry, rsp+8 16-aligned
//! ```

use nix::errno::Errno;

use crate::abi::UserAddr;
use crate::abi::arch::Registers;
use crate::abi::signal::{SA_ONSTACK, SI_KERNEL, SigAction, SigInfo, SigSet, UNBLOCKABLE};
use crate::mm::MemoryManager;
use crate::platform::AddressSpace;

/// Size of `struct ucontext` on x86-64.
const UCONTEXT_SIZE: u64 = 304;
const SIGINFO_SIZE: u64 = 128;
/// pretcode + ucontext + siginfo.
const FRAME_SIZE: u64 = 8 + UCONTEXT_SIZE + SIGINFO_SIZE;
/// Offsets inside the ucontext.
const UC_STACK: usize = 16;
const UC_MCONTEXT: usize = 40;
const UC_SIGMASK: usize = 296;
/// uc_flags: the frame has an XSAVE image and saves ss.
const UC_FLAGS: u64 = 0x1 | 0x2 | 0x4;
/// Marks the end of the XSAVE image in a frame (FP_XSTATE_MAGIC2).
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// The eflags bits a handler's sigreturn may change (FIX_EFLAGS).
const FIX_EFLAGS: u64 = 0x0000_0001 // CF
    | 0x0000_0004 // PF
    | 0x0000_0010 // AF
    | 0x0000_0040 // ZF
    | 0x0000_0080 // SF
    | 0x0000_0100 // TF
    | 0x0000_0400 // DF
    | 0x0000_0800 // OF
    | 0x0004_0000 // AC
    | 0x0001_0000; // RF
const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;

/// The alternate signal stack of a task (sigaltstack(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

impl AltStack {
    pub const DISABLED: AltStack = AltStack {
        sp: 0,
        flags: SS_DISABLE,
        size: 0,
    };

    pub fn enabled(&self) -> bool {
        self.flags & SS_DISABLE == 0
    }

    /// Whether `sp` is on this stack (as Linux's on_sig_stack()).
    pub fn contains(&self, sp: u64) -> bool {
        self.enabled() && sp > self.sp && sp - self.sp <= self.size
    }
}

/// Everything a frame records.
pub struct FrameRequest<'a> {
    pub info: &'a SigInfo,
    pub action: &'a SigAction,
    /// The mask to restore at sigreturn.
    pub saved_mask: SigSet,
    pub altstack: AltStack,
    /// The interrupted thread's XSAVE image.
    pub fp_state: &'a [u8],
}

/// Writes the frame for a handler and points the registers at it.
pub fn push(
    mm: &mut MemoryManager,
    space: &dyn AddressSpace,
    regs: &mut Registers,
    request: &FrameRequest,
    stack_limit: u64,
) -> Result<(), Errno> {
    let on_altstack = request.altstack.contains(regs.rsp);
    let mut sp = regs.rsp - 128;
    if request.action.flags & SA_ONSTACK != 0 && request.altstack.enabled() && !on_altstack {
        sp = request.altstack.sp + request.altstack.size;
    }
    let fp_len = request.fp_state.len() as u64;
    let fp_addr = (sp - fp_len - 4) & !63;
    let frame = ((fp_addr - FRAME_SIZE) & !15) - 8;
    // The kernel writes the frame itself, so it must grow the stack as a
    // fault there would have.
    if mm.copy_out(UserAddr::new(frame), &[0]).is_err() {
        mm.grow_down(frame, stack_limit, space);
    }

    let mut fp = request.fp_state.to_vec();
    describe_xstate(&mut fp);
    fp.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    mm.copy_out(UserAddr::new(fp_addr), &fp)?;

    let mut bytes = vec![0u8; FRAME_SIZE as usize];
    bytes[0..8].copy_from_slice(&request.action.restorer.to_le_bytes());
    let uc = &mut bytes[8..8 + UCONTEXT_SIZE as usize];
    uc[0..8].copy_from_slice(&UC_FLAGS.to_le_bytes());
    let stack_flags = if on_altstack {
        SS_ONSTACK
    } else {
        request.altstack.flags
    };
    uc[UC_STACK..UC_STACK + 8].copy_from_slice(&request.altstack.sp.to_le_bytes());
    uc[UC_STACK + 8..UC_STACK + 12].copy_from_slice(&stack_flags.to_le_bytes());
    uc[UC_STACK + 16..UC_STACK + 24].copy_from_slice(&request.altstack.size.to_le_bytes());
    write_sigcontext(&mut uc[UC_MCONTEXT..UC_MCONTEXT + 256], regs, request, fp_addr);
    uc[UC_SIGMASK..UC_SIGMASK + 8].copy_from_slice(&request.saved_mask.to_le_bytes());
    let info_offset = 8 + UCONTEXT_SIZE as usize;
    bytes[info_offset..].copy_from_slice(&request.info.to_bytes());
    mm.copy_out(UserAddr::new(frame), &bytes)?;

    regs.rsp = frame;
    regs.rip = request.action.handler;
    regs.rdi = request.info.signo as u64;
    regs.rsi = frame + info_offset as u64;
    regs.rdx = frame + 8;
    regs.rax = 0;
    // Handlers start with the direction and trap flags clear.
    regs.eflags &= !(0x400 | 0x100 | 0x1_0000);
    Ok(())
}

/// Offsets in the XSAVE image.
const SW_RESERVED: usize = 464;
const MXCSR: usize = 24;
const XSTATE_BV: usize = 512;
/// FP_XSTATE_MAGIC1: the sw_reserved bytes describe an XSAVE image.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// MXCSR at power-up: all exceptions masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1f80;

/// Fills the sw_reserved bytes of an XSAVE image (struct _fpx_sw_bytes) so
/// the frame says what it holds, as Linux does.
fn describe_xstate(fp: &mut [u8]) {
    if fp.len() < XSTATE_BV + 64 {
        return;
    }
    let size = fp.len() as u32;
    fp[SW_RESERVED..SW_RESERVED + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
    fp[SW_RESERVED + 4..SW_RESERVED + 8].copy_from_slice(&(size + 4).to_le_bytes());
    fp[SW_RESERVED + 8..SW_RESERVED + 16].copy_from_slice(&crate::sys::cpu::xsave_features().to_le_bytes());
    fp[SW_RESERVED + 16..SW_RESERVED + 20].copy_from_slice(&size.to_le_bytes());
}

/// The FPU state a handler starts with: every component in its initial
/// state and MXCSR at its default (Linux's fpu__clear_user_states()).
pub fn handler_fp_state(current: &[u8]) -> Vec<u8> {
    let mut fp = current.to_vec();
    if fp.len() >= XSTATE_BV + 8 {
        fp[..SW_RESERVED].fill(0);
        // x87 control word at power-up.
        fp[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
        fp[MXCSR..MXCSR + 4].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
        fp[XSTATE_BV..XSTATE_BV + 8].fill(0);
    }
    fp
}

/// struct sigcontext: r8–r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip,
/// eflags, cs/gs/fs/ss, err, trapno, oldmask, cr2, fpstate, reserved.
fn write_sigcontext(out: &mut [u8], regs: &Registers, request: &FrameRequest, fp_addr: u64) {
    let fault = SI_KERNEL != request.info.code && request.info.code > 0 && request.info.signo == libc::SIGSEGV;
    let selectors = (regs.cs & 0xffff) | (regs.gs & 0xffff) << 16 | (regs.fs & 0xffff) << 32 | (regs.ss & 0xffff) << 48;
    let words = [
        regs.r8,
        regs.r9,
        regs.r10,
        regs.r11,
        regs.r12,
        regs.r13,
        regs.r14,
        regs.r15,
        regs.rdi,
        regs.rsi,
        regs.rbp,
        regs.rbx,
        regs.rdx,
        regs.rax,
        regs.rcx,
        regs.rsp,
        regs.rip,
        regs.eflags,
        selectors,
        0,                                         // err
        if fault { 14 } else { 0 },                // trapno: page fault
        request.saved_mask,                        // oldmask
        if fault { request.info.addr } else { 0 }, // cr2
        fp_addr,
    ];
    for (slot, word) in out.chunks_exact_mut(8).zip(words) {
        slot.copy_from_slice(&word.to_le_bytes());
    }
}

/// What rt_sigreturn(2) restores besides the registers.
pub struct Restored {
    pub mask: SigSet,
    pub altstack: AltStack,
    /// The XSAVE image to load, when the frame has one.
    pub fp_state: Option<Vec<u8>>,
}

/// Reads the frame the handler returned from (rsp points just past its
/// pretcode) and restores the registers. `fp_len` is the XSAVE size.
pub fn pop(mm: &MemoryManager, regs: &mut Registers, fp_len: usize) -> Result<Restored, Errno> {
    let uc_addr = regs.rsp;
    let mut uc = vec![0u8; UCONTEXT_SIZE as usize];
    mm.copy_in(UserAddr::new(uc_addr), &mut uc)?;
    let word = |offset: usize| u64::from_le_bytes(uc[offset..offset + 8].try_into().expect("8 bytes"));
    let mc = |index: usize| word(UC_MCONTEXT + index * 8);
    regs.r8 = mc(0);
    regs.r9 = mc(1);
    regs.r10 = mc(2);
    regs.r11 = mc(3);
    regs.r12 = mc(4);
    regs.r13 = mc(5);
    regs.r14 = mc(6);
    regs.r15 = mc(7);
    regs.rdi = mc(8);
    regs.rsi = mc(9);
    regs.rbp = mc(10);
    regs.rbx = mc(11);
    regs.rdx = mc(12);
    regs.rax = mc(13);
    regs.rcx = mc(14);
    regs.rsp = mc(15);
    regs.rip = mc(16);
    regs.eflags = (regs.eflags & !FIX_EFLAGS) | (mc(17) & FIX_EFLAGS);
    // Segment selectors stay the kernel's: a handler cannot switch to a
    // privileged or 32-bit code segment.
    // A sigreturn never restarts a system call.
    regs.orig_rax = u64::MAX;
    let fp_addr = mc(23);
    let fp_state = if fp_addr != 0 {
        let mut fp = vec![0u8; fp_len];
        mm.copy_in(UserAddr::new(fp_addr), &mut fp)?;
        Some(fp)
    } else {
        None
    };
    let stack_flags = i32::from_le_bytes(uc[UC_STACK + 8..UC_STACK + 12].try_into().expect("4 bytes"));
    let altstack = AltStack {
        sp: word(UC_STACK),
        flags: stack_flags & !SS_ONSTACK,
        size: word(UC_STACK + 16),
    };
    Ok(Restored {
        mask: word(UC_SIGMASK) & !UNBLOCKABLE,
        altstack,
        fp_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_sizes_match_linux() {
        assert_eq!(FRAME_SIZE, 440);
        assert_eq!(UC_MCONTEXT + 256, UC_SIGMASK);
    }

    #[test]
    fn altstack_bounds() {
        let stack = AltStack {
            sp: 0x1000,
            flags: 0,
            size: 0x1000,
        };
        assert!(stack.contains(0x1800));
        assert!(stack.contains(0x2000));
        assert!(!stack.contains(0x1000));
        assert!(!AltStack::DISABLED.contains(0));
    }
}
