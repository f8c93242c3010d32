//! How a message goes into the ring and comes out: [`ipc_common::codec`], with the bytes of a
//! `Vec<u8>` or a `String` going straight from the caller's value into the ring and from the
//! ring into the value handed back.
//!
//! The codec encodes those two types as a one-byte tag followed by their bytes as they are. A
//! put sends the tag and the caller's bytes as two parts of one message, without building the
//! encoding in a buffer; a get reads the tag into a byte and the bytes into the `Vec` it
//! returns. So a message of these types is copied exactly twice (into the ring, out of it),
//! and the memory a process holds while streaming it is the message and the ring, whatever
//! its size. Every other type is encoded into a buffer that the queue keeps for the next
//! message (unless it grew beyond [`KEEP_BUFFER`]).

use std::any::{Any, TypeId};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::time::Instant;

use ipc_common::codec::{self, CodecError};
use ipc_common::ring::Ring;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::QueueError;

/// The largest encoding buffer a queue keeps between messages: a larger one is freed after
/// its message, so that one huge message does not hold its memory for the queue's life.
pub const KEEP_BUFFER: usize = 1 << 20;

/// The tags the codec writes before the bytes of a `Vec<u8>` and of a `String` (learnt once
/// from the codec itself; `None` would turn the fast paths off).
fn raw_tags() -> Option<(u8, u8)> {
    static TAGS: OnceLock<Option<(u8, u8)>> = OnceLock::new();
    fn tag<T: Serialize + 'static>(empty: &T) -> Option<u8> {
        let mut buf = Vec::new();
        codec::encode(empty, &mut buf).ok()?;
        (buf.len() == 1).then_some(buf[0])
    }
    *TAGS.get_or_init(|| Some((tag(&Vec::<u8>::new())?, tag(&String::new())?)))
}

/// Whether `T` is one of the types whose bytes travel as they are.
fn is_raw<T: 'static>() -> bool {
    let t = TypeId::of::<T>();
    t == TypeId::of::<Vec<u8>>() || t == TypeId::of::<String>()
}

/// Encodes `item` and pushes it, refusing a message above the ring's limit before anything is
/// written.
pub(crate) fn put<T: Serialize + 'static>(
    ring: &Ring,
    buf: &Mutex<Vec<u8>>,
    item: &T,
    deadline: Option<Instant>,
) -> Result<(), QueueError> {
    let any: &dyn Any = item;
    let raw = raw_tags().and_then(|(bytes_tag, string_tag)| {
        if let Some(bytes) = any.downcast_ref::<Vec<u8>>() {
            Some((bytes_tag, &bytes[..]))
        } else {
            any.downcast_ref::<String>()
                .map(|text| (string_tag, text.as_bytes()))
        }
    });
    if let Some((tag, bytes)) = raw {
        check_len(ring, 1 + bytes.len())?;
        return Ok(ring.push_vectored(&[&[tag], bytes], deadline)?);
    }
    with_buffer(buf, |buf| {
        codec::encode(item, buf).map_err(QueueError::Encode)?;
        check_len(ring, buf.len())?;
        Ok(ring.push(buf, deadline)?)
    })
}

/// Pops a message and decodes it as a `T`. A message that is not a `T` is consumed all the
/// same, so the next get takes the next message.
pub(crate) fn get<T: DeserializeOwned + 'static>(
    ring: &Ring,
    buf: &Mutex<Vec<u8>>,
    deadline: Option<Instant>,
) -> Result<T, QueueError> {
    if !is_raw::<T>() || raw_tags().is_none() {
        return with_buffer(buf, |buf| {
            ring.pop(buf, deadline, |_| {})?;
            codec::decode(buf).map_err(QueueError::Decode)
        });
    }
    let mut tag = [0u8; 1];
    let mut body = Vec::new();
    let len = ring.pop_vectored(&mut tag, &mut body, deadline)?;
    // The tag alone decodes (as an empty value) exactly when it is the tag of a `T`; the
    // codec's own error names what the message was instead.
    let boxed: Box<dyn Any> = if TypeId::of::<T>() == TypeId::of::<Vec<u8>>() {
        codec::decode::<Vec<u8>>(&tag[..len.min(1)]).map_err(QueueError::Decode)?;
        Box::new(body)
    } else {
        codec::decode::<String>(&tag[..len.min(1)]).map_err(QueueError::Decode)?;
        let text = String::from_utf8(body).map_err(|e| {
            QueueError::Decode(CodecError::Mismatch {
                ty: std::any::type_name::<String>(),
                why: format!("not UTF-8: {}", e.utf8_error()),
            })
        })?;
        Box::new(text)
    };
    boxed.downcast::<T>().map(|b| *b).map_err(|_| {
        QueueError::Decode(CodecError::Mismatch {
            ty: std::any::type_name::<T>(),
            why: "internal type mismatch".into(),
        })
    })
}

fn check_len(ring: &Ring, len: usize) -> Result<(), QueueError> {
    if len > ring.max_message() {
        return Err(QueueError::TooLarge {
            len,
            limit: ring.max_message(),
        });
    }
    Ok(())
}

/// Runs `f` with the cleared buffer in `slot`, or with a fresh one if another thread of this
/// process is using it; frees the buffer afterwards if it grew beyond [`KEEP_BUFFER`].
fn with_buffer<R>(slot: &Mutex<Vec<u8>>, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let run = |buf: &mut Vec<u8>| {
        buf.clear();
        let result = f(buf);
        if buf.capacity() > KEEP_BUFFER {
            *buf = Vec::new();
        }
        result
    };
    match slot.try_lock() {
        Ok(mut buf) => run(&mut buf),
        // A panic in a `Serialize` impl poisons the lock; the buffer itself is still fine.
        Err(TryLockError::Poisoned(poisoned)) => run(&mut poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => run(&mut Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast paths rely on the codec's layout for these two types: its tag, then the bytes.
    #[test]
    fn the_codec_writes_a_tag_then_the_bytes() {
        let mut buf = Vec::new();
        codec::encode(&vec![1u8, 2, 3], &mut buf).expect("encode");
        let (bytes_tag, string_tag) = raw_tags().expect("tags");
        assert_eq!(buf, [bytes_tag, 1, 2, 3]);
        buf.clear();
        codec::encode(&"hé".to_string(), &mut buf).expect("encode");
        let mut expected = vec![string_tag];
        expected.extend_from_slice("hé".as_bytes());
        assert_eq!(buf, expected);
        assert!(is_raw::<Vec<u8>>() && is_raw::<String>() && !is_raw::<Vec<u16>>());
    }
}
