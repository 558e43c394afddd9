//! Plain-old-data structures that cross the user boundary as bytes.

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A type copied to and from application memory as bytes. zerocopy's
/// derives prove what that needs (every byte initialised, no padding, any
/// byte pattern a valid value); this trait only names the combination.
pub trait Pod: FromBytes + IntoBytes + Immutable + Copy + 'static {
    /// The all-zero value.
    fn zeroed() -> Self {
        Self::new_zeroed()
    }

    /// The value `bytes` hold; they must be exactly its size.
    fn from_bytes(bytes: &[u8]) -> Self {
        Self::read_from_bytes(bytes).expect("Pod::from_bytes length")
    }
}

impl<T: FromBytes + IntoBytes + Immutable + Copy + 'static> Pod for T {}
