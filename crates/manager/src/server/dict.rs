//! Shared dicts (and namespaces, dicts of attribute names): Python's dict, in insertion order,
//! keyed by the encoded bytes of the keys.
//!
//! As Python's own dict, entries sit in an array in insertion order, with an index from key to
//! position; a removed entry leaves a hole, and the array is compacted when holes outnumber
//! entries, so that every operation is O(1) on average and `popitem` takes the newest entry.

use std::collections::HashMap;
use std::sync::Arc;

use super::reply::{Reply, unsupported};
use super::request::{Bytes, End, Request};
use super::wait::Cell;
use crate::protocol::{ErrorKind, Op};

/// A dict in insertion order.
#[derive(Default)]
pub(super) struct Dict {
    /// The entries in insertion order; `None` where one was removed.
    entries: Vec<Option<(Bytes, Bytes)>>,
    /// Where each key's entry is.
    index: HashMap<Bytes, usize>,
}

impl Dict {
    /// A dict of `items`, alternately keys and values (a later key replaces an earlier one).
    pub(super) fn from_items(items: &[Bytes]) -> Dict {
        let mut dict = Dict::default();
        for pair in items.chunks_exact(2) {
            dict.set(&pair[0], Arc::clone(&pair[1]));
        }
        dict
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn get(&self, key: &[u8]) -> Option<&Bytes> {
        let at = *self.index.get(key)?;
        self.entries[at].as_ref().map(|(_, value)| value)
    }

    /// Sets `key` to `value`; a new key goes last, a known one keeps its place.
    fn set(&mut self, key: &[u8], value: Bytes) {
        match self.index.get(key) {
            Some(&at) => {
                if let Some(entry) = &mut self.entries[at] {
                    entry.1 = value;
                }
            }
            None => {
                let key: Bytes = key.into();
                self.index.insert(Arc::clone(&key), self.entries.len());
                self.entries.push(Some((key, value)));
            }
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<(Bytes, Bytes)> {
        let at = self.index.remove(key)?;
        let entry = self.entries[at].take();
        self.compact();
        entry
    }

    /// Removes the newest entry (Python's `popitem`, LIFO).
    fn pop_newest(&mut self) -> Option<(Bytes, Bytes)> {
        while let Some(last) = self.entries.pop() {
            if let Some((key, value)) = last {
                self.index.remove(&key);
                return Some((key, value));
            }
        }
        None
    }

    fn entries(&self) -> impl Iterator<Item = &(Bytes, Bytes)> {
        self.entries.iter().flatten()
    }

    /// Drops the holes once they outnumber the entries (and there are enough to bother).
    fn compact(&mut self) {
        let holes = self.entries.len() - self.len();
        if holes > 32 && holes > self.len() {
            self.entries.retain(Option::is_some);
            for (at, (key, _)) in self.entries.iter().flatten().enumerate() {
                if let Some(slot) = self.index.get_mut(key) {
                    *slot = at;
                }
            }
        }
    }
}

/// The error of a missing key.
fn no_key() -> Reply {
    Reply::Error(ErrorKind::Key, "the dict has no such key".into())
}

/// Applies a dict operation.
pub(super) fn apply(cell: &Cell<Dict>, request: &Request<'_>) -> Result<Reply, End> {
    let mut dict = cell.lock();
    let key = || request.field(0);
    Ok(match request.op {
        Op::DictSet => {
            dict.set(key()?, request.field(1)?.into());
            Reply::Done
        }
        Op::DictGet => Reply::Found(dict.get(key()?).cloned()),
        Op::DictPop => Reply::Found(dict.remove(key()?).map(|(_, value)| value)),
        Op::DictDel => match dict.remove(key()?) {
            Some(_) => Reply::Done,
            None => no_key(),
        },
        Op::DictContains => Reply::Flag(dict.get(key()?).is_some()),
        Op::DictLen => Reply::Number(dict.len() as u64),
        Op::DictItems => Reply::Entries(dict.entries().cloned().collect()),
        Op::DictKeys => Reply::Items(dict.entries().map(|(k, _)| Arc::clone(k)).collect()),
        Op::DictValues => Reply::Items(dict.entries().map(|(_, v)| Arc::clone(v)).collect()),
        Op::DictPopItem => match dict.pop_newest() {
            Some(entry) => Reply::Entries(vec![entry]),
            None => Reply::Error(ErrorKind::Key, "popitem(): dictionary is empty".into()),
        },
        Op::DictSetDefault => {
            let key = key()?;
            if dict.get(key).is_none() {
                dict.set(key, request.field(1)?.into());
            }
            Reply::Found(dict.get(key).cloned())
        }
        Op::DictUpdate => {
            if !request.items.len().is_multiple_of(2) {
                return Err(End);
            }
            for pair in request.items.chunks_exact(2) {
                dict.set(&pair[0], Arc::clone(&pair[1]));
            }
            Reply::Done
        }
        Op::DictClear => {
            *dict = Dict::default();
            Reply::Done
        }
        op => unsupported(op),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        s.as_bytes().into()
    }

    #[test]
    fn order_holes_and_compaction_keep_every_entry_findable() {
        let mut dict = Dict::default();
        for i in 0..200 {
            dict.set(format!("k{i}").as_bytes(), b(&i.to_string()));
        }
        for i in (0..200).filter(|i| i % 3 != 0) {
            assert!(dict.remove(format!("k{i}").as_bytes()).is_some());
        }
        assert_eq!(dict.len(), 67);
        for i in (0..200).step_by(3) {
            assert_eq!(
                dict.get(format!("k{i}").as_bytes()),
                Some(&b(&i.to_string()))
            );
        }
        let order: Vec<Bytes> = dict.entries().map(|(k, _)| Arc::clone(k)).collect();
        let expected: Vec<Bytes> = (0..200).step_by(3).map(|i| b(&format!("k{i}"))).collect();
        assert_eq!(order, expected);
        assert_eq!(dict.pop_newest().map(|e| e.0), Some(b("k198")));
        dict.set(b"k0", b("again"));
        assert_eq!(dict.entries().next().map(|e| &e.1), Some(&b("again")));
    }
}
