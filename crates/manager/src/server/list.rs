//! Shared lists (and arrays and values, which are lists): Python's list, with its indices,
//! slices and errors, over items kept as their encoded bytes.
//!
//! Items are compared as bytes (`remove`, `index`, `count`, `in`): two items are equal when
//! their encodings are. Ordering needs the items' type, which only clients know: `sort` is
//! done by the client on a snapshot taken with the list's *version* (a count of its changes),
//! and sent back as a permutation that the server applies only if the version is still the
//! same, so that a sort is atomic with respect to every other client's operations, as Python's
//! is (see `ListProxy::sort_by`).

use std::sync::Arc;

use super::reply::{Reply, unsupported};
use super::request::{Bytes, End, Request};
use super::wait::Cell;
use crate::protocol::{ErrorKind, Op};

/// A list and its version.
pub(super) struct List {
    items: Vec<Bytes>,
    /// Counts the changes, so that a client can tell whether the list changed since its
    /// snapshot.
    version: u64,
}

impl List {
    pub(super) fn new(items: Vec<Bytes>) -> List {
        List { items, version: 0 }
    }

    /// Marks a change.
    fn changed(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// The position of index `i` (negative: from the end), if it is in range.
    fn position(&self, i: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if i < 0 { i + len } else { i };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The positions a slice `[start:end]` covers, clamped to the list as Python's are
    /// (`None` is the list's start or end; an end before the start covers nothing).
    fn span(&self, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
        let len = self.items.len();
        let clamp = |i: i64| -> usize {
            if i < 0 {
                (i + len as i64).max(0) as usize
            } else {
                (i as u64).min(len as u64) as usize
            }
        };
        let start = start.map_or(0, clamp);
        let end = end.map_or(len, clamp).max(start);
        (start, end)
    }

    fn find(&self, item: &[u8]) -> Option<usize> {
        self.items.iter().position(|x| **x == *item)
    }
}

fn index_error(message: &str) -> Reply {
    Reply::Error(ErrorKind::Index, message.into())
}

/// Applies a list operation.
pub(super) fn apply(cell: &Cell<List>, request: &Request<'_>) -> Result<Reply, End> {
    let mut list = cell.lock();
    let reply = match request.op {
        Op::ListLen => return Ok(Reply::Number(list.items.len() as u64)),
        Op::ListItems => return Ok(Reply::Items(list.items.clone())),
        Op::ListVersioned => return Ok(Reply::Versioned(list.version, list.items.clone())),
        Op::ListGet => {
            return Ok(match list.position(request.index(0)?) {
                Some(at) => Reply::Found(Some(Arc::clone(&list.items[at]))),
                None => index_error("list index out of range"),
            });
        }
        Op::ListGetSlice => {
            let (start, end) = list.span(request.optional_index(0)?, request.optional_index(1)?);
            return Ok(Reply::Items(list.items[start..end].to_vec()));
        }
        Op::ListIndex => {
            return Ok(match list.find(request.field(0)?) {
                Some(at) => Reply::Number(at as u64),
                None => Reply::Error(ErrorKind::NotInList, "x is not in list".into()),
            });
        }
        Op::ListCount => {
            let item = request.field(0)?;
            return Ok(Reply::Number(
                list.items.iter().filter(|x| ***x == *item).count() as u64,
            ));
        }
        Op::ListContains => return Ok(Reply::Flag(list.find(request.field(0)?).is_some())),
        // The operations below change the list (when they succeed).
        Op::ListAppend => {
            list.items.push(request.field(0)?.into());
            Reply::Done
        }
        Op::ListSet => match list.position(request.index(0)?) {
            Some(at) => {
                list.items[at] = request.field(1)?.into();
                Reply::Done
            }
            None => return Ok(index_error("list assignment index out of range")),
        },
        Op::ListSetSlice => {
            let (start, end) = list.span(request.optional_index(0)?, request.optional_index(1)?);
            list.items.splice(start..end, request.items.iter().cloned());
            Reply::Done
        }
        Op::ListExtend => {
            list.items.extend(request.items.iter().cloned());
            Reply::Done
        }
        Op::ListInsert => {
            let len = list.items.len() as i64;
            let i = request.index(0)?;
            let at = if i < 0 { (i + len).max(0) } else { i.min(len) };
            list.items.insert(at as usize, request.field(1)?.into());
            Reply::Done
        }
        Op::ListPop => {
            if list.items.is_empty() {
                return Ok(index_error("pop from empty list"));
            }
            let at = match request.optional_index(0)? {
                None => Some(list.items.len() - 1),
                Some(i) => list.position(i),
            };
            match at {
                Some(at) => Reply::Found(Some(list.items.remove(at))),
                None => return Ok(index_error("pop index out of range")),
            }
        }
        Op::ListRemove => match list.find(request.field(0)?) {
            Some(at) => {
                list.items.remove(at);
                Reply::Done
            }
            None => {
                return Ok(Reply::Error(
                    ErrorKind::NotInList,
                    "list.remove(x): x not in list".into(),
                ));
            }
        },
        Op::ListReverse => {
            list.items.reverse();
            Reply::Done
        }
        Op::ListPermute => match permutation(request, list.items.len())? {
            Some(order) if request.number(0)? == list.version => {
                let old = std::mem::take(&mut list.items);
                list.items = order.into_iter().map(|i| Arc::clone(&old[i])).collect();
                Reply::Flag(true)
            }
            // The list changed since the client's snapshot (its length may have too).
            _ => return Ok(Reply::Flag(false)),
        },
        Op::ListRepeat => match repeat(&mut list.items, request.index(0)?) {
            Ok(()) => Reply::Done,
            Err(reply) => return Ok(reply),
        },
        op => return Ok(unsupported(op)),
    };
    list.changed();
    Ok(reply)
}

/// The permutation a `ListPermute` carries: its items are runs of 8-byte positions. `None`
/// if it is not a permutation of a list of `len` items (the list changed length since the
/// snapshot); a run that is not whole positions is not of the protocol.
fn permutation(request: &Request<'_>, len: usize) -> Result<Option<Vec<usize>>, End> {
    let mut order = Vec::with_capacity(len);
    let mut seen = vec![false; len];
    for run in &request.items {
        if !run.len().is_multiple_of(8) {
            return Err(End);
        }
        for chunk in run.chunks_exact(8) {
            let bytes: [u8; 8] = chunk.try_into().map_err(|_| End)?;
            let Ok(i) = usize::try_from(u64::from_be_bytes(bytes)) else {
                return Ok(None);
            };
            match seen.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => return Ok(None),
            }
            order.push(i);
        }
    }
    Ok((order.len() == len).then_some(order))
}

/// `items *= n` (Python's `l *= n`; `n <= 0` empties the list). A result too large to hold is
/// Python's `MemoryError`, with the list unchanged.
fn repeat(items: &mut Vec<Bytes>, n: i64) -> Result<(), Reply> {
    if n <= 0 || items.is_empty() {
        items.clear();
        return Ok(());
    }
    let no_memory = || {
        Reply::Error(
            ErrorKind::NoMemory,
            format!("cannot repeat the list {n} times"),
        )
    };
    let n = usize::try_from(n).map_err(|_| no_memory())?;
    let total = items.len().checked_mul(n).ok_or_else(no_memory)?;
    items
        .try_reserve_exact(total - items.len())
        .map_err(|_| no_memory())?;
    let once = items.len();
    for _ in 1..n {
        items.extend_from_within(..once);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: u8) -> List {
        List::new((0..n).map(|i| Bytes::from(vec![i])).collect())
    }

    #[test]
    fn indices_and_slices_follow_python() {
        let l = list(5);
        assert_eq!(l.position(-1), Some(4));
        assert_eq!(l.position(-5), Some(0));
        assert_eq!(l.position(-6), None);
        assert_eq!(l.position(5), None);
        // l[1:3], l[-2:], l[:-10], l[3:1], l[-100:100]
        assert_eq!(l.span(Some(1), Some(3)), (1, 3));
        assert_eq!(l.span(Some(-2), None), (3, 5));
        assert_eq!(l.span(None, Some(-10)), (0, 0));
        assert_eq!(l.span(Some(3), Some(1)), (3, 3));
        assert_eq!(l.span(Some(-100), Some(100)), (0, 5));
        assert_eq!(l.span(Some(i64::MIN), Some(i64::MAX)), (0, 5));
    }

    #[test]
    fn repeat_in_place_follows_python_and_refuses_what_cannot_fit() {
        let mut items = list(2).items;
        repeat(&mut items, 3).expect("repeat");
        assert_eq!(
            items.iter().map(|b| b[0]).collect::<Vec<_>>(),
            [0, 1, 0, 1, 0, 1]
        );
        assert!(repeat(&mut items, i64::MAX).is_err());
        assert_eq!(items.len(), 6, "unchanged after a MemoryError");
        repeat(&mut items, -1).expect("repeat");
        assert!(items.is_empty());
    }
}
