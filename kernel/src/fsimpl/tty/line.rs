//! The line discipline: what Linux's n_tty does between the two sides of a
//! terminal. Input (what the master writes, or a keyboard types) is mapped
//! (ICRNL, INLCR, IGNCR, ISTRIP), may raise signals (ISIG), is echoed
//! (ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL) and, in canonical mode
//! (ICANON), edited into lines (VERASE, VWERASE, VKILL, VLNEXT, VEOF, VEOL);
//! output is post-processed (OPOST: ONLCR, OCRNL, ONOCR, ONLRET, OLCUC,
//! XTABS). Non-canonical reads follow VMIN and VTIME.
//!
//! This is plain data: no locks, no tasks. The pty wraps it in a mutex and
//! sends the signals it reports.

use std::collections::VecDeque;
use std::time::Duration;

use super::termios::*;

/// N_TTY_BUF_SIZE: how much input the discipline holds.
pub const INPUT_CAPACITY: usize = 4096;
/// How much processed output waits for the master before writers block.
pub const OUTPUT_CAPACITY: usize = 65536;

/// One terminal's line discipline state.
pub struct LineDiscipline {
    termios: KernelTermios,
    /// Input the reader may take. In canonical mode, whole lines.
    committed: VecDeque<u8>,
    /// Canonical mode: the length of each line in `committed`, in order.
    /// A line ended by VEOF keeps no terminator and may be empty (then a
    /// read returns 0: end of file).
    line_lengths: VecDeque<usize>,
    /// Canonical mode: the line being edited, not yet readable.
    editing: Vec<u8>,
    /// The output column where `editing` began, for erasing tabs.
    editing_column: usize,
    /// VLNEXT was typed: the next character is taken literally.
    literal_next: bool,
    /// Processed output (and echoes) waiting for the other side.
    output: VecDeque<u8>,
    /// The output column, as OPOST tracks it.
    column: usize,
    /// Output stopped by VSTOP (IXON) until VSTART.
    stopped: bool,
}

/// What processing input asks of the terminal's owner.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InputOutcome {
    /// How many bytes were taken; the rest waits for room.
    pub consumed: usize,
    /// Signals for the foreground process group (ISIG), in order.
    pub signals: Vec<i32>,
}

/// How a non-canonical read waits (termios(3), "MIN > 0, TIME > 0" …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawReadRule {
    /// Return once this many bytes are read (VMIN, at most the request).
    pub minimum: usize,
    /// VTIME: with `minimum` 0 the whole wait, otherwise the gap allowed
    /// between bytes once the first has come.
    pub timeout: Option<Duration>,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        LineDiscipline::new(KernelTermios::replica_default())
    }
}

impl LineDiscipline {
    pub fn new(termios: KernelTermios) -> Self {
        LineDiscipline {
            termios,
            committed: VecDeque::new(),
            line_lengths: VecDeque::new(),
            editing: Vec::new(),
            editing_column: 0,
            literal_next: false,
            output: VecDeque::new(),
            column: 0,
            stopped: false,
        }
    }

    pub fn termios(&self) -> KernelTermios {
        self.termios
    }

    fn canonical(&self) -> bool {
        self.termios.lflag(ICANON)
    }

    /// TCSETS: switching canonical mode off makes the line being edited
    /// readable; switching it on makes pending input one line, as
    /// n_tty_set_termios does.
    pub fn set_termios(&mut self, termios: KernelTermios) {
        let was_canonical = self.canonical();
        self.termios = termios;
        let canonical = self.canonical();
        if was_canonical && !canonical {
            self.committed.extend(self.editing.drain(..));
            self.line_lengths.clear();
            self.literal_next = false;
        } else if !was_canonical && canonical {
            self.line_lengths.clear();
            if !self.committed.is_empty() {
                self.line_lengths.push_back(self.committed.len());
            }
            self.editing_column = self.column;
        }
        if !self.termios.iflag(IXON) {
            self.stopped = false;
        }
    }

    /// TCFLSH TCIFLUSH: input not yet read is discarded.
    pub fn flush_input(&mut self) {
        self.committed.clear();
        self.line_lengths.clear();
        self.editing.clear();
        self.literal_next = false;
    }

    /// TCFLSH TCOFLUSH: output not yet taken is discarded.
    pub fn flush_output(&mut self) {
        self.output.clear();
    }

    /// Whether more input can be taken now.
    pub fn input_room(&self) -> bool {
        self.committed.len() + self.editing.len() < INPUT_CAPACITY
            || (self.canonical() && self.committed.len() < INPUT_CAPACITY)
    }

