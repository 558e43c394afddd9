//! Frames on a unix stream socket: a u32 little-endian length, a bincode 2
//! payload, and fds passed with SCM_RIGHTS alongside the payload's bytes.
//!
//! The reading and writing state machines make one system call per step and
//! never block by themselves, so the same code serves the blocking client and
//! the server's event loop (which retries a step when the socket is ready).

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use cordon_kernel::sys::socket;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{MAX_FDS_PER_FRAME, MAX_FRAME_LEN};

const LEN_PREFIX: usize = 4;

/// Why a frame could not be read, written or understood.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: u64, max: u64 },
    #[error("more than {max} fds attached to one frame")]
    TooManyFds { max: usize },
    #[error("cannot decode frame: {0}")]
    Decode(String),
    #[error("cannot encode frame: {0}")]
    Encode(String),
    #[error("socket: {0}")]
    Io(#[from] io::Error),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Encodes `value` as a whole frame: length prefix and payload.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0; LEN_PREFIX];
    bincode::serde::encode_into_std_write(value, &mut frame, bincode_config())
        .map_err(|err| FrameError::Encode(err.to_string()))?;
    let len = frame.len() - LEN_PREFIX;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max: MAX_FRAME_LEN as u64,
        });
    }
    let prefix = u32::try_from(len).expect("MAX_FRAME_LEN fits in u32");
    frame[..LEN_PREFIX].copy_from_slice(&prefix.to_le_bytes());
    Ok(frame)
}

/// Decodes a frame's payload; bytes left over make it malformed.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (value, used) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|err| FrameError::Decode(err.to_string()))?;
    if used != payload.len() {
        return Err(FrameError::Decode(format!(
            "{} bytes left after the message",
            payload.len() - used
        )));
    }
    Ok(value)
}

/// A received frame: its payload and the fds that came with it.
#[derive(Debug)]
pub struct Frame {
    pub payload: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// Reads one frame, a step (one recvmsg) at a time.
#[derive(Debug, Default)]
pub struct FrameReader {
    prefix: [u8; LEN_PREFIX],
    /// The payload buffer, once the prefix is complete.
    payload: Option<Vec<u8>>,
    /// Bytes of the prefix or the payload received so far.
    filled: usize,
    fds: Vec<OwnedFd>,
}

impl FrameReader {
    /// Whether no byte of a frame has arrived yet.
    pub fn is_idle(&self) -> bool {
        self.payload.is_none() && self.filled == 0
    }

    /// Makes one recvmsg on `socket` and returns the number of bytes it got.
    /// On a non-blocking socket this fails with `WouldBlock` until data is
    /// there; pass the count to [`FrameReader::advance`].
    pub fn recv(&mut self, socket: BorrowedFd<'_>) -> io::Result<usize> {
        let buffer = match &mut self.payload {
            Some(payload) => &mut payload[self.filled..],
            None => &mut self.prefix[self.filled..],
        };
        // Room for SCM_MAX_FD: the kernel never truncates (and so never
        // drops) fds, and a frame with more than MAX_FDS_PER_FRAME is
        // refused after they are owned, and closed.
        let received = socket::recv_with_fds(socket, buffer, socket::SCM_MAX_FD, MsgFlags::MSG_CMSG_CLOEXEC)?;
        self.fds.extend(received.fds);
        Ok(received.bytes)
    }

    /// Accounts for `received` bytes from [`FrameReader::recv`] (0 is end of
    /// file) and returns the frame once it is complete.
    pub fn advance(&mut self, received: usize) -> Result<Option<Frame>, FrameError> {
        if self.fds.len() > MAX_FDS_PER_FRAME {
            return Err(FrameError::TooManyFds { max: MAX_FDS_PER_FRAME });
        }
        if received == 0 {
            return Err(if self.is_idle() {
                FrameError::Closed
            } else {
                FrameError::Truncated
            });
        }
        self.filled += received;
        match &self.payload {
            None if self.filled == LEN_PREFIX => {
                let len = u32::from_le_bytes(self.prefix) as usize;
                if len > MAX_FRAME_LEN {
                    return Err(FrameError::TooLarge {
                        len: len as u64,
                        max: MAX_FRAME_LEN as u64,
                    });
                }
                self.payload = Some(vec![0; len]);
                self.filled = 0;
                // An empty payload is complete as soon as its prefix is.
                if len == 0 { Ok(self.take()) } else { Ok(None) }
            }
            Some(payload) if self.filled == payload.len() => Ok(self.take()),
            _ => Ok(None),
        }
    }

