//! The Linux application binary interface as the kernel speaks it: x86-64
//! registers and calling convention, errno values, flag words, signals,
//! resource limits, credentials, exit statuses and the kernel version
//! reported. Plain data and the rules that go with it; nothing here knows a
//! task or a file.

pub mod addr;
pub mod arch;
pub mod capability;
pub mod credentials;
pub mod errno;
pub mod exit;
pub mod flags;
pub mod limits;
pub mod pod;
pub mod signal;
pub mod structs;
pub mod version;

pub use addr::UserAddr;
pub use credentials::Credentials;
pub use exit::ExitStatus;
