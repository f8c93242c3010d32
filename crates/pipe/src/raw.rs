//! Messages that are their own bytes travel without being copied: `Vec<u8>`, `String`, and
//! vectors of plain numbers (`f64`, `f32`, `i64`, `u64`, `i32`, `u32`).
//!
//! [`ipc_common::codec`] encodes such a message as a one-byte tag followed by its bytes as they
//! lie in memory (numbers little-endian). So a sender can write the tag and then the bytes
//! straight from the message, and a receiver can read the bytes straight into the vector it
//! returns, where the general path encodes into a buffer and decodes out of one: two copies of
//! the whole message. The tag is learnt from the codec itself, by encoding an empty value, and
//! the layout is checked once per process against the codec's encoding of a sample: were the
//! codec to encode a type otherwise (or on a big-endian machine, for numbers), that type takes
//! the general path.

use std::any::{Any, TypeId};
use std::sync::OnceLock;

use bytemuck::Pod;
use ipc_common::codec::{self, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PipeError;
use crate::wire::Incoming;

/// What a message's body became: its value, or its bytes back if they are not one (a
/// `String` that is not UTF-8, numbers that do not fill their last item).
type Read = Result<Box<dyn Any>, Vec<u8>>;

/// One type whose encoding is a prefix, then its bytes as they lie in memory.
struct Kind {
    id: TypeId,
    /// The codec's prefix for the type, if it encodes the type so (see [`learn`]).
    learn: fn() -> Option<Vec<u8>>,
    /// The bytes of a message of the type.
    bytes: fn(&dyn Any) -> Option<&[u8]>,
    /// Reads a body of `len` bytes into a value of the type.
    read: fn(&mut Incoming, usize) -> Result<Read, PipeError>,
}

fn kinds() -> [Kind; 8] {
    [
        Kind {
            id: TypeId::of::<Vec<u8>>(),
            learn: || learn(Vec::<u8>::new(), b"sample".to_vec()),
            bytes: |any| any.downcast_ref::<Vec<u8>>().map(Vec::as_slice),
            read: |incoming, len| Ok(Ok(Box::new(incoming.read_vec(len)?))),
        },
        Kind {
            id: TypeId::of::<String>(),
            learn: || learn(String::new(), "样本".to_string()),
            bytes: |any| any.downcast_ref::<String>().map(String::as_bytes),
            read: |incoming, len| {
                Ok(String::from_utf8(incoming.read_vec(len)?)
                    .map(|text| Box::new(text) as Box<dyn Any>)
                    .map_err(|e| e.into_bytes()))
            },
        },
        numbers::<f64>(),
        numbers::<f32>(),
        numbers::<i64>(),
        numbers::<u64>(),
        numbers::<i32>(),
        numbers::<u32>(),
    ]
}

/// The [`Kind`] of `Vec<N>`.
fn numbers<N: Pod + Serialize>() -> Kind {
    Kind {
        id: TypeId::of::<Vec<N>>(),
        learn: || {
            // A sample whose bytes are 1, 2, 3, ...: their order in the encoding shows.
            let mut sample = vec![N::zeroed(); 2];
            for (i, byte) in bytemuck::cast_slice_mut::<N, u8>(&mut sample)
                .iter_mut()
                .enumerate()
            {
                *byte = i as u8 + 1;
            }
            learn(Vec::<N>::new(), sample)
        },
        bytes: |any| {
            any.downcast_ref::<Vec<N>>()
                .map(|items| bytemuck::cast_slice(items))
        },
        read: |incoming, len| {
            if len % size_of::<N>() != 0 {
                return Ok(Err(incoming.read_vec(len)?));
            }
            Ok(Ok(Box::new(incoming.read_numbers::<N>(len)?)))
        },
    }
}

/// The encoding of `empty`, if the encoding of `sample` is it followed by `sample`'s bytes.
fn learn<T: Serialize + 'static>(empty: T, sample: T) -> Option<Vec<u8>> {
    let mut prefix = Vec::new();
    codec::encode(&empty, &mut prefix).ok()?;
    let mut whole = Vec::new();
    codec::encode(&sample, &mut whole).ok()?;
    let kind = kinds().into_iter().find(|k| k.id == TypeId::of::<T>())?;
    let bytes = (kind.bytes)(&sample)?;
    (whole == [&prefix[..], bytes].concat()).then_some(prefix)
}

/// What the codec writes before the bytes of a `T`, if `T` is one of these types and the codec
/// encodes it as that prefix and then its bytes.
pub(crate) fn prefix<T: 'static>() -> Option<&'static [u8]> {
    static PREFIXES: OnceLock<Vec<(TypeId, Option<Vec<u8>>)>> = OnceLock::new();
    PREFIXES
        .get_or_init(|| kinds().iter().map(|k| (k.id, (k.learn)())).collect())
        .iter()
        .find(|(id, _)| *id == TypeId::of::<T>())
        .and_then(|(_, prefix)| prefix.as_deref())
}

/// The bytes of `message` if `T` is one of these types.
pub(crate) fn as_bytes<T: 'static>(message: &T) -> Option<&[u8]> {
    let kind = kinds().into_iter().find(|k| k.id == TypeId::of::<T>())?;
    (kind.bytes)(message)
}

/// Reads the `len`-byte body of a message whose `prefix` was read, straight into a `T`. Bytes
/// that are not a `T` are a [`PipeError::Decode`] that the codec words.
pub(crate) fn read_body<T: DeserializeOwned + 'static>(
    incoming: &mut Incoming,
    prefix: &[u8],
    len: usize,
) -> Result<T, PipeError> {
    let ty = std::any::type_name::<T>();
    let Some(kind) = kinds().into_iter().find(|k| k.id == TypeId::of::<T>()) else {
        return Err(not_raw(ty));
    };
    match (kind.read)(incoming, len)? {
        Ok(value) => value.downcast::<T>().map(|v| *v).map_err(|_| not_raw(ty)),
        Err(body) => codec::decode::<T>(&[prefix, &body].concat()).map_err(PipeError::Decode),
    }
}

/// [`read_body`] called for a type that is not one of these (never, by construction).
fn not_raw(ty: &'static str) -> PipeError {
    PipeError::Decode(CodecError::Mismatch {
        ty,
        why: "not a type that travels as its own bytes".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded<T: Serialize + 'static>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        codec::encode(value, &mut out).expect("encode");
        out
    }

    /// The prefix of `T`, and that the codec's encoding of `value` is it and then its bytes.
    fn check<T: Serialize + 'static>(value: T) {
        let prefix = prefix::<T>().expect("a prefix");
        let bytes = as_bytes(&value).expect("bytes");
        assert_eq!(encoded(&value), [prefix, bytes].concat());
    }

    #[test]
    fn prefix_then_bytes_is_the_codecs_encoding() {
        check(vec![0u8, 1, 255]);
        check(String::from("数据来自进程0"));
        check(vec![1.5f64, -0.0, f64::MAX]);
        check(vec![1.5f32]);
        check(vec![-1i64, i64::MIN]);
        check(vec![u64::MAX]);
        check(vec![-7i32]);
        check(vec![7u32, 0]);
        check(Vec::<f64>::new());
        assert_eq!(prefix::<Vec<u16>>(), None);
        assert_eq!(prefix::<Option<Vec<u8>>>(), None);
        assert_eq!(as_bytes(&7u8), None);
    }
}
