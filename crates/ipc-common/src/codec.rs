//! How messages become bytes: postcard, with raw fast paths for bytes and numeric vectors.
//!
//! Queues, pipes, pools and managers carry serde values. They encode them with [`encode`]
//! and decode them with [`decode`]: a one-byte tag, then either the value's
//! [postcard](https://docs.rs/postcard) encoding (a compact binary form: integers as varints,
//! strings and byte buffers as a length and their bytes) or, for a message that *is* a
//! `Vec<u8>`, `String` or vector of plain numbers, its bytes as they lie in memory. Python
//! pickles `bytes` and numpy arrays the same way, as one block; serde would otherwise visit a
//! `Vec<u8>` one element at a time, 20 times slower than a copy.
//!
//! Inside a larger type, mark byte buffers with `#[serde(with = "serde_bytes")]` (or use
//! `serde_bytes::ByteBuf`) to get the same single copy.
//!
//! A message encoded for one type and decoded as another fails with a [`CodecError`] whenever
//! the bytes cannot be a value of the other type (a different tag, a short or long buffer, an
//! invalid varint or string); as with any compact binary format, bytes that happen to fit
//! another type decode as that type.
//!
//! ```
//! use ipc_common::codec;
//!
//! let mut buf = Vec::new();
//! codec::encode(&vec![1.5f64, 2.5], &mut buf)?;
//! assert_eq!(buf.len(), 1 + 16); // the tag, then the 16 bytes of the two numbers
//! assert_eq!(codec::decode::<Vec<f64>>(&buf)?, [1.5, 2.5]);
//!
//! buf.clear();
//! codec::encode(&(7u32, "seven".to_string()), &mut buf)?;
//! assert_eq!(codec::decode::<(u32, String)>(&buf)?, (7, "seven".to_string()));
//! assert!(codec::decode::<Vec<u8>>(&buf).is_err()); // not the type that was sent
//! # Ok::<(), ipc_common::codec::CodecError>(())
//! ```

use std::any::{Any, TypeId};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value's `Serialize` failed (a map with a key it cannot write, say).
    #[error("cannot encode the message: {0}")]
    Encode(#[source] postcard::Error),
    /// The value holds a shared object (a queue, a lock, a pipe end), which can travel only as
    /// an argument of a process start.
    #[error("cannot encode the message: {0}")]
    Unshareable(String),
    /// The bytes are not the postcard encoding of the expected type.
    #[error("cannot decode the message as {ty}: {source}")]
    Decode {
        /// The type the receiver expected.
        ty: &'static str,
        /// What postcard found wrong.
        #[source]
        source: postcard::Error,
    },
    /// The bytes are not a message of the expected type: another tag, or a length that does
    /// not fit.
    #[error("cannot decode the message as {ty}: {why}")]
    Mismatch {
        /// The type the receiver expected.
        ty: &'static str,
        /// What does not fit.
        why: String,
    },
}

/// The encodings a message can have; its first byte.
mod tag {
    pub const POSTCARD: u8 = 0;
    pub const BYTES: u8 = 1;
    pub const STRING: u8 = 2;
    pub const F64: u8 = 3;
    pub const F32: u8 = 4;
    pub const I64: u8 = 5;
    pub const U64: u8 = 6;
    pub const I32: u8 = 7;
    pub const U32: u8 = 8;
}

/// Appends the encoding of `value` to `out`.
///
/// # Errors
///
/// [`CodecError::Encode`] if the value's `Serialize` implementation fails.
pub fn encode<T: Serialize + 'static>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let any: &dyn Any = value;
    if let Some(bytes) = any.downcast_ref::<Vec<u8>>() {
        out.push(tag::BYTES);
        out.extend_from_slice(bytes);
    } else if let Some(s) = any.downcast_ref::<String>() {
        out.push(tag::STRING);
        out.extend_from_slice(s.as_bytes());
    } else if !(raw::<f64>(any, tag::F64, out)
        || raw::<f32>(any, tag::F32, out)
        || raw::<i64>(any, tag::I64, out)
        || raw::<u64>(any, tag::U64, out)
        || raw::<i32>(any, tag::I32, out)
        || raw::<u32>(any, tag::U32, out))
    {
        out.push(tag::POSTCARD);
        let taken = std::mem::take(out);
        crate::share::take_refusal();
        *out =
            postcard::to_extend(value, taken).map_err(|e| match crate::share::take_refusal() {
                Some(why) => CodecError::Unshareable(why),
                None => CodecError::Encode(e),
            })?;
    }
    Ok(())
}

