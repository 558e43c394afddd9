//! Receiving fds over a unix socket (SCM_RIGHTS), each owned exactly once.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// Linux's SCM_MAX_FD: the most fds one sendmsg(2) can carry, so the most
/// one recvmsg(2) can need room for.
pub const SCM_MAX_FD: usize = 253;

/// What one recvmsg(2) got.
#[derive(Debug)]
pub struct Received {
    /// Bytes written to the buffer; 0 at end of file.
    pub bytes: usize,
    /// The fds its SCM_RIGHTS messages carried, in order.
    pub fds: Vec<OwnedFd>,
}

/// Makes one recvmsg(2) on `socket` into `buf`, with `flags` (such as
/// MSG_CMSG_CLOEXEC) and room for `max_fds` fds, and returns the fds that
/// came as owned fds. What a caller may rely on: every fd returned was
/// installed in this process by this call, and appears once; none is
/// owned by anything else. A control message cut short (more fds than
/// room) fails with ENOBUFS, as nix's parser refuses it; the kernel has
/// then closed the fds that did not fit, and those that did stay open and
/// unowned. A `max_fds` above [`SCM_MAX_FD`] fails with EINVAL.
pub fn recv_with_fds(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
    flags: MsgFlags,
) -> Result<Received, Errno> {
    if max_fds > SCM_MAX_FD {
        return Err(Errno::EINVAL);
    }
    let room = u32::try_from(max_fds * size_of::<RawFd>()).expect("SCM_MAX_FD fds fit in u32 bytes");
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    let space = unsafe { libc::CMSG_SPACE(room) };
    let mut cmsg = vec![0u8; usize::try_from(space).expect("a control buffer size fits in usize")];
    let mut iov = [IoSliceMut::new(buf)];
    let message = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags)?;
    let mut fds = Vec::new();
    for control in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = control {
            for fd in received {
                // SAFETY: SCM_RIGHTS installs every fd it carries as a new
                // number of this process, for this recvmsg alone (with
                // MSG_PEEK too, which installs fresh copies); each control
                // message is read once here, so each number is owned once.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok(Received {
        bytes: message.bytes,
        fds,
    })
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use nix::sys::socket::{ControlMessage, sendmsg};

    use super::*;

    #[test]
    fn the_fds_sent_arrive_owned_with_the_bytes() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let (read, write) = nix::unistd::pipe().expect("a pipe");
        let fds = [read.as_raw_fd(), write.as_raw_fd()];
        let rights = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(a.as_raw_fd(), &[IoSlice::new(b"hi")], &rights, MsgFlags::empty(), None).expect("sent");
        let mut buf = [0; 8];
        let received = recv_with_fds(b.as_fd(), &mut buf, 2, MsgFlags::MSG_CMSG_CLOEXEC).expect("received");
        assert_eq!(&buf[..received.bytes], b"hi");
        assert_eq!(received.fds.len(), 2);
        drop((read, write));
        nix::unistd::write(&received.fds[1], b"x").expect("write the pipe");
        let mut byte = [0; 1];
        assert_eq!(nix::unistd::read(&received.fds[0], &mut byte), Ok(1));
    }

    #[test]
    fn more_fds_than_room_is_refused() {
        let (a, b) = UnixStream::pair().expect("a socket pair");
        let (read, write) = nix::unistd::pipe().expect("a pipe");
        let fds = [read.as_raw_fd(), write.as_raw_fd(), read.as_raw_fd()];
        let rights = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(a.as_raw_fd(), &[IoSlice::new(b"x")], &rights, MsgFlags::empty(), None).expect("sent");
        let mut buf = [0; 1];
        assert_eq!(
            recv_with_fds(b.as_fd(), &mut buf, 1, MsgFlags::MSG_CMSG_CLOEXEC).err(),
            Some(Errno::ENOBUFS)
        );
    }
}
