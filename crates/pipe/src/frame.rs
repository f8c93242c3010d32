//! Length-prefixed frames on a byte stream: a 4-byte big-endian length, then the payload.
//!
//! [`begin`] and [`finish`] build a frame in a reusable `Vec` so that it can go out with a
//! single `write` call; [`read`] reads one from a buffered reader into a reusable `Vec`, never
//! allocating more than what actually arrives.
//!
//! ```
//! use std::io::{BufReader, Write};
//!
//! let mut out = Vec::new();
//! pipe::frame::begin(&mut out);
//! out.extend_from_slice(b"hello");
//! pipe::frame::finish(&mut out, 1024)?;
//! assert_eq!(out, b"\0\0\0\x05hello");
//!
//! let mut payload = Vec::new();
//! pipe::frame::read(&mut BufReader::new(&out[..]), &mut payload, 1024)?;
//! assert_eq!(payload, b"hello");
//! # Ok::<(), pipe::PipeError>(())
//! ```

use std::io::{self, BufRead, Read};

use crate::PipeError;

/// The length prefix's size in bytes.
pub const HEADER: usize = 4;

/// Clears `frame` and reserves room for the length prefix; append the payload after it.
pub fn begin(frame: &mut Vec<u8>) {
    frame.clear();
    frame.extend_from_slice(&[0; HEADER]);
}

/// Writes the payload's length into the prefix reserved by [`begin`].
///
/// # Errors
///
/// [`PipeError::TooLarge`] if the payload is longer than `max` (or than `u32::MAX`).
pub fn finish(frame: &mut [u8], max: usize) -> Result<(), PipeError> {
    let len = frame.len().saturating_sub(HEADER);
    let too_large = PipeError::TooLarge { len, max };
    if len > max {
        return Err(too_large);
    }
    let prefix = u32::try_from(len).map_err(|_| too_large)?;
    frame[..HEADER].copy_from_slice(&prefix.to_be_bytes());
    Ok(())
}

/// Reads one frame's payload into `payload` (replacing its contents).
///
/// # Errors
///
/// [`PipeError::Closed`] at end-of-file before the first byte of a frame,
/// [`PipeError::Truncated`] at end-of-file inside one, [`PipeError::TooLarge`] if the length
/// prefix is above `max` (nothing is allocated for it), [`PipeError::Io`] otherwise.
pub fn read<R: BufRead>(
    reader: &mut R,
    payload: &mut Vec<u8>,
    max: usize,
) -> Result<(), PipeError> {
    let mut header = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match reader.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Err(PipeError::Closed),
            Ok(0) => {
                return Err(PipeError::Truncated {
                    expected: HEADER,
                    got,
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PipeError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(PipeError::TooLarge { len, max });
    }
    payload.clear();
    // `take` + `read_to_end` grow the buffer only as bytes arrive.
    let got = reader.take(len as u64).read_to_end(payload)?;
    if got < len {
        return Err(PipeError::Truncated { expected: len, got });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        begin(&mut out);
        out.extend_from_slice(payload);
        finish(&mut out, usize::MAX).expect("finish");
        out
    }

    #[test]
    fn round_trip_and_end() {
        let mut bytes = framed(b"one");
        bytes.extend(framed(b""));
        let mut r = BufReader::new(&bytes[..]);
        let mut p = Vec::new();
        read(&mut r, &mut p, 10).expect("first");
        assert_eq!(p, b"one");
        read(&mut r, &mut p, 10).expect("second");
        assert!(p.is_empty());
        assert!(matches!(read(&mut r, &mut p, 10), Err(PipeError::Closed)));
    }

    #[test]
    fn truncated_and_oversized() {
        let mut p = Vec::new();
        let short = [0u8, 0];
        let err = read(&mut BufReader::new(&short[..]), &mut p, 10);
        assert!(matches!(
            err,
            Err(PipeError::Truncated {
                expected: 4,
                got: 2
            })
        ));
        let cut = &framed(b"hello")[..7];
        let err = read(&mut BufReader::new(cut), &mut p, 10);
        assert!(matches!(
            err,
            Err(PipeError::Truncated {
                expected: 5,
                got: 3
            })
        ));
        let huge = [0xffu8, 0xff, 0xff, 0xff, b'x'];
        let err = read(&mut BufReader::new(&huge[..]), &mut p, 1 << 20);
        assert!(matches!(
            err,
            Err(PipeError::TooLarge {
                len: 0xffff_ffff,
                ..
            })
        ));
        let mut big = Vec::new();
        begin(&mut big);
        big.extend_from_slice(&[b'x'; 11]);
        assert!(matches!(
            finish(&mut big, 10),
            Err(PipeError::TooLarge { len: 11, max: 10 })
        ));
    }
}
