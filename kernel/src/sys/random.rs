//! Randomness from the host, for getrandom(2), AT_RANDOM and the like.

use nix::errno::Errno;

/// Fills `buf` from the host's getrandom(2) with `flags` (GRND_NONBLOCK,
/// GRND_RANDOM, GRND_INSECURE); returns how many bytes it filled, which is
/// short only if the host would block or a host signal cut it.
pub fn fill(buf: &mut [u8], flags: u32) -> Result<usize, Errno> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most the remaining length into `buf`.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, flags) };
        if n < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                errno if filled == 0 => return Err(errno),
                _ => break,
            }
        }
        filled += n as usize;
    }
    Ok(filled)
}