/// Decodes a message made by [`encode`] as a `T`.
///
/// # Errors
///
/// [`CodecError::Mismatch`] or [`CodecError::Decode`] when the bytes are not a `T`'s.
pub fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, CodecError> {
    let ty = std::any::type_name::<T>();
    let mismatch = |why: String| CodecError::Mismatch { ty, why };
    let (&found, body) = bytes
        .split_first()
        .ok_or_else(|| mismatch("the message is empty".into()))?;
    let want = expected_tag::<T>();
    if found != want {
        return Err(mismatch(format!(
            "it was encoded as {}, not {}",
            tag_name(found),
            tag_name(want)
        )));
    }
    let boxed: Box<dyn Any> = match found {
        tag::POSTCARD => {
            let (value, rest) = postcard::take_from_bytes::<T>(body)
                .map_err(|source| CodecError::Decode { ty, source })?;
            if !rest.is_empty() {
                return Err(mismatch(format!("{} bytes are left over", rest.len())));
            }
            return Ok(value);
        }
        tag::BYTES => Box::new(body.to_vec()),
        tag::STRING => Box::new(
            String::from_utf8(body.to_vec()).map_err(|e| mismatch(format!("not UTF-8: {e}")))?,
        ),
        tag::F64 => Box::new(from_raw::<f64>(body).ok_or_else(|| odd::<f64>(body))?),
        tag::F32 => Box::new(from_raw::<f32>(body).ok_or_else(|| odd::<f32>(body))?),
        tag::I64 => Box::new(from_raw::<i64>(body).ok_or_else(|| odd::<i64>(body))?),
        tag::U64 => Box::new(from_raw::<u64>(body).ok_or_else(|| odd::<u64>(body))?),
        tag::I32 => Box::new(from_raw::<i32>(body).ok_or_else(|| odd::<i32>(body))?),
        tag::U32 => Box::new(from_raw::<u32>(body).ok_or_else(|| odd::<u32>(body))?),
        other => return Err(mismatch(format!("unknown tag {other}"))),
    };
    boxed
        .downcast::<T>()
        .map(|b| *b)
        .map_err(|_| mismatch("internal tag mismatch".into()))
}

/// The tag [`encode`] writes for a `T`.
fn expected_tag<T: 'static>() -> u8 {
    let id = TypeId::of::<T>();
    [
        (TypeId::of::<Vec<u8>>(), tag::BYTES),
        (TypeId::of::<String>(), tag::STRING),
        (TypeId::of::<Vec<f64>>(), tag::F64),
        (TypeId::of::<Vec<f32>>(), tag::F32),
        (TypeId::of::<Vec<i64>>(), tag::I64),
        (TypeId::of::<Vec<u64>>(), tag::U64),
        (TypeId::of::<Vec<i32>>(), tag::I32),
        (TypeId::of::<Vec<u32>>(), tag::U32),
    ]
    .into_iter()
    .find(|(t, _)| *t == id)
    .map_or(tag::POSTCARD, |(_, tag)| tag)
}

fn tag_name(tag: u8) -> &'static str {
    match tag {
        tag::POSTCARD => "a postcard value",
        tag::BYTES => "raw bytes",
        tag::STRING => "a string",
        tag::F64 => "a vector of f64",
        tag::F32 => "a vector of f32",
        tag::I64 => "a vector of i64",
        tag::U64 => "a vector of u64",
        tag::I32 => "a vector of i32",
        tag::U32 => "a vector of u32",
        _ => "an unknown encoding",
    }
}

fn odd<N>(body: &[u8]) -> CodecError {
    CodecError::Mismatch {
        ty: std::any::type_name::<Vec<N>>(),
        why: format!(
            "{} bytes are not a whole number of {}-byte items",
            body.len(),
            size_of::<N>()
        ),
    }
}

/// Plain numbers whose bytes may be copied in and out of a message as they are.
///
/// # Safety
///
/// Every bit pattern of `size_of::<Self>()` bytes is a valid value, and the type has no
/// padding.
unsafe trait Plain: Copy + 'static {}
// SAFETY: primitive numbers: no padding, every bit pattern valid.
unsafe impl Plain for f64 {}
// SAFETY: as above.
unsafe impl Plain for f32 {}
// SAFETY: as above.
unsafe impl Plain for i64 {}
// SAFETY: as above.
unsafe impl Plain for u64 {}
// SAFETY: as above.
unsafe impl Plain for i32 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}