    /// FIONREAD/TIOCINQ: bytes a read could return (in canonical mode, those
    /// of complete lines).
    pub fn input_queued(&self) -> usize {
        self.committed.len()
    }

    /// Whether a read would return now (for poll): a complete line, or in
    /// non-canonical mode VMIN bytes (one when VTIME is set).
    pub fn readable(&self) -> bool {
        if self.canonical() {
            return !self.line_lengths.is_empty();
        }
        let min = usize::from(self.termios.c_cc[VMIN]);
        let wanted = if self.termios.c_cc[VTIME] == 0 && min > 0 {
            min
        } else {
            1
        };
        self.committed.len() >= wanted
    }

    /// How a non-canonical read of `count` bytes waits.
    pub fn raw_read_rule(&self, count: usize) -> RawReadRule {
        let time = self.termios.c_cc[VTIME];
        RawReadRule {
            minimum: usize::from(self.termios.c_cc[VMIN]).min(count),
            timeout: (time > 0).then(|| Duration::from_millis(u64::from(time) * 100)),
        }
    }

    /// Whether reads are canonical (line by line).
    pub fn is_canonical(&self) -> bool {
        self.canonical()
    }

    /// Canonical read: at most one line, or part of one if `buf` is
    /// short. None when no line is complete; Some(0) at a VEOF on an empty
    /// line.
    pub fn read_line(&mut self, buf: &mut [u8]) -> Option<usize> {
        let length = *self.line_lengths.front()?;
        let n = length.min(buf.len());
        for (slot, byte) in buf.iter_mut().zip(self.committed.drain(..n)) {
            *slot = byte;
        }
        if n == length {
            self.line_lengths.pop_front();
        } else {
            *self.line_lengths.front_mut().expect("looked at above") -= n;
        }
        Some(n)
    }

