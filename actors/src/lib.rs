//! cordon-actors: the control plane (Loader, Controller, Watchdog,
//! SignalForwarder and one actor per container), its wire protocol and its
//! test harness. It arrives with the control-plane issue; until then the CLI
//! boots the kernel in its own process.
