//! Python's `ListProxy`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::marker::PhantomData;
use std::ops::RangeBounds;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Handle, Proxy, proxy_impls, slice_of};
use crate::ManagerError;
use crate::client::no_body;
use crate::protocol::{Kind, Op};

/// A proxy of a list that lives in the manager's server (Python's `ListProxy`, made by
/// [`Factory::list`](crate::Factory::list)).
///
/// Indices are Python's: `i64`, negative ones counting from the end, an index out of range
/// is Python's `IndexError` ([`ManagerError::IndexOutOfRange`]). Slices are ranges of such
/// indices (`l.get_slice(-3..)` is Python's `l[-3:]`), clamped to the list as Python's are
/// (steps are not supported). Items are compared by their encodings ([`ipc_common::codec`])
/// in `remove`, `index`, `count` and `contains`; ordering needs the items' type, so
/// [`sort_by`](ListProxy::sort_by) sorts on the client and keeps the result only if nobody
/// changed the list meanwhile.
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let l = manager.list_from([3, 1, 2])?;
/// l.append(&0)?;
/// assert_eq!(l.get(-1)?, 0); // Python's l[-1]
/// assert_eq!(l.get_slice(1..3)?, [1, 2]); // l[1:3]
/// l.insert(100, &9)?; // clamped: appended, as in Python
/// l.sort()?;
/// assert_eq!(l.to_vec()?, [0, 1, 2, 3, 9]);
/// assert_eq!(l.pop()?, 9);
/// l.repeat_in_place(2)?; // l *= 2
/// assert_eq!(l.count(&0)?, 2);
/// assert!(matches!(l.get(8), Err(manager::ManagerError::IndexOutOfRange(_))));
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct ListProxy<T> {
    handle: Handle,
    _types: PhantomData<fn() -> T>,
}

impl<T> Proxy for ListProxy<T> {
    const KINDS: &'static [Kind] = &[Kind::List];

    fn handle(&self) -> &Handle {
        &self.handle
    }

    fn from_handle(handle: Handle) -> Self {
        ListProxy {
            handle,
            _types: PhantomData,
        }
    }
}

proxy_impls!(ListProxy<T>);

