//! The shared objects, and how a request changes or reads them.
//!
//! Keys, values and items are kept as the bytes their senders encoded, never decoded: two
//! keys are the same key when they are the same bytes. Each is an `Arc<[u8]>`, so that a
//! snapshot taken under the lock is a list of reference counts, and its bytes are written out
//! after the lock is released, with no copy.

use std::collections::HashMap;
use std::sync::Arc;

use crate::protocol::{KEY_LENGTH, Op, REQUEST_HEAD};

/// Encoded bytes, shared between the object and the snapshots being sent.
pub(super) type Bytes = Arc<[u8]>;

/// A shared object.
enum Object {
    /// A dict in insertion order, with an index from key to position.
    Dict {
        items: Vec<(Bytes, Bytes)>,
        index: HashMap<Bytes, usize>,
    },
    /// A list.
    List(Vec<Bytes>),
}

/// Every object of the server, and whether a shutdown was requested.
#[derive(Default)]
pub(super) struct Objects {
    objects: Vec<Object>,
    pub(super) shutdown: bool,
}

/// A well-formed request, borrowing its bytes from the frame it came in.
pub(super) struct Request<'a> {
    pub(super) op: Op,
    id: u32,
    body: Body<'a>,
}

/// What a request carries besides the op and the object.
enum Body<'a> {
    None,
    One(&'a [u8]),
    KeyValue(&'a [u8], &'a [u8]),
}

/// What to send back.
pub(super) enum Reply {
    /// Success, nothing more.
    Done,
    /// Success with a number: a new object's id, a length.
    Number(u64),
    /// A dict's value, or its absence.
    Found(Option<Bytes>),
    /// A list's items.
    Items(Vec<Bytes>),
    /// A dict's entries.
    Entries(Vec<(Bytes, Bytes)>),
    /// The request is well formed but cannot be done (an unknown object, say).
    Refused(String),
}

impl<'a> Request<'a> {
    /// Parses a request frame; `None` if it is not one of our protocol, or carries a key or
    /// value longer than `max`.
    pub(super) fn parse(frame: &'a [u8], max: usize) -> Option<Request<'a>> {
        let (head, rest) = frame.split_at_checked(REQUEST_HEAD)?;
        let op = Op::from_byte(head[0])?;
        let id = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let body = match op {
            Op::DictSet => {
                let (len, rest) = rest.split_first_chunk::<KEY_LENGTH>()?;
                let len = usize::try_from(u64::from_be_bytes(*len)).ok()?;
                let (key, value) = rest.split_at_checked(len)?;
                Body::KeyValue(key, value)
            }
            Op::DictGet | Op::ListAppend => Body::One(rest),
            _ if rest.is_empty() => Body::None,
            _ => return None,
        };
        let fits = match body {
            Body::None => true,
            Body::One(item) => item.len() <= max,
            Body::KeyValue(key, value) => key.len() <= max && value.len() <= max,
        };
        fits.then_some(Request { op, id, body })
    }
}

impl Objects {
    /// Applies one request.
    pub(super) fn apply(&mut self, request: &Request<'_>) -> Reply {
        let Request { op, id, ref body } = *request;
        match op {
            Op::NewDict | Op::NewList => {
                let Ok(new_id) = u32::try_from(self.objects.len()) else {
                    return Reply::Refused("too many objects".into());
                };
                self.objects.push(match op {
                    Op::NewDict => Object::Dict {
                        items: Vec::new(),
                        index: HashMap::new(),
                    },
                    _ => Object::List(Vec::new()),
                });
                return Reply::Number(new_id.into());
            }
            Op::Shutdown => {
                self.shutdown = true;
                return Reply::Done;
            }
            _ => {}
        }
        let Some(object) = self.objects.get_mut(id as usize) else {
            return Reply::Refused(format!("no shared object {id}"));
        };
        match (op, object, body) {
            (Op::DictSet, Object::Dict { items, index }, &Body::KeyValue(key, value)) => {
                match index.get(key) {
                    Some(&at) => items[at].1 = value.into(),
                    None => {
                        let key: Bytes = key.into();
                        index.insert(Arc::clone(&key), items.len());
                        items.push((key, value.into()));
                    }
                }
                Reply::Done
            }
            (Op::DictGet, Object::Dict { items, index }, &Body::One(key)) => {
                Reply::Found(index.get(key).map(|&at| Arc::clone(&items[at].1)))
            }
            (Op::DictLen, Object::Dict { items, .. }, _) => Reply::Number(items.len() as u64),
            (Op::DictItems, Object::Dict { items, .. }, _) => Reply::Entries(items.clone()),
            (Op::ListAppend, Object::List(list), &Body::One(item)) => {
                list.push(item.into());
                Reply::Done
            }
            (Op::ListLen, Object::List(list), _) => Reply::Number(list.len() as u64),
            (Op::ListItems, Object::List(list), _) => Reply::Items(list.clone()),
            _ => Reply::Refused(format!("shared object {id} does not support {op:?}")),
        }
    }
}
