//! /proc/cpuinfo: the host's processor, as CPUID describes it, once per
//! virtual CPU of the sandbox.

use crate::sys::cpu::cpuid;

/// CPUID feature bits and the names Linux gives them, by (leaf, register).
const LEAF1_EDX: &[(u32, &str)] = &[
    (0, "fpu"),
    (1, "vme"),
    (2, "de"),
    (3, "pse"),
    (4, "tsc"),
    (5, "msr"),
    (6, "pae"),
    (7, "mce"),
    (8, "cx8"),
    (9, "apic"),
    (11, "sep"),
    (12, "mtrr"),
    (13, "pge"),
    (14, "mca"),
    (15, "cmov"),
    (16, "pat"),
    (17, "pse36"),
    (19, "clflush"),
    (21, "dts"),
    (22, "acpi"),
    (23, "mmx"),
    (24, "fxsr"),
    (25, "sse"),
    (26, "sse2"),
    (27, "ss"),
    (28, "ht"),
    (29, "tm"),
    (31, "pbe"),
];
const EXT1_EDX: &[(u32, &str)] = &[
    (11, "syscall"),
    (20, "nx"),
    (22, "mmxext"),
    (25, "fxsr_opt"),
    (26, "pdpe1gb"),
    (27, "rdtscp"),
    (29, "lm"),
];
const LEAF1_ECX: &[(u32, &str)] = &[
    (0, "pni"),
    (1, "pclmulqdq"),
    (2, "dtes64"),
    (3, "monitor"),
    (4, "ds_cpl"),
    (5, "vmx"),
    (6, "smx"),
    (7, "est"),
    (8, "tm2"),
    (9, "ssse3"),
    (11, "sdbg"),
    (12, "fma"),
    (13, "cx16"),
    (14, "xtpr"),
    (15, "pdcm"),
    (17, "pcid"),
    (18, "dca"),
    (19, "sse4_1"),
    (20, "sse4_2"),
    (21, "x2apic"),
    (22, "movbe"),
    (23, "popcnt"),
    (24, "tsc_deadline_timer"),
    (25, "aes"),
    (26, "xsave"),
    (28, "avx"),
    (29, "f16c"),
    (30, "rdrand"),
    (31, "hypervisor"),
];
const EXT1_ECX: &[(u32, &str)] = &[
    (0, "lahf_lm"),
    (1, "cmp_legacy"),
    (2, "svm"),
    (3, "extapic"),
    (4, "cr8_legacy"),
    (5, "abm"),
    (6, "sse4a"),
    (7, "misalignsse"),
    (8, "3dnowprefetch"),
    (9, "osvw"),
    (10, "ibs"),
    (11, "xop"),
    (12, "skinit"),
    (13, "wdt"),
    (15, "lwp"),
    (16, "fma4"),
    (17, "tce"),
    (19, "nodeid_msr"),
    (21, "tbm"),
    (22, "topoext"),
    (23, "perfctr_core"),
    (24, "perfctr_nb"),
    (26, "bpext"),
    (28, "perfctr_llc"),
    (29, "mwaitx"),
];
const LEAF7_EBX: &[(u32, &str)] = &[
    (0, "fsgsbase"),
    (1, "tsc_adjust"),
    (3, "bmi1"),
    (4, "hle"),
    (5, "avx2"),
    (7, "smep"),
    (8, "bmi2"),
    (9, "erms"),
    (10, "invpcid"),
    (11, "rtm"),
    (14, "mpx"),
    (16, "avx512f"),
    (17, "avx512dq"),
    (18, "rdseed"),
    (19, "adx"),
    (20, "smap"),
    (21, "avx512ifma"),
    (23, "clflushopt"),
    (24, "clwb"),
    (25, "intel_pt"),
    (26, "avx512pf"),
    (27, "avx512er"),
    (28, "avx512cd"),
    (29, "sha_ni"),
    (30, "avx512bw"),
    (31, "avx512vl"),
];
const LEAF7_ECX: &[(u32, &str)] = &[
    (1, "avx512vbmi"),
    (2, "umip"),
    (3, "pku"),
    (4, "ospke"),
    (5, "waitpkg"),
    (6, "avx512_vbmi2"),
    (8, "gfni"),
    (9, "vaes"),
    (10, "vpclmulqdq"),
    (11, "avx512_vnni"),
    (12, "avx512_bitalg"),
    (14, "avx512_vpopcntdq"),
    (16, "la57"),
    (22, "rdpid"),
    (25, "cldemote"),
    (27, "movdiri"),
    (28, "movdir64b"),
];
const LEAF7_EDX: &[(u32, &str)] = &[
    (2, "avx512_4vnniw"),
    (3, "avx512_4fmaps"),
    (4, "fsrm"),
    (8, "avx512_vp2intersect"),
    (10, "md_clear"),
    (14, "serialize"),
    (16, "tsxldtrk"),
    (18, "pconfig"),
    (19, "arch_lbr"),
    (22, "amx_bf16"),
    (23, "avx512_fp16"),
    (24, "amx_tile"),
    (25, "amx_int8"),
    (28, "flush_l1d"),
    (29, "arch_capabilities"),
];