impl<T: Serialize + DeserializeOwned + 'static> ListProxy<T> {
    /// Appends `item` (Python's `l.append(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended, [`ManagerError::Encode`] if the
    /// item cannot be encoded, [`ManagerError::TooLarge`] if it is larger than the manager's
    /// limit (nothing is sent then).
    pub fn append(&self, item: &T) -> Result<(), ManagerError> {
        self.with_item(Op::ListAppend, item, |reply| reply.done())
    }

    /// The item at `index` (Python's `l[index]`; negative: from the end).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`]; [`ManagerError::Decode`] for an item of another
    /// type; [`ManagerError::ServerGone`].
    pub fn get(&self, index: i64) -> Result<T, ManagerError> {
        let found =
            self.handle
                .call(Op::ListGet, |body| body.index(index), |reply| reply.found())?;
        found.ok_or_else(|| ManagerError::BadReply("an index without its item".into()))
    }

    /// Replaces the item at `index` (Python's `l[index] = item`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`]; otherwise as for [`append`](ListProxy::append).
    pub fn set(&self, index: i64, item: &T) -> Result<(), ManagerError> {
        self.handle.call(
            Op::ListSet,
            |body| {
                body.index(index)?;
                body.value("item", item)
            },
            |reply| reply.done(),
        )
    }

    /// The items of a slice (Python's `l[start:end]`: `l.get_slice(1..3)`, `l.get_slice(-2..)`,
    /// `l.get_slice(..)`), clamped to the list.
    ///
    /// # Errors
    ///
    /// As for [`to_vec`](ListProxy::to_vec).
    pub fn get_slice(&self, range: impl RangeBounds<i64>) -> Result<Vec<T>, ManagerError> {
        let (start, end) = slice_of(&range);
        self.handle.call(
            Op::ListGetSlice,
            |body| {
                body.optional_index(start)?;
                body.optional_index(end)
            },
            |reply| reply.items(|reply| reply.item()),
        )
    }

    /// Replaces a slice with `items`, of any number (Python's `l[start:end] = items`; an
    /// empty slice inserts, no items deletes). Owned items and references both do.
    ///
    /// # Errors
    ///
    /// As for [`append`](ListProxy::append); nothing is changed if any item cannot be sent.
    pub fn set_slice<B: Borrow<T>>(
        &self,
        range: impl RangeBounds<i64>,
        items: impl IntoIterator<Item = B>,
    ) -> Result<(), ManagerError> {
        let (start, end) = slice_of(&range);
        self.handle.call(
            Op::ListSetSlice,
            |body| {
                body.optional_index(start)?;
                body.optional_index(end)?;
                body.sequence()?;
                body.values::<T>("item", items)
            },
            |reply| reply.done(),
        )
    }

    /// Removes a slice (Python's `del l[start:end]`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn del_slice(&self, range: impl RangeBounds<i64>) -> Result<(), ManagerError> {
        self.set_slice(range, std::iter::empty::<T>())
    }

    /// Removes every item (Python's `del l[:]`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.del_slice(..)
    }

    /// Appends `items`, in one atomic step (Python's `l.extend(items)`).
    ///
    /// # Errors
    ///
    /// As for [`append`](ListProxy::append); nothing is changed if any item cannot be sent.
    pub fn extend<B: Borrow<T>>(
        &self,
        items: impl IntoIterator<Item = B>,
    ) -> Result<(), ManagerError> {
        self.handle.call(
            Op::ListExtend,
            |body| {
                body.sequence()?;
                body.values::<T>("item", items)
            },
            |reply| reply.done(),
        )
    }

    /// Inserts `item` before `index` (Python's `l.insert(index, item)`): an index past the
    /// end appends, one before the start (negative, after counting from the end) prepends.
    ///
    /// # Errors
    ///
    /// As for [`append`](ListProxy::append).
    pub fn insert(&self, index: i64, item: &T) -> Result<(), ManagerError> {
        self.handle.call(
            Op::ListInsert,
            |body| {
                body.index(index)?;
                body.value("item", item)
            },
            |reply| reply.done(),
        )
    }

    /// Removes and returns the last item (Python's `l.pop()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`] if the list is empty; otherwise as for
    /// [`get`](ListProxy::get).
    pub fn pop(&self) -> Result<T, ManagerError> {
        self.pop_index(None)
    }

    /// Removes and returns the item at `index` (Python's `l.pop(index)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::IndexOutOfRange`]; otherwise as for [`get`](ListProxy::get).
    pub fn pop_at(&self, index: i64) -> Result<T, ManagerError> {
        self.pop_index(Some(index))
    }

    fn pop_index(&self, index: Option<i64>) -> Result<T, ManagerError> {
        let found = self.handle.call(
            Op::ListPop,
            |body| body.optional_index(index),
            |reply| reply.found(),
        )?;
        found.ok_or_else(|| ManagerError::BadReply("pop without an item".into()))
    }

    /// Removes the first item equal to `item` (Python's `l.remove(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotInList`] if there is none; otherwise as for
    /// [`append`](ListProxy::append).
    pub fn remove(&self, item: &T) -> Result<(), ManagerError> {
        self.with_item(Op::ListRemove, item, |reply| reply.done())
    }

    /// The position of the first item equal to `item` (Python's `l.index(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotInList`] if there is none; otherwise as for
    /// [`append`](ListProxy::append).
    pub fn index(&self, item: &T) -> Result<usize, ManagerError> {
        self.with_item(Op::ListIndex, item, |reply| reply.length())
    }

    /// How many items are equal to `item` (Python's `l.count(item)`).
    ///
    /// # Errors
    ///
    /// As for [`append`](ListProxy::append).
    pub fn count(&self, item: &T) -> Result<usize, ManagerError> {
        self.with_item(Op::ListCount, item, |reply| reply.length())
    }

    /// Whether an item is equal to `item` (Python's `item in l`).
    ///
    /// # Errors
    ///
    /// As for [`append`](ListProxy::append).
    pub fn contains(&self, item: &T) -> Result<bool, ManagerError> {
        self.with_item(Op::ListContains, item, |reply| reply.flag())
    }

    /// Reverses the list in place (Python's `l.reverse()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn reverse(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::ListReverse, no_body, |reply| reply.done())
    }

    /// Repeats the list in place `n` times (Python's `l *= n`; `n <= 0` empties it).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NoMemory`] if the server cannot hold the result (the list is then
    /// unchanged); [`ManagerError::ServerGone`].
    pub fn repeat_in_place(&self, n: i64) -> Result<(), ManagerError> {
        self.handle
            .call(Op::ListRepeat, |body| body.index(n), |reply| reply.done())
    }

    /// Sorts the list in place, stably, by `T`'s order (Python's `l.sort()`). See
    /// [`sort_by`](ListProxy::sort_by).
    ///
    /// # Errors
    ///
    /// As for [`sort_by`](ListProxy::sort_by).
    pub fn sort(&self) -> Result<(), ManagerError>
    where
        T: Ord,
    {
        self.sort_by(T::cmp)
    }

    /// Sorts the list in place, stably, by a key (Python's `l.sort(key=f)`).
    ///
    /// # Errors
    ///
    /// As for [`sort_by`](ListProxy::sort_by).
    pub fn sort_by_key<O: Ord>(&self, mut key: impl FnMut(&T) -> O) -> Result<(), ManagerError> {
        self.sort_by(|a, b| key(a).cmp(&key(b)))
    }

    /// Sorts the list in place, stably, by `compare` (Python's `l.sort(key=cmp_to_key(f))`;
    /// `sort_by(|a, b| b.cmp(a))` is `l.sort(reverse=True)`).
    ///
    /// The server keeps items as bytes and cannot compare them, so the list is sorted here:
    /// this takes a snapshot of the list with its version (a count of its changes), sorts the
    /// snapshot, and sends the order back as a permutation, which the server applies only if
    /// the list is still at that version. If another client changed the list meanwhile,
    /// it starts again. The sort is therefore atomic with respect to every other operation,
    /// as Python's (done in the server) is: nothing added meanwhile is lost, nothing removed
    /// comes back. A list that others change without pause may make it start many times.
    ///
    /// # Errors
    ///
    /// As for [`to_vec`](ListProxy::to_vec).
    pub fn sort_by(&self, mut compare: impl FnMut(&T, &T) -> Ordering) -> Result<(), ManagerError> {
        let max = self.handle.client.target().max;
        loop {
            let (version, items) = self.handle.call(Op::ListVersioned, no_body, |reply| {
                let [version, count] = reply.numbers::<2>()?;
                Ok((version, reply.counted(count, |reply| reply.item::<T>())?))
            })?;
            let mut order: Vec<usize> = (0..items.len()).collect();
            order.sort_by(|&a, &b| compare(&items[a], &items[b]));
            // The positions, 8 bytes each, in runs that each fit the limit.
            let applied = self.handle.call(
                Op::ListPermute,
                |body| {
                    body.number(version)?;
                    body.sequence()?;
                    for run in order.chunks((max / 8).max(1)) {
                        let bytes: Vec<u8> =
                            run.iter().flat_map(|&i| (i as u64).to_be_bytes()).collect();
                        body.bytes("positions", &bytes)?;
                    }
                    Ok(())
                },
                |reply| reply.flag(),
            )?;
            if applied {
                return Ok(());
            }
        }
    }

    /// The number of items (Python's `len(l)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.handle
            .call(Op::ListLen, no_body, |reply| reply.length())
    }

    /// Whether the list is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// A snapshot of the items, in order (Python's `list(l)`). It may be larger than the
    /// manager's limit: the items arrive one by one.
    ///
    /// # Errors
    ///
    /// As for [`len`](ListProxy::len), and [`ManagerError::Decode`] for items of another type.
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.handle.call(Op::ListItems, no_body, |reply| {
            reply.items(|reply| reply.item())
        })
    }

    /// An iterator over a snapshot of the items (Python's `for x in l`). Changes made after
    /// the snapshot are not seen.
    ///
    /// # Errors
    ///
    /// As for [`to_vec`](ListProxy::to_vec).
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>, ManagerError> {
        Ok(self.to_vec()?.into_iter())
    }

    /// A request about one item.
    fn with_item<R>(
        &self,
        op: Op,
        item: &T,
        reply: impl FnOnce(&mut crate::client::Reply<'_>) -> Result<R, ManagerError>,
    ) -> Result<R, ManagerError> {
        self.handle.call(op, |body| body.value("item", item), reply)
    }
}
