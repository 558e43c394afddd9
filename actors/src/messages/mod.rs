//! What the actors say to each other: the messages, one file per recipient,
//! and the addresses an actor reaches another by (actix `Recipient`s, one
//! per message it may send, never the other actor's `Addr`).
//!
//! An actor's module imports these, never another actor's module; only
//! `sandbox.rs`, which starts the system and wires the addresses, knows
//! every actor, and no actor imports it.

pub(crate) mod container;
pub(crate) mod loader;
pub(crate) mod watchdog;
