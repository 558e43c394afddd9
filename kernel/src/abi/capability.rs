//! Capabilities (capabilities(7)): the numbers, their names, and the sets
//! a thread holds.

use std::fmt;

/// One capability, by its number in linux/capability.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(u8);

/// Every capability Linux 6.1 knows, in number order, with its name.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

impl Capability {
    pub const CHOWN: Capability = Capability(0);
    pub const DAC_OVERRIDE: Capability = Capability(1);
    pub const DAC_READ_SEARCH: Capability = Capability(2);
    pub const FOWNER: Capability = Capability(3);
    pub const FSETID: Capability = Capability(4);
    pub const KILL: Capability = Capability(5);
    pub const SETGID: Capability = Capability(6);
    pub const SETUID: Capability = Capability(7);
    pub const SETPCAP: Capability = Capability(8);
    pub const LINUX_IMMUTABLE: Capability = Capability(9);
    pub const NET_BIND_SERVICE: Capability = Capability(10);
    pub const NET_ADMIN: Capability = Capability(12);
    pub const NET_RAW: Capability = Capability(13);
    pub const IPC_LOCK: Capability = Capability(14);
    pub const IPC_OWNER: Capability = Capability(15);
    pub const SYS_MODULE: Capability = Capability(16);
    pub const SYS_RAWIO: Capability = Capability(17);
    pub const SYS_CHROOT: Capability = Capability(18);
    pub const SYS_PTRACE: Capability = Capability(19);
    pub const SYS_ADMIN: Capability = Capability(21);
    pub const SYS_BOOT: Capability = Capability(22);
    pub const SYS_NICE: Capability = Capability(23);
    pub const SYS_RESOURCE: Capability = Capability(24);
    pub const SYS_TIME: Capability = Capability(25);
    pub const SYS_TTY_CONFIG: Capability = Capability(26);
    pub const MKNOD: Capability = Capability(27);
    pub const AUDIT_WRITE: Capability = Capability(29);
    pub const SETFCAP: Capability = Capability(31);
    pub const MAC_OVERRIDE: Capability = Capability(32);
    pub const SYSLOG: Capability = Capability(34);

    /// CAP_LAST_CAP: the highest number this kernel knows.
    pub const LAST: Capability = Capability(40);

    /// The capability numbered `number`, if Linux has one.
    pub fn from_number(number: u32) -> Option<Capability> {
        let number = u8::try_from(number).ok()?;
        (number <= Self::LAST.0).then_some(Capability(number))
    }

    /// The capability an OCI spec or a tool names: "CAP_CHOWN" (or
    /// "chown", as capsh and setpriv spell them).
    pub fn from_name(name: &str) -> Option<Capability> {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let index = NAMES.iter().position(|known| *known == full)?;
        Some(Capability(u8::try_from(index).expect("41 names")))
    }

    pub fn number(self) -> u32 {
        u32::from(self.0)
    }

    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }

    fn bit(self) -> u64 {
        1 << self.0
    }
}

/// A set of capabilities, as the kernel's 64-bit kernel_cap_t holds them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);
    /// Every capability this kernel knows (CAP_LAST_CAP and below).
    pub const ALL: CapSet = CapSet((1 << (Capability::LAST.0 + 1)) - 1);

    /// The set `bits` stands for, without bits past CAP_LAST_CAP.
    pub const fn from_bits(bits: u64) -> CapSet {
        CapSet(bits & Self::ALL.0)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set as capget(2) passes it: the low 32 capabilities, then the
    /// high ones.
    pub fn words(self) -> [u32; 2] {
        let low = u32::try_from(self.0 & 0xffff_ffff).expect("masked to 32 bits");
        let high = u32::try_from(self.0 >> 32).expect("shifted to 32 bits");
        [low, high]
    }

    /// The set capset(2) passes as `words`.
    pub fn from_words([low, high]: [u32; 2]) -> CapSet {
        CapSet::from_bits(u64::from(low) | (u64::from(high) << 32))
    }

    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !cap.bit();
    }

    pub const fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    pub const fn intersection(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    pub const fn difference(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    pub const fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The capabilities named by `names`; None for a name Linux does not
    /// know.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<CapSet, &'a str> {
        let mut set = CapSet::EMPTY;
        for name in names {
            set.insert(Capability::from_name(name).ok_or(name)?);
        }
        Ok(set)
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(caps: I) -> CapSet {
        let mut set = CapSet::EMPTY;
        for cap in caps {
            set.insert(cap);
        }
        set
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The capabilities that follow the filesystem uid: dropped from the
/// effective set when it leaves 0, raised from the permitted set when it
/// becomes 0 (capabilities(7), "Effect of user ID changes").
pub const FS_CAPABILITIES: CapSet = CapSet::from_bits(
    Capability::CHOWN.bit_const()
        | Capability::DAC_OVERRIDE.bit_const()
        | Capability::DAC_READ_SEARCH.bit_const()
        | Capability::FOWNER.bit_const()
        | Capability::FSETID.bit_const()
        | Capability::LINUX_IMMUTABLE.bit_const()
        | Capability::MAC_OVERRIDE.bit_const()
        | Capability::MKNOD.bit_const(),
);

impl Capability {
    const fn bit_const(self) -> u64 {
        1 << self.0
    }
}

/// A thread's five capability sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub bounding: CapSet,
    pub ambient: CapSet,
}

impl Capabilities {
    /// What a uid-0 process has when nothing narrowed it: everything,
    /// nothing inheritable or ambient.
    pub const FULL: Capabilities = Capabilities {
        effective: CapSet::ALL,
        permitted: CapSet::ALL,
        inheritable: CapSet::EMPTY,
        bounding: CapSet::ALL,
        ambient: CapSet::EMPTY,
    };

    /// What a process of another uid has: nothing, with the full bounding
    /// set.
    pub const NONE: Capabilities = Capabilities {
        effective: CapSet::EMPTY,
        permitted: CapSet::EMPTY,
        inheritable: CapSet::EMPTY,
        bounding: CapSet::ALL,
        ambient: CapSet::EMPTY,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_match_linux() {
        assert_eq!(Capability::from_name("CAP_CHOWN"), Some(Capability::CHOWN));
        assert_eq!(
            Capability::from_name("net_bind_service"),
            Some(Capability::NET_BIND_SERVICE)
        );
        assert_eq!(
            Capability::from_name("CAP_CHECKPOINT_RESTORE").map(Capability::number),
            Some(40)
        );
        assert_eq!(Capability::from_name("CAP_NOPE"), None);
        assert_eq!(Capability::SYS_ADMIN.name(), "CAP_SYS_ADMIN");
        assert_eq!(Capability::from_number(41), None);
        assert_eq!(CapSet::ALL.bits(), 0x1ff_ffff_ffff);
        assert_eq!(
            CapSet::from_names(["CAP_KILL", "CAP_NET_BIND_SERVICE"]).map(CapSet::bits),
            Ok(0x420)
        );
    }
}
