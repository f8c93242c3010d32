//! A request as the server reads it: the head's fields, borrowed from its frame, and the items
//! of its sequence (see [`crate::protocol`]).

use std::sync::Arc;
use std::time::Instant;

use ipc_common::time::deadline_after;

use crate::protocol::{FIELD_LENGTH, Op, REQUEST_HEAD, timeout_of};

/// Encoded bytes, kept as they came: shared between an object and the snapshots being sent.
pub(super) type Bytes = Arc<[u8]>;

/// The connection ends without a reply: the request is not of the protocol, or its client went
/// away while it waited.
#[derive(Debug)]
pub(super) struct End;

/// A well-formed request.
pub(super) struct Request<'a> {
    pub(super) op: Op,
    pub(super) id: u32,
    fields: Vec<&'a [u8]>,
    /// The items of its sequence, read from the frames after the head.
    pub(super) items: Vec<Bytes>,
}

impl<'a> Request<'a> {
    /// Parses a head frame; returns the request and how many item frames follow it. A head
    /// with another number of fields than its op takes, or a field longer than `max`, is not
    /// of the protocol.
    pub(super) fn parse(frame: &'a [u8], max: usize) -> Result<(Request<'a>, u64), End> {
        let (head, mut rest) = frame.split_at_checked(REQUEST_HEAD).ok_or(End)?;
        let op = Op::from_byte(head[0]).ok_or(End)?;
        let id = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let (arity, sequence) = op.shape();
        let mut fields = Vec::with_capacity(arity);
        while !rest.is_empty() && fields.len() < arity {
            let (len, after) = rest.split_first_chunk::<FIELD_LENGTH>().ok_or(End)?;
            let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| End)?;
            if len > max {
                return Err(End);
            }
            let (field, after) = after.split_at_checked(len).ok_or(End)?;
            fields.push(field);
            rest = after;
        }
        if fields.len() != arity || !rest.is_empty() {
            return Err(End);
        }
        let request = Request {
            op,
            id,
            fields,
            items: Vec::new(),
        };
        let count = match sequence {
            true => request.number(arity - 1)?,
            false => 0,
        };
        Ok((request, count))
    }

    /// Field `i`, as bytes (a key, a value, an item).
    pub(super) fn field(&self, i: usize) -> Result<&'a [u8], End> {
        self.fields.get(i).copied().ok_or(End)
    }

    /// Field `i`, as a number.
    pub(super) fn number(&self, i: usize) -> Result<u64, End> {
        let bytes: [u8; 8] = self.field(i)?.try_into().map_err(|_| End)?;
        Ok(u64::from_be_bytes(bytes))
    }

    /// Field `i`, as an index (negative: from the end).
    pub(super) fn index(&self, i: usize) -> Result<i64, End> {
        Ok(self.number(i)? as i64)
    }

    /// Field `i`, as an index or nothing (an empty field).
    pub(super) fn optional_index(&self, i: usize) -> Result<Option<i64>, End> {
        match self.field(i)? {
            [] => Ok(None),
            _ => self.index(i).map(Some),
        }
    }

    /// Field `i`, a timeout, as the deadline it sets from now (`None`: none).
    pub(super) fn deadline(&self, i: usize) -> Result<Option<Instant>, End> {
        Ok(timeout_of(self.number(i)?).and_then(deadline_after))
    }

    /// Field `i`, as text (a name, a method, a type's id).
    pub(super) fn text(&self, i: usize) -> Result<&'a str, End> {
        std::str::from_utf8(self.field(i)?).map_err(|_| End)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(op: Op, fields: &[&[u8]]) -> Vec<u8> {
        let mut frame = vec![op as u8, 0, 0, 0, 7];
        for f in fields {
            frame.extend_from_slice(&(f.len() as u64).to_be_bytes());
            frame.extend_from_slice(f);
        }
        frame
    }

    #[test]
    fn fields_are_read_by_kind_and_counted() {
        let frame = head(Op::ListSet, &[&(-2i64).to_be_bytes(), b"item"]);
        let (request, count) = Request::parse(&frame, 100).expect("parse");
        assert_eq!((request.op, request.id, count), (Op::ListSet, 7, 0));
        assert_eq!(request.index(0).expect("index"), -2);
        assert_eq!(request.field(1).expect("item"), b"item");
        let frame = head(Op::ListExtend, &[&3u64.to_be_bytes()]);
        assert_eq!(Request::parse(&frame, 100).expect("parse").1, 3);
    }

    #[test]
    fn heads_of_another_shape_are_not_of_the_protocol() {
        let cases = [
            head(Op::ListSet, &[b"only one"]),
            head(Op::ListLen, &[b"one too many"]),
            head(Op::DictGet, &[&[0; 101]]),
            [head(Op::DictGet, &[b"k"]), vec![1, 2]].concat(),
            vec![Op::DictGet as u8, 0, 0],
            vec![0xee, 0, 0, 0, 0],
        ];
        for frame in cases {
            assert!(Request::parse(&frame, 100).is_err(), "{frame:?}");
        }
    }
}
