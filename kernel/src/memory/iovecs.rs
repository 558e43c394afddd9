//! Host iovecs into application memory, for I/O without an extra copy.

use std::marker::PhantomData;

use super::MemoryManager;

/// Host iovecs that reach application memory through the kernel's mapping
/// of the memory file. Only [`MemoryManager::host_iovecs`] makes them, after
/// checking every range is mapped with the access asked for; they borrow
/// the manager, so nothing can unmap the ranges while they live.
pub struct UserIovecs<'a> {
    iovecs: Vec<libc::iovec>,
    _manager: PhantomData<&'a MemoryManager>,
}

impl<'a> UserIovecs<'a> {
    pub(super) fn new(iovecs: Vec<libc::iovec>) -> Self {
        UserIovecs {
            iovecs,
            _manager: PhantomData,
        }
    }

    /// The iovecs, for host readv/writev-style calls.
    pub fn as_raw(&self) -> &[libc::iovec] {
        &self.iovecs
    }

    /// Total bytes covered.
    pub fn len(&self) -> usize {
        self.iovecs.iter().map(|iov| iov.iov_len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies up to `max` bytes out of the buffers, starting `skip` bytes in.
    pub fn gather(&self, skip: usize, max: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(max.min(self.len().saturating_sub(skip)));
        let mut offset = 0;
        for iov in &self.iovecs {
            let (start, end) = (offset, offset + iov.iov_len);
            offset = end;
            if end <= skip {
                continue;
            }
            let from = skip.saturating_sub(start);
            let take = (iov.iov_len - from).min(max - out.len());
            // SAFETY: the iovec lies in the memory file mapping, checked
            // readable when it was made, and kept mapped by the borrow.
            let bytes = unsafe { std::slice::from_raw_parts(iov.iov_base.cast::<u8>().add(from), take) };
            out.extend_from_slice(bytes);
            if out.len() == max {
                break;
            }
        }
        out
    }

    /// Copies `data` into the buffers, starting `skip` bytes in; returns how
    /// many bytes fitted.
    pub fn scatter(&self, skip: usize, data: &[u8]) -> usize {
        let mut done = 0;
        let mut offset = 0;
        for iov in &self.iovecs {
            let (start, end) = (offset, offset + iov.iov_len);
            offset = end;
            if end <= skip || done == data.len() {
                continue;
            }
            let from = skip.saturating_sub(start);
            let take = (iov.iov_len - from).min(data.len() - done);
            // SAFETY: the iovec lies in the memory file mapping, checked
            // writable when it was made, and kept mapped by the borrow; the
            // source is kernel memory, so the ranges do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(data[done..].as_ptr(), iov.iov_base.cast::<u8>().add(from), take);
            }
            done += take;
        }
        done
    }
}