    fn take(&mut self) -> Option<Frame> {
        let done = std::mem::take(self);
        Some(Frame {
            payload: done.payload.unwrap_or_default(),
            fds: done.fds,
        })
    }
}

/// Writes one encoded frame, a step (one sendmsg) at a time; the fds go with
/// the first step.
#[derive(Debug)]
pub struct FrameWriter<'a> {
    frame: &'a [u8],
    fds: &'a [RawFd],
    sent: usize,
}

impl<'a> FrameWriter<'a> {
    pub fn new(frame: &'a [u8], fds: &'a [RawFd]) -> FrameWriter<'a> {
        FrameWriter { frame, fds, sent: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.sent == self.frame.len()
    }

    /// Makes one sendmsg on `socket`; `WouldBlock` on a full non-blocking
    /// socket. MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE.
    pub fn send(&mut self, socket: BorrowedFd<'_>) -> io::Result<()> {
        let iov = [IoSlice::new(&self.frame[self.sent..])];
        let rights = [ControlMessage::ScmRights(self.fds)];
        let cmsgs: &[ControlMessage] = if self.sent == 0 && !self.fds.is_empty() {
            &rights
        } else {
            &[]
        };
        self.sent += sendmsg::<()>(socket.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
        Ok(())
    }
}

/// Reads one frame from a blocking socket.
pub fn read_blocking(socket: BorrowedFd<'_>) -> Result<Frame, FrameError> {
    let mut reader = FrameReader::default();
    loop {
        let received = match reader.recv(socket) {
            Ok(received) => received,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err.into()),
        };
        if let Some(frame) = reader.advance(received)? {
            return Ok(frame);
        }
    }
}

/// Writes one encoded frame to a blocking socket.
pub fn write_blocking(socket: BorrowedFd<'_>, frame: &[u8], fds: &[RawFd]) -> Result<(), FrameError> {
    let mut writer = FrameWriter::new(frame, fds);
    while !writer.is_done() {
        match writer.send(socket) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::protocol::{Request, WireSignalTarget};

    #[test]
    fn a_request_round_trips_with_its_fds() {
        let (a, b) = UnixStream::pair().unwrap();
        let request = Request::Signal {
            id: "web".into(),
            target: WireSignalTarget::ProcessGroup(7),
            signal: 15,
        };
        let (pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
        let frame = encode(&request).unwrap();
        write_blocking(a.as_fd(), &frame, &[pipe_w.as_raw_fd()]).unwrap();
        let received = read_blocking(b.as_fd()).unwrap();
        assert_eq!(decode::<Request>(&received.payload).unwrap(), request);
        assert_eq!(received.fds.len(), 1);
        drop(pipe_w);
        nix::unistd::write(&received.fds[0], b"x").unwrap();
        let mut byte = [0; 1];
        assert_eq!(nix::unistd::read(&pipe_r, &mut byte).unwrap(), 1);
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_reading_the_body() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        assert!(matches!(
            read_blocking(b.as_fd()),
            Err(FrameError::TooLarge { len, .. }) if len == u64::from(u32::MAX)
        ));
    }

    #[test]
    fn a_frame_cut_short_is_truncated_and_silence_is_closed() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&10u32.to_le_bytes()).unwrap();
        a.write_all(b"abc").unwrap();
        drop(a);
        assert!(matches!(read_blocking(b.as_fd()), Err(FrameError::Truncated)));
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        assert!(matches!(read_blocking(b.as_fd()), Err(FrameError::Closed)));
    }

    #[test]
    fn garbage_and_trailing_bytes_do_not_decode() {
        assert!(matches!(decode::<Request>(&[0xff; 9]), Err(FrameError::Decode(_))));
        let mut payload = encode(&Request::Pause).unwrap().split_off(LEN_PREFIX);
        payload.push(0);
        assert!(matches!(decode::<Request>(&payload), Err(FrameError::Decode(_))));
    }

    #[test]
    fn too_many_fds_are_refused_and_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let (_pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
        let fds = [pipe_w.as_raw_fd(); MAX_FDS_PER_FRAME + 1];
        let frame = encode(&Request::Pause).unwrap();
        write_blocking(a.as_fd(), &frame, &fds).unwrap();
        assert!(matches!(read_blocking(b.as_fd()), Err(FrameError::TooManyFds { .. })));
    }
}
