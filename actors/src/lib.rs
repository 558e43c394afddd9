//! cordon-actors: the control plane of a sandbox (DESIGN §5).
//!
//! Actors (actix, on the sandbox process's one arbiter thread):
//! - the **Loader** owns the kernel handle, creates containers and routes
//!   every request to the container it names;
//! - one **ContainerActor** per container runs its life cycle (Created →
//!   Running ⇄ Paused → Stopped) and the processes it started, with their
//!   waiters;
//! - the **Watchdog** reports tasks stuck in the kernel and starts that never
//!   complete;
//! - the **SignalForwarder** sends the host signals the sandbox process gets
//!   to the root container;
//! - the **Controller** serves the control socket ([`protocol`]).
//!
//! Kernel events cross from the kernel's threads to the actors through a
//! bridge thread; no actor ever blocks on the kernel. Outside this crate the
//! actors are reached only through a [`SandboxHandle`] or the socket, never
//! through an actix address.
//!
//! Inside it, an actor's module never imports another's: the messages and
//! the addresses actors reach each other by (`Recipient`s) are in
//! `messages`, and `sandbox` alone, which starts the system, knows every
//! actor (`tests/module_graph.rs` checks both).
//!
//! [`testing`] holds a scripted [`testing::FakeKernel`] to drive all of this
//! without a platform.

#![deny(unsafe_code)]

mod bridge;
pub mod client;
mod container;
pub mod controller;
pub mod error;
mod handle;
mod loader;
mod messages;
pub mod protocol;
mod sandbox;
mod signals;
pub mod testing;
mod watchdog;

pub use error::ControlError;
pub use handle::SandboxHandle;
pub use messages::loader::ContainerSpec;
pub use sandbox::{SandboxConfig, StartError, start_sandbox};
pub use watchdog::{WatchdogAction, WatchdogConfig};