/// If `any` is a `Vec<N>`, appends `tag` and its bytes (little-endian) to `out`.
fn raw<N: Plain>(any: &dyn Any, tag: u8, out: &mut Vec<u8>) -> bool {
    let Some(items) = any.downcast_ref::<Vec<N>>() else {
        return false;
    };
    out.push(tag);
    if cfg!(target_endian = "little") {
        // SAFETY: `N: Plain` has no padding, so its `len * size_of::<N>()` bytes are all
        // initialised; `u8` has no alignment requirement; the borrow of `items` outlives the
        // slice.
        let bytes = unsafe {
            std::slice::from_raw_parts(items.as_ptr().cast::<u8>(), std::mem::size_of_val(&**items))
        };
        out.extend_from_slice(bytes);
    } else {
        for item in items {
            // SAFETY: as above, for one item; reversed into little-endian order.
            let bytes = unsafe {
                std::slice::from_raw_parts((item as *const N).cast::<u8>(), size_of::<N>())
            };
            out.extend(bytes.iter().rev());
        }
    }
    true
}

/// The `Vec<N>` whose little-endian bytes are `body`, or `None` if its length does not fit.
fn from_raw<N: Plain>(body: &[u8]) -> Option<Vec<N>> {
    let size = size_of::<N>();
    if !body.len().is_multiple_of(size) {
        return None;
    }
    let len = body.len() / size;
    let mut items = Vec::<N>::with_capacity(len);
    // SAFETY: the vector has room for `len` items, that is `body.len()` bytes; the regions do
    // not overlap (the vector is new); every bit pattern is a valid `N` (`Plain`), so the items
    // are initialised once the bytes are copied, and only then is the length set.
    unsafe {
        std::ptr::copy_nonoverlapping(body.as_ptr(), items.as_mut_ptr().cast::<u8>(), body.len());
        items.set_len(len);
    }
    if cfg!(target_endian = "big") {
        for item in &mut items {
            // SAFETY: one item's bytes, reversed in place from little-endian.
            let bytes =
                unsafe { std::slice::from_raw_parts_mut((item as *mut N).cast::<u8>(), size) };
            bytes.reverse();
        }
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn round<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static>(v: T) {
        let mut buf = Vec::new();
        encode(&v, &mut buf).expect("encode");
        assert_eq!(decode::<T>(&buf).expect("decode"), v);
    }

    #[test]
    fn every_fast_path_and_postcard_round_trip() {
        round(vec![0u8, 1, 255]);
        round(String::from("数据来自进程0"));
        round(vec![1.5f64, -0.0, f64::MAX]);
        round(vec![1.5f32]);
        round(vec![-1i64, i64::MIN]);
        round(vec![u64::MAX]);
        round(vec![-7i32]);
        round(vec![7u32]);
        round(Vec::<f64>::new());
        round((1u8, "x".to_string(), Some(vec![1u16, 2])));
        round(BTreeMap::from([(1, "a".to_string())]));
        round(Option::<i32>::None);
        round(());
    }

    #[test]
    fn bytes_are_not_expanded() {
        let mut buf = Vec::new();
        encode(&vec![9u8; 1000], &mut buf).expect("encode");
        assert_eq!(buf.len(), 1001);
        buf.clear();
        encode(&vec![0.25f64; 1000], &mut buf).expect("encode");
        assert_eq!(buf.len(), 8001);
    }

    #[test]
    fn wrong_types_and_garbage_are_errors() {
        let mut buf = Vec::new();
        encode(&vec![1u8, 2, 3], &mut buf).expect("encode");
        assert!(matches!(
            decode::<Vec<f64>>(&buf),
            Err(CodecError::Mismatch { .. })
        ));
        assert!(matches!(
            decode::<u32>(&buf),
            Err(CodecError::Mismatch { .. })
        ));
        assert!(matches!(
            decode::<u32>(&[]),
            Err(CodecError::Mismatch { .. })
        ));
        let odd_f64 = [tag::F64, 1, 2, 3];
        assert!(matches!(
            decode::<Vec<f64>>(&odd_f64),
            Err(CodecError::Mismatch { .. })
        ));
        let bad_utf8 = [tag::STRING, 0xff];
        assert!(decode::<String>(&bad_utf8).is_err());
        let truncated = [tag::POSTCARD, 0x80];
        assert!(matches!(
            decode::<u32>(&truncated),
            Err(CodecError::Decode { .. })
        ));
        let trailing = [tag::POSTCARD, 1, 2];
        assert!(matches!(
            decode::<u8>(&trailing),
            Err(CodecError::Mismatch { .. })
        ));
        // A hostile length inside postcard does not allocate it: the bytes are not there.
        let liar = [tag::POSTCARD, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode::<Vec<u64>>(&liar).is_err());
        assert!(decode::<(Vec<u16>,)>(&liar).is_err());
    }
}
