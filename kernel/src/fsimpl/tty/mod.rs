//! Terminals as plain data: the kernel's termios structures and Linux's
//! n_tty line discipline.

pub mod line;
pub mod termios;
