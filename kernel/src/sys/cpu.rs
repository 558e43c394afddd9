//! The processor itself: CPUID and the XSAVE features the host enabled.

/// XCR0: the state components the host enabled for XSAVE, which signal
/// frames advertise in their sw_reserved bytes.
pub fn xsave_features() -> u64 {
    static XCR0: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *XCR0.get_or_init(|| {
        let (low, high): (u32, u32);
        // SAFETY: xgetbv with ecx 0 reads XCR0; it is valid wherever the
        // host kernel uses XSAVE, which every x86-64 Linux with AVX does.
        unsafe {
            std::arch::asm!("xgetbv", in("ecx") 0, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
        }
        (u64::from(high) << 32) | u64::from(low)
    })
}

/// The CPUID leaf `leaf`, subleaf `subleaf`: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: cpuid only reads processor identification; rbx, which LLVM
    // reserves, is saved and restored around it.
    unsafe {
        std::arch::asm!(
            "mov {saved:r}, rbx",
            "cpuid",
            "xchg {saved:r}, rbx",
            saved = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx,
            options(nomem, nostack, preserves_flags),
        );
    }
    (eax, ebx, ecx, edx)
}

/// The CPU the calling thread runs on now.
pub fn current_cpu() -> usize {
    // Only fails on a kernel without getcpu, which cordon does not run on.
    nix::sched::sched_getcpu().unwrap_or(0)
}

/// What the host kernel tells its own processes in their auxiliary vector
/// about this CPU: AT_HWCAP, AT_HWCAP2 and AT_MINSIGSTKSZ (0 where the
/// host gives none).
pub fn host_hwcaps() -> (u64, u64, u64) {
    // SAFETY: getauxval only reads this process's auxiliary vector.
    unsafe {
        (
            libc::getauxval(libc::AT_HWCAP),
            libc::getauxval(libc::AT_HWCAP2),
            libc::getauxval(crate::abi::arch::AT_MINSIGSTKSZ),
        )
    }
}