    /// Non-canonical read: whatever is there, up to `buf.len()`.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> usize {
        let n = self.committed.len().min(buf.len());
        for (slot, byte) in buf.iter_mut().zip(self.committed.drain(..n)) {
            *slot = byte;
        }
        n
    }

    /// Takes input bytes (from the master or the keyboard) while there is
    /// room, and reports the signals they raise.
    /// Echoes of the same call are pending until it returns: a signal
    /// character discards them with the input (n_tty's isig clears the echo
    /// buffer).
    pub fn receive(&mut self, data: &[u8]) -> InputOutcome {
        let mut outcome = InputOutcome::default();
        let mut pending_echoes = self.output.len();
        for &byte in data {
            if !self.input_room() {
                break;
            }
            outcome.consumed += 1;
            if let Some(signal) = self.receive_byte(byte, &mut pending_echoes) {
                outcome.signals.push(signal);
            }
        }
        outcome
    }

    fn receive_byte(&mut self, byte: u8, pending_echoes: &mut usize) -> Option<i32> {
        let t = self.termios;
        let mut c = if t.iflag(ISTRIP) { byte & 0x7f } else { byte };
        if t.iflag(IUCLC) && t.lflag(IEXTEN) {
            c = c.to_ascii_lowercase();
        }
        if self.literal_next {
            self.literal_next = false;
            self.echo_ordinary(c);
            self.store(c);
            return None;
        }
        if t.iflag(IXON) {
            if t.is_char(VSTART, c) {
                self.stopped = false;
                return None;
            }
            if t.is_char(VSTOP, c) {
                self.stopped = true;
                return None;
            }
        }
        if t.lflag(ISIG) {
            let signal = if t.is_char(VINTR, c) {
                Some(libc::SIGINT)
            } else if t.is_char(VQUIT, c) {
                Some(libc::SIGQUIT)
            } else if t.is_char(VSUSP, c) {
                Some(libc::SIGTSTP)
            } else {
                None
            };
            if let Some(signal) = signal {
                if !t.lflag(NOFLSH) {
                    self.flush_input();
                    self.output.truncate(*pending_echoes);
                }
                if t.iflag(IXON) {
                    self.stopped = false;
                }
                if t.lflag(ECHO) {
                    self.echo(c);
                }
                *pending_echoes = self.output.len();
                return Some(signal);
            }
        }
        if self.stopped && t.iflag(IXON) && t.iflag(IXANY) {
            self.stopped = false;
        }
        if c == b'\r' {
            if t.iflag(IGNCR) {
                return None;
            }
            if t.iflag(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.iflag(INLCR) {
            c = b'\r';
        }
        if self.canonical() {
            self.receive_canonical(c);
        } else {
            if t.lflag(ECHO) {
                self.echo_ordinary(c);
            }
            self.committed.push_back(c);
        }
        None
    }

    fn receive_canonical(&mut self, c: u8) {
        let t = self.termios;
        if t.is_char(VERASE, c) {
            self.erase(Erase::Char);
        } else if t.is_char(VKILL, c) {
            self.erase(Erase::Line);
        } else if t.lflag(IEXTEN) && t.is_char(VWERASE, c) {
            self.erase(Erase::Word);
        } else if t.lflag(IEXTEN) && t.is_char(VLNEXT, c) {
            self.literal_next = true;
            if t.lflag(ECHO) && t.lflag(ECHOCTL) {
                self.output.extend(b"^\x08");
            }
        } else if t.lflag(IEXTEN) && t.is_char(VREPRINT, c) {
            if t.lflag(ECHO) {
                self.echo(c);
                self.output_char(b'\n');
                for byte in self.editing.clone() {
                    self.echo(byte);
                }
            }
        } else if t.is_char(VEOF, c) {
            self.end_line();
        } else if c == b'\n' {
            if t.lflag(ECHO) || t.lflag(ECHONL) {
                self.output_char(b'\n');
            }
            self.editing.push(c);
            self.end_line();
        } else if t.is_char(VEOL, c) || (t.lflag(IEXTEN) && t.is_char(VEOL2, c)) {
            if t.lflag(ECHO) {
                self.echo(c);
            }
            self.editing.push(c);
            self.end_line();
        } else {
            self.echo_ordinary(c);
            self.store(c);
        }
    }

    /// Stores an ordinary character: in the line being edited (dropped when
    /// the line is full, as MAX_CANON allows), or as readable input.
    fn store(&mut self, c: u8) {
        if !self.canonical() {
            self.committed.push_back(c);
        } else if self.editing.len() < INPUT_CAPACITY - 1 {
            self.editing.push(c);
        }
    }

    fn echo_ordinary(&mut self, c: u8) {
        if !self.termios.lflag(ECHO) {
            return;
        }
        if self.canonical() && self.editing.is_empty() {
            self.editing_column = self.column;
        }
        if c == b'\n' {
            self.output_char(b'\n');
        } else {
            self.echo(c);
        }
    }

    /// The line being edited becomes readable.
    fn end_line(&mut self) {
        self.line_lengths.push_back(self.editing.len());
        self.committed.extend(self.editing.drain(..));
        self.editing_column = self.column;
    }

    /// Echoes a character: control characters as ^X with ECHOCTL, others
    /// through output processing.
    fn echo(&mut self, c: u8) {
        if self.termios.lflag(ECHOCTL) && is_control(c) && c != b'\t' {
            self.output.extend([b'^', c ^ 0o100]);
            self.column += 2;
        } else {
            self.output_char(c);
        }
    }

    /// The width `c` took when echoed at `column`.
    fn echo_width(&self, c: u8, column: usize) -> usize {
        if c == b'\t' {
            8 - (column & 7)
        } else if is_control(c) {
            if self.termios.lflag(ECHOCTL) { 2 } else { 0 }
        } else {
            1
        }
    }

    /// VERASE, VWERASE and VKILL, echoed as n_tty's eraser does.
    fn erase(&mut self, kind: Erase) {
        let t = self.termios;
        if self.editing.is_empty() {
            return;
        }
        if !t.lflag(ECHO) {
            match kind {
                Erase::Char => {
                    self.editing.pop();
                }
                Erase::Word => self.pop_word(),
                Erase::Line => self.editing.clear(),
            }
            return;
        }
        if kind == Erase::Line && !(t.lflag(ECHOK) && t.lflag(ECHOKE) && t.lflag(ECHOE)) {
            self.editing.clear();
            self.echo(t.c_cc[VKILL]);
            if t.lflag(ECHOK) {
                self.output_char(b'\n');
            }
            self.editing_column = self.column;
            return;
        }
        match kind {
            Erase::Char => {
                if !t.lflag(ECHOE) {
                    self.editing.pop();
                    self.echo(t.c_cc[VERASE]);
                } else {
                    self.rub_out_last();
                }
            }
            Erase::Word => {
                while self.editing.last().is_some_and(u8::is_ascii_whitespace) {
                    self.rub_out_last();
                }
                while self
                    .editing
                    .last()
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.rub_out_last();
                }
            }
            Erase::Line => {
                while !self.editing.is_empty() {
                    self.rub_out_last();
                }
            }
        }
    }

    /// VWERASE without echo: blanks, then the word before them.
    fn pop_word(&mut self) {
        while self.editing.last().is_some_and(u8::is_ascii_whitespace) {
            self.editing.pop();
        }
        while self
            .editing
            .last()
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.editing.pop();
        }
    }

    /// Removes the last character of the line and wipes it off the screen
    /// with "\b \b" (twice for a ^X, back over the columns of a tab).
    fn rub_out_last(&mut self) {
        let Some(c) = self.editing.pop() else {
            return;
        };
        let mut column = self.editing_column;
        for &before in &self.editing {
            column += self.echo_width(before, column);
        }
        let width = self.echo_width(c, column);
        if c == b'\t' {
            for _ in 0..width {
                self.output.push_back(b'\x08');
            }
        } else {
            for _ in 0..width {
                self.output.extend(b"\x08 \x08");
            }
        }
        self.column = column;
    }

    /// Whether output is stopped (VSTOP) and writers must wait.
    pub fn output_stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes waiting for the other side.
    pub fn output_queued(&self) -> usize {
        self.output.len()
    }

    /// Whether a write may add output now.
    pub fn output_room(&self) -> bool {
        !self.stopped && self.output.len() < OUTPUT_CAPACITY
    }

    /// Writes `data` through output processing while there is room;
    /// returns how many bytes were taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut taken = 0;
        for &c in data {
            if !self.output_room() {
                break;
            }
            self.output_char(c);
            taken += 1;
        }
        taken
    }

    /// Takes processed output for the other side.
    pub fn take_output(&mut self, buf: &mut [u8]) -> usize {
        let n = self.output.len().min(buf.len());
        for (slot, byte) in buf.iter_mut().zip(self.output.drain(..n)) {
            *slot = byte;
        }
        n
    }

    /// One character through OPOST, as n_tty's do_output_char.
    fn output_char(&mut self, c: u8) {
        let t = self.termios;
        if !t.oflag(OPOST) {
            self.output.push_back(c);
            return;
        }
        match c {
            b'\n' => {
                if t.oflag(ONLRET) {
                    self.column = 0;
                }
                if t.oflag(ONLCR) {
                    self.column = 0;
                    self.output.extend(b"\r\n");
                    return;
                }
            }
            b'\r' => {
                if t.oflag(ONOCR) && self.column == 0 {
                    return;
                }
                if t.oflag(OCRNL) {
                    if t.oflag(ONLRET) {
                        self.column = 0;
                    }
                    self.output.push_back(b'\n');
                    return;
                }
                self.column = 0;
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7);
                self.column += spaces;
                if t.c_oflag & TABDLY == XTABS {
                    self.output.extend(std::iter::repeat_n(b' ', spaces));
                    return;
                }
            }
            0x08 => self.column = self.column.saturating_sub(1),
            _ if !is_control(c) => {
                // UTF-8 continuation bytes take no column.
                if c & 0xc0 != 0x80 {
                    self.column += 1;
                }
                if t.oflag(OLCUC) {
                    self.output.push_back(c.to_ascii_uppercase());
                    return;
                }
            }
            _ => {}
        }
        self.output.push_back(c);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Erase {
    Char,
    Word,
    Line,
}

