//! Host terminals the CLI hands to a sandbox (OCI `process.terminal`,
//! `exec -t`): a pseudo-terminal pair made for a container's process, the
//! console socket runc's callers listen on for its master, and the copying
//! between cordon's own stdio and a master when nobody else reads it.
//!
//! The sandbox sees only a host terminal as the process's stdio (the
//! kernel makes it the process's controlling terminal, see
//! `cordon_kernel::fsimpl::host::terminal`). Where cordon makes the pty, the host
//! process that holds the replica as its stdio also takes it as its own
//! controlling terminal (it leads a session of its own): the terminal's
//! signals — its interrupt characters, a window change, a hangup when the
//! master closes — then reach that process, which forwards them into the
//! sandbox, as runsc's sandbox and exec processes do.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cordon_kernel::sys::socket;
use nix::fcntl::OFlag;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::stat::Mode;
use nix::sys::termios::{LocalFlags, SpecialCharacterIndices, tcgetattr};

/// What a console socket receives with the master: its name, as runc
/// sends it (`utils.SendFd(socket, pty.Name(), pty.Fd())`, the master's
/// /dev/ptmx); receivers read at most 4096 bytes of it and keep it only as
/// the received file's name.
const MASTER_NAME: &[u8] = b"/dev/ptmx";

/// How long the terminal may stay silent, once its process has exited,
/// before the copy of its output stops: the output a process wrote before
/// it exited is in the terminal by then, but others may hold the replica
/// open and keep the terminal from ever reporting its end.
const QUIET_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Why a terminal could not be made or handed over.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("cannot make a pseudo-terminal: {0}")]
    Pty(#[source] nix::Error),
    #[error("cannot send the terminal to the console socket {}: {source}", path.display())]
    ConsoleSocket {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot copy between the terminal and cordon's stdio: {0}")]
    Copy(#[source] io::Error),
}

/// A host pseudo-terminal pair; both fds close on exec, and neither is
/// anyone's controlling terminal yet.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub replica: OwnedFd,
}

impl Pty {
    /// Opens a new pair from the host's /dev/ptmx (posix_openpt(3),
    /// grantpt, unlockpt, then the replica by its name).
    pub fn open() -> Result<Pty, TerminalError> {
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let master = nix::pty::posix_openpt(flags).map_err(TerminalError::Pty)?;
        nix::pty::grantpt(&master).map_err(TerminalError::Pty)?;
        nix::pty::unlockpt(&master).map_err(TerminalError::Pty)?;
        let name = nix::pty::ptsname_r(&master).map_err(TerminalError::Pty)?;
        let replica = nix::fcntl::open(name.as_str(), flags, Mode::empty()).map_err(TerminalError::Pty)?;
        Ok(Pty {
            master: master.into(),
            replica,
        })
    }
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: impl AsFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// Sends `master` to the unix socket listening at `path`, with SCM_RIGHTS,
/// as runc does for `--console-socket` (one fd, its name as the payload);
/// the connection is closed afterwards.
pub fn send_console(path: &Path, master: BorrowedFd<'_>) -> Result<(), TerminalError> {
    let failed = |source| TerminalError::ConsoleSocket {
        path: path.to_owned(),
        source,
    };
    let socket = UnixStream::connect(path).map_err(failed)?;
    let fds = [master.as_raw_fd()];
    let sent = sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(MASTER_NAME)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    );
    match sent {
        Ok(n) if n == MASTER_NAME.len() => Ok(()),
        Ok(_) => Err(failed(io::Error::from(io::ErrorKind::WriteZero))),
        Err(errno) => Err(failed(errno.into())),
    }
}

/// The receiving end of a console socket, as runc's callers have it
/// (go-runc's `ReceiveMaster`): one message on `connection`, its payload
/// (the master's name, below 4096 bytes) and the fds it carried (one, from
/// [`send_console`] and runc).
pub fn receive_console(connection: &UnixStream) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut name = [0; 4096];
    let received = socket::recv_with_fds(connection.as_fd(), &mut name, 4, MsgFlags::empty())?;
    Ok((name[..received.bytes].to_vec(), received.fds))
}