/// The names of the bits set in `register`.
fn named_bits<'a>(register: u32, names: &'a [(u32, &'a str)]) -> impl Iterator<Item = &'a str> + 'a {
    names
        .iter()
        .filter(move |(bit, _)| register & (1 << bit) != 0)
        .map(|(_, name)| *name)
}

/// What CPUID says of the processor.
struct Processor {
    vendor: String,
    family: u32,
    model: u32,
    stepping: u32,
    name: String,
    max_leaf: u32,
    mhz: Option<u32>,
    clflush: u32,
    address_sizes: Option<(u32, u32)>,
    flags: Vec<&'static str>,
}

impl Processor {
    fn host() -> Processor {
        let (max_leaf, ebx, ecx, edx) = cpuid(0, 0);
        let vendor: Vec<u8> = [ebx, edx, ecx].iter().flat_map(|r| r.to_le_bytes()).collect();
        let (signature, misc, ecx1, edx1) = cpuid(1, 0);
        let base_family = (signature >> 8) & 0xf;
        let family = if base_family == 0xf {
            base_family + ((signature >> 20) & 0xff)
        } else {
            base_family
        };
        let mut model = (signature >> 4) & 0xf;
        if base_family == 0x6 || base_family == 0xf {
            model |= ((signature >> 16) & 0xf) << 4;
        }
        let (max_ext, ..) = cpuid(0x8000_0000, 0);
        let name = if max_ext >= 0x8000_0004 {
            let bytes: Vec<u8> = (0x8000_0002..=0x8000_0004)
                .flat_map(|leaf| {
                    let (a, b, c, d) = cpuid(leaf, 0);
                    [a, b, c, d].into_iter().flat_map(u32::to_le_bytes)
                })
                .take_while(|&b| b != 0)
                .collect();
            String::from_utf8_lossy(&bytes).trim().to_string()
        } else {
            String::new()
        };
        let mut flags: Vec<&'static str> = named_bits(edx1, LEAF1_EDX).collect();
        let (ext_ecx, ext_edx) = if max_ext >= 0x8000_0001 {
            let (_, _, c, d) = cpuid(0x8000_0001, 0);
            (c, d)
        } else {
            (0, 0)
        };
        flags.extend(named_bits(ext_edx, EXT1_EDX));
        flags.extend(named_bits(ecx1, LEAF1_ECX));
        flags.extend(named_bits(ext_ecx, EXT1_ECX));
        if max_leaf >= 7 {
            let (_, b, c, d) = cpuid(7, 0);
            flags.extend(named_bits(b, LEAF7_EBX));
            flags.extend(named_bits(c, LEAF7_ECX));
            flags.extend(named_bits(d, LEAF7_EDX));
        }
        let mhz = (max_leaf >= 0x16)
            .then(|| cpuid(0x16, 0).0 & 0xffff)
            .filter(|&mhz| mhz != 0);
        let address_sizes = (max_ext >= 0x8000_0008).then(|| {
            let (a, ..) = cpuid(0x8000_0008, 0);
            (a & 0xff, (a >> 8) & 0xff)
        });
        Processor {
            vendor: String::from_utf8_lossy(&vendor).into_owned(),
            family,
            model,
            stepping: signature & 0xf,
            name,
            max_leaf,
            mhz,
            clflush: ((misc >> 8) & 0xff) * 8,
            address_sizes,
            flags,
        }
    }
}

/// The text of /proc/cpuinfo for `cpus` virtual CPUs, one package with
/// one core each.
pub(super) fn text(cpus: usize) -> String {
    let p = Processor::host();
    let cpus = cpus.max(1);
    let mut text = String::new();
    for cpu in 0..cpus {
        text.push_str(&format!(
            "processor\t: {cpu}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\nmodel name\t: {}\n\
             stepping\t: {}\n",
            p.vendor, p.family, p.model, p.name, p.stepping
        ));
        if let Some(mhz) = p.mhz {
            text.push_str(&format!("cpu MHz\t\t: {mhz}.000\n"));
        }
        text.push_str(&format!(
            "physical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {cpu}\ncpu cores\t: {cpus}\n\
             apicid\t\t: {cpu}\ninitial apicid\t: {cpu}\nfpu\t\t: yes\nfpu_exception\t: yes\n\
             cpuid level\t: {}\nwp\t\t: yes\nflags\t\t: {}\n",
            p.max_leaf,
            p.flags.join(" ")
        ));
        if let Some(mhz) = p.mhz {
            text.push_str(&format!("bogomips\t: {}.00\n", mhz * 2));
        }
        text.push_str(&format!(
            "clflush size\t: {clflush}\ncache_alignment\t: {clflush}\n",
            clflush = p.clflush
        ));
        if let Some((physical, virtual_bits)) = p.address_sizes {
            text.push_str(&format!(
                "address sizes\t: {physical} bits physical, {virtual_bits} bits virtual\n"
            ));
        }
        text.push_str("power management:\n\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_cpu_with_the_fields_parsers_read() {
        let text = text(3);
        assert_eq!(text.matches("processor\t: ").count(), 3);
        assert!(text.contains("processor\t: 2\n"));
        assert!(text.contains("\nflags\t\t: fpu "));
        assert!(text.contains(" sse2"));
        assert!(text.contains("\nmodel name\t: "));
        assert!(text.ends_with("power management:\n\n"));
    }
}