/// iscntrl() in the C locale.
fn is_control(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(line: &mut LineDiscipline) -> Vec<u8> {
        let mut buf = vec![0; 1024];
        let n = line.take_output(&mut buf);
        buf.truncate(n);
        buf
    }

    fn line(line: &mut LineDiscipline) -> Option<Vec<u8>> {
        let mut buf = vec![0; 1024];
        let n = line.read_line(&mut buf)?;
        buf.truncate(n);
        Some(buf)
    }

    #[test]
    fn canonical_lines_are_edited_and_echoed() {
        let mut ld = LineDiscipline::default();
        ld.receive(b"helo\x7flo\r");
        assert_eq!(line(&mut ld).as_deref(), Some(&b"hello\n"[..]));
        assert_eq!(output(&mut ld), b"helo\x08 \x08lo\r\n");
        ld.receive(b"junk\x15ok\n");
        assert_eq!(line(&mut ld).as_deref(), Some(&b"ok\n"[..]));
        ld.receive(b"one two\x17three\n");
        assert_eq!(line(&mut ld).as_deref(), Some(&b"one three\n"[..]));
        assert_eq!(line(&mut ld), None);
    }

    #[test]
    fn veof_ends_a_line_without_a_terminator_and_alone_means_end_of_file() {
        let mut ld = LineDiscipline::default();
        ld.receive(b"abc\x04\x04");
        assert_eq!(line(&mut ld).as_deref(), Some(&b"abc"[..]));
        assert_eq!(line(&mut ld).as_deref(), Some(&b""[..]));
        assert_eq!(line(&mut ld), None);
        assert_eq!(output(&mut ld), b"abc");
    }

    #[test]
    fn a_short_read_leaves_the_rest_of_the_line() {
        let mut ld = LineDiscipline::default();
        ld.receive(b"abcdef\n");
        let mut two = [0; 2];
        assert_eq!(ld.read_line(&mut two), Some(2));
        assert_eq!(ld.input_queued(), 5);
        assert_eq!(line(&mut ld).as_deref(), Some(&b"cdef\n"[..]));
    }

    #[test]
    fn signal_characters_flush_and_echo() {
        let mut ld = LineDiscipline::default();
        ld.receive(b"echoed");
        let outcome = ld.receive(b"typed\x03\x1c\x1a");
        assert_eq!(outcome.signals, vec![libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP]);
        assert_eq!(ld.input_queued(), 0);
        assert_eq!(output(&mut ld), b"echoed^C^\\^Z");
    }

    #[test]
    fn raw_mode_passes_bytes_and_follows_vmin() {
        let mut ld = LineDiscipline::default();
        let mut raw = ld.termios();
        raw.c_lflag &= !(ICANON | ECHO);
        raw.c_iflag &= !ICRNL;
        raw.c_cc[VMIN] = 3;
        ld.set_termios(raw);
        ld.receive(b"\r\x7f");
        assert!(!ld.readable());
        ld.receive(b"x");
        assert!(ld.readable());
        let mut buf = [0; 8];
        assert_eq!(ld.read_raw(&mut buf), 3);
        assert_eq!(&buf[..3], b"\r\x7fx");
        assert_eq!(output(&mut ld), b"");
    }

    #[test]
    fn switching_modes_keeps_pending_input() {
        let mut ld = LineDiscipline::default();
        ld.receive(b"half");
        let mut raw = ld.termios();
        raw.c_lflag &= !ICANON;
        ld.set_termios(raw);
        assert_eq!(ld.input_queued(), 4);
        raw.c_lflag |= ICANON;
        ld.set_termios(raw);
        assert_eq!(line(&mut ld).as_deref(), Some(&b"half"[..]));
    }

    #[test]
    fn output_processing_maps_newlines_and_tabs() {
        let mut ld = LineDiscipline::default();
        assert_eq!(ld.write(b"a\nb"), 3);
        assert_eq!(output(&mut ld), b"a\r\nb");
        let mut t = ld.termios();
        t.c_oflag |= XTABS | OLCUC;
        ld.set_termios(t);
        ld.write(b"\tz");
        assert_eq!(output(&mut ld), b"       Z");
        t.c_oflag = 0;
        ld.set_termios(t);
        ld.write(b"\n");
        assert_eq!(output(&mut ld), b"\n");
    }

    #[test]
    fn input_maps_carriage_returns_and_newlines() {
        let mut ld = LineDiscipline::default();
        let mut t = ld.termios();
        t.c_iflag = INLCR | IGNCR;
        t.c_lflag &= !ICANON;
        ld.set_termios(t);
        ld.receive(b"a\rb\n");
        let mut buf = [0; 8];
        assert_eq!(ld.read_raw(&mut buf), 3);
        assert_eq!(&buf[..3], b"ab\r");
    }

    #[test]
    fn echonl_echoes_newlines_without_echo() {
        let mut ld = LineDiscipline::default();
        let mut t = ld.termios();
        t.c_lflag = (t.c_lflag & !ECHO) | ECHONL;
        ld.set_termios(t);
        ld.receive(b"secret\n");
        assert_eq!(output(&mut ld), b"\r\n");
    }

    #[test]
    fn stop_and_start_characters_hold_output() {
        let mut ld = LineDiscipline::default();
        ld.receive(b"\x13");
        assert!(ld.output_stopped());
        assert_eq!(ld.write(b"x"), 0);
        ld.receive(b"\x11");
        assert_eq!(ld.write(b"x"), 1);
        assert_eq!(ld.input_queued(), 0);
    }
}
