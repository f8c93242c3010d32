//! Messages that are their own bytes: `Vec<u8>` and `String` travel without being copied.
//!
//! [`ipc_common::codec`] encodes a `Vec<u8>` or a `String` as a one-byte tag followed by the
//! bytes as they are. So a sender can write the tag and then the bytes straight from the
//! message, and a receiver can read the bytes straight into the `Vec` it returns, where the
//! general path encodes into a buffer and decodes out of one (two copies). The tag is learnt
//! from the codec itself, by encoding an empty value, and the layout is checked once per
//! process: were the codec to encode these types otherwise, the general path would serve.

use std::any::{Any, TypeId};
use std::sync::OnceLock;

use ipc_common::codec;

/// The bytes of `message` if it is a `Vec<u8>` or a `String`.
pub(crate) fn as_bytes<T: 'static>(message: &T) -> Option<&[u8]> {
    let any: &dyn Any = message;
    any.downcast_ref::<Vec<u8>>()
        .map(Vec::as_slice)
        .or_else(|| any.downcast_ref::<String>().map(String::as_bytes))
}

/// What the codec writes before the bytes of a `T`, if `T` is `Vec<u8>` or `String` and the
/// codec encodes it as that prefix and then its bytes.
pub(crate) fn prefix<T: 'static>() -> Option<&'static [u8]> {
    static BYTES: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    static TEXT: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let id = TypeId::of::<T>();
    let prefix = if id == TypeId::of::<Vec<u8>>() {
        BYTES.get_or_init(|| learn(Vec::new(), b"bytes".to_vec()))
    } else if id == TypeId::of::<String>() {
        TEXT.get_or_init(|| learn(String::new(), "文字".to_string()))
    } else {
        return None;
    };
    prefix.as_deref()
}

/// The encoding of `empty`, if that is what comes before the bytes of `sample` in its
/// encoding.
fn learn<T: serde::Serialize + 'static>(empty: T, sample: T) -> Option<Vec<u8>> {
    let mut prefix = Vec::new();
    codec::encode(&empty, &mut prefix).ok()?;
    let mut whole = Vec::new();
    codec::encode(&sample, &mut whole).ok()?;
    let bytes = as_bytes(&sample)?;
    (whole.len() == prefix.len() + bytes.len()
        && whole.starts_with(&prefix)
        && whole.ends_with(bytes))
    .then_some(prefix)
}

/// The `T` (`Vec<u8>` or `String`) whose bytes are `body`, or `body` back if they are not
/// one (a `String` that is not UTF-8).
pub(crate) fn from_bytes<T: 'static>(body: Vec<u8>) -> Result<T, Vec<u8>> {
    let value: Box<dyn Any> = if TypeId::of::<T>() == TypeId::of::<String>() {
        match String::from_utf8(body) {
            Ok(text) => Box::new(text),
            Err(e) => return Err(e.into_bytes()),
        }
    } else {
        Box::new(body)
    };
    value.downcast::<T>().map(|value| *value).map_err(|value| {
        value
            .downcast::<Vec<u8>>()
            .map_or_else(|_| Vec::new(), |b| *b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_then_bytes_is_the_codecs_encoding() {
        let text_prefix = prefix::<String>().expect("String has a prefix");
        for text in ["", "a", "数据来自进程0"] {
            let mut encoded = Vec::new();
            codec::encode(&text.to_string(), &mut encoded).expect("encode");
            assert_eq!(encoded, [text_prefix, text.as_bytes()].concat());
        }
        let bytes = vec![0u8, 1, 255];
        let mut encoded = Vec::new();
        codec::encode(&bytes, &mut encoded).expect("encode");
        let bytes_prefix = prefix::<Vec<u8>>().expect("Vec<u8> has a prefix");
        assert_eq!(encoded, [bytes_prefix, &bytes].concat());
        assert_eq!(prefix::<Vec<f64>>(), None);
        assert_eq!(prefix::<u8>(), None);
    }

    #[test]
    fn bytes_become_values_or_come_back() {
        assert_eq!(from_bytes::<Vec<u8>>(vec![1, 2]), Ok(vec![1, 2]));
        assert_eq!(from_bytes::<String>(b"ok".to_vec()), Ok("ok".to_string()));
        assert_eq!(from_bytes::<String>(vec![0xff]), Err(vec![0xff]));
        assert_eq!(as_bytes(&"hi".to_string()), Some(&b"hi"[..]));
        assert_eq!(as_bytes(&7u8), None);
    }
}
