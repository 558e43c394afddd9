//! The Linux the sandbox reports being.

/// The kernel release applications see. A fixed string, never the host's:
/// it names the Linux behaviour cordon follows.
pub const RELEASE: &str = "6.1.0-cordon";