/// Copies cordon's stdin to a pty's master and the master's output to
/// cordon's stdout, while a process runs on the replica: what `run` and
/// `exec` do when the process has a terminal and cordon's stdin is not
/// one. When stdin ends, the terminal gets its end-of-file character (in
/// canonical mode), as if typed, so that a reader of the terminal sees the
/// end of its input.
pub struct TerminalCopy {
    output: JoinHandle<()>,
    /// When the master last gave output.
    last_output: Arc<Mutex<Instant>>,
}

impl TerminalCopy {
    /// Starts the two copying threads on `master`.
    pub fn start(master: OwnedFd) -> Result<TerminalCopy, TerminalError> {
        let input = File::from(master.try_clone().map_err(TerminalError::Copy)?);
        let master = File::from(master);
        let last_output = Arc::new(Mutex::new(Instant::now()));
        thread::Builder::new()
            .name("terminal-input".into())
            .spawn(move || copy_input(input))
            .map_err(TerminalError::Copy)?;
        let seen = Arc::clone(&last_output);
        let output = thread::Builder::new()
            .name("terminal-output".into())
            .spawn(move || copy_output(master, &seen))
            .map_err(TerminalError::Copy)?;
        Ok(TerminalCopy { output, last_output })
    }

    /// Once the process has exited: lets what it wrote reach stdout, until
    /// the terminal reports its end (every replica closed) or stays quiet
    /// for `QUIET_AFTER_EXIT`.
    pub fn finish(self) {
        loop {
            if self.output.is_finished() {
                let _ = self.output.join();
                return;
            }
            let last = *self.last_output.lock().expect("terminal output clock poisoned");
            if last.elapsed() >= QUIET_AFTER_EXIT {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// stdin to the master, until either ends.
fn copy_input(mut master: File) {
    let mut stdin = io::stdin().lock();
    let mut buf = [0; 4096];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if master.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    // tcgetattr on a master reads its replica's settings.
    if let Ok(termios) = tcgetattr(&master) {
        if termios.local_flags.contains(LocalFlags::ICANON) {
            let _ = master.write_all(&[termios.control_chars[SpecialCharacterIndices::VEOF as usize]]);
        }
    }
}

/// The master to stdout, until the master ends (EIO once every replica is
/// closed) or stdout fails.
fn copy_output(mut master: File, last_output: &Mutex<Instant>) {
    let mut stdout = io::stdout().lock();
    let mut buf = [0; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                *last_output.lock().expect("terminal output clock poisoned") = Instant::now();
                if stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()).is_err() {
                    return;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn a_pty_pair_is_a_terminal_and_close_on_exec() {
        let pty = Pty::open().expect("a pty");
        assert!(is_terminal(&pty.replica));
        for fd in [&pty.master, &pty.replica] {
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).expect("F_GETFD");
            assert_ne!(flags & libc::FD_CLOEXEC, 0);
        }
        let mut master = File::from(pty.master);
        File::from(pty.replica).write_all(b"hi\n").expect("write the replica");
        // The line discipline may hand the echo over in pieces.
        let mut buf = [0; 16];
        let mut n = 0;
        while n < 4 {
            match master.read(&mut buf[n..]).expect("read the master") {
                0 => break,
                got => n += got,
            }
        }
        assert_eq!(&buf[..n], b"hi\r\n");
    }

    /// The receiving end as runc's callers write it (go-runc's
    /// `ReceiveMaster`, runc's `utils.RecvFd`): one message, a name below
    /// 4096 bytes and exactly one fd.
    #[test]
    fn the_master_reaches_a_console_socket_as_runc_sends_it() {
        let dir = std::env::temp_dir().join(format!("cordon-console-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the socket");
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let pty = Pty::open().expect("a pty");
        send_console(&path, pty.master.as_fd()).expect("sent");
        let (connection, _) = listener.accept().expect("accept");
        let (name, mut fds) = receive_console(&connection).expect("received");
        assert_eq!(name, MASTER_NAME);
        assert_eq!(fds.len(), 1);
        let master = fds.remove(0);
        File::from(pty.replica).write_all(b"x").expect("write the replica");
        let mut buf = [0; 4];
        assert_eq!(File::from(master).read(&mut buf).expect("read"), 1);
        assert!(matches!(
            send_console(&dir.join("nobody.sock"), pty.master.as_fd()),
            Err(TerminalError::ConsoleSocket { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
