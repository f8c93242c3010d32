//! Python's `DictProxy`.

use std::borrow::Borrow;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Handle, Proxy, proxy_impls};
use crate::ManagerError;
use crate::client::no_body;
use crate::protocol::{Kind, Op};

/// A proxy of a dict that lives in the manager's server (Python's `DictProxy`, made by
/// [`Factory::dict`](crate::Factory::dict)).
///
/// Usable from any process that has it (inherited, or passed as an argument of a process
/// start); each operation is one round trip to the server and is atomic there. The dict keeps
/// insertion order, as Python's does. Two keys are the same key when their encodings
/// ([`ipc_common::codec`]) are the same bytes: so `0.0` and `-0.0` are different keys (unlike
/// Python), while a NaN finds itself. A missing key is Python's `KeyError`:
/// [`ManagerError::KeyNotFound`].
///
/// Values may be proxies themselves (a dict of lists): the dict then holds a reference to the
/// inner object, and getting it back yields a proxy of it, as in Python.
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let d = manager.dict::<String, i64>()?;
/// d.set(&"b".into(), &2)?;
/// d.set(&"a".into(), &1)?;
/// d.set(&"b".into(), &3)?; // replaces the value, keeps the position
/// assert_eq!(d.items()?, vec![("b".to_string(), 3), ("a".to_string(), 1)]);
/// assert_eq!(d.get(&"zzz".into())?, None);
/// assert!(d.contains(&"a".into())?); // Python's `"a" in d`
/// assert_eq!(d.setdefault(&"c".into(), &0)?, 0);
/// assert_eq!(d.popitem()?, ("c".to_string(), 0)); // the newest entry
/// d.del_item(&"a".into())?; // Python's `del d["a"]`
/// assert!(matches!(d.pop(&"a".into()), Err(manager::ManagerError::KeyNotFound(_))));
/// for (key, value) in d.iter()? {
///     assert_eq!((key.as_str(), value), ("b", 3));
/// }
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct DictProxy<K, V> {
    handle: Handle,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Proxy for DictProxy<K, V> {
    const KINDS: &'static [Kind] = &[Kind::Dict];

    fn handle(&self) -> &Handle {
        &self.handle
    }

    fn from_handle(handle: Handle) -> Self {
        DictProxy {
            handle,
            _types: PhantomData,
        }
    }
}

proxy_impls!(DictProxy<K, V>);

impl<K, V> DictProxy<K, V>
where
    K: Serialize + DeserializeOwned + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// Sets `key` to `value` (Python's `d[key] = value`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended, [`ManagerError::Encode`] if the
    /// key or value cannot be encoded, [`ManagerError::TooLarge`] if either is larger than
    /// the manager's limit (nothing is sent then).
    pub fn set(&self, key: &K, value: &V) -> Result<(), ManagerError> {
        self.handle.call(
            Op::DictSet,
            |body| {
                body.value("key", key)?;
                body.value("value", value)
            },
            |reply| reply.done(),
        )
    }

    /// The value of `key`, or `None` if it is absent (Python's `d.get(key)`).
    ///
    /// # Errors
    ///
    /// As for [`set`](DictProxy::set), and [`ManagerError::Decode`] for a value of another
    /// type.
    pub fn get(&self, key: &K) -> Result<Option<V>, ManagerError> {
        self.with_key(Op::DictGet, key)
    }

    /// Whether the dict has `key` (Python's `key in d`).
    ///
    /// # Errors
    ///
    /// As for [`set`](DictProxy::set).
    pub fn contains(&self, key: &K) -> Result<bool, ManagerError> {
        self.handle.call(
            Op::DictContains,
            |body| body.value("key", key),
            |reply| reply.flag(),
        )
    }

    /// Removes `key` (Python's `del d[key]`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::KeyNotFound`] if it is absent; otherwise as for [`set`](DictProxy::set).
    pub fn del_item(&self, key: &K) -> Result<(), ManagerError> {
        self.handle.call(
            Op::DictDel,
            |body| body.value("key", key),
            |reply| reply.done(),
        )
    }

    /// Removes `key` and returns its value (Python's `d.pop(key)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::KeyNotFound`] if it is absent; otherwise as for [`get`](DictProxy::get).
    pub fn pop(&self, key: &K) -> Result<V, ManagerError> {
        self.with_key(Op::DictPop, key)?
            .ok_or_else(|| ManagerError::KeyNotFound("the dict has no such key".into()))
    }

    /// Removes `key` and returns its value, or `default` if it is absent (Python's
    /// `d.pop(key, default)`).
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn pop_or(&self, key: &K, default: V) -> Result<V, ManagerError> {
        Ok(self.with_key(Op::DictPop, key)?.unwrap_or(default))
    }

    /// Removes and returns the newest entry (Python's `d.popitem()`, last in, first out).
    ///
    /// # Errors
    ///
    /// [`ManagerError::KeyNotFound`] if the dict is empty; otherwise as for
    /// [`get`](DictProxy::get).
    pub fn popitem(&self) -> Result<(K, V), ManagerError> {
        let mut entries = self.handle.call(Op::DictPopItem, no_body, |reply| {
            reply.items(|reply| Ok((reply.item()?, reply.item()?)))
        })?;
        entries
            .pop()
            .ok_or_else(|| ManagerError::BadReply("popitem without an entry".into()))
    }

    /// The value of `key`; if it is absent, sets it to `default` first (Python's
    /// `d.setdefault(key, default)`).
    ///
    /// # Errors
    ///
    /// As for [`set`](DictProxy::set) and [`get`](DictProxy::get).
    pub fn setdefault(&self, key: &K, default: &V) -> Result<V, ManagerError> {
        let found = self.handle.call(
            Op::DictSetDefault,
            |body| {
                body.value("key", key)?;
                body.value("value", default)
            },
            |reply| reply.found(),
        )?;
        found.ok_or_else(|| ManagerError::BadReply("setdefault without a value".into()))
    }

    /// Sets every key of `entries` to its value, in one atomic step (Python's
    /// `d.update(entries)`). Owned pairs and pairs of references both do.
    ///
    /// # Errors
    ///
    /// As for [`set`](DictProxy::set); nothing is changed if any entry cannot be sent.
    pub fn update<KB: Borrow<K>, VB: Borrow<V>>(
        &self,
        entries: impl IntoIterator<Item = (KB, VB)>,
    ) -> Result<(), ManagerError> {
        self.handle.call(
            Op::DictUpdate,
            |body| {
                body.sequence()?;
                entries.into_iter().try_for_each(|(key, value)| {
                    body.value("key", key.borrow())?;
                    body.value("value", value.borrow())
                })
            },
            |reply| reply.done(),
        )
    }

    /// Removes every entry (Python's `d.clear()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::DictClear, no_body, |reply| reply.done())
    }

    /// The number of entries (Python's `len(d)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.handle
            .call(Op::DictLen, no_body, |reply| reply.length())
    }

    /// Whether the dict is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// A snapshot of the entries in insertion order (Python's `d.items()`). It may be larger
    /// than the manager's limit: the entries arrive one by one.
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.handle.call(Op::DictItems, no_body, |reply| {
            reply.items(|reply| Ok((reply.item()?, reply.item()?)))
        })
    }

    /// A snapshot of the keys in insertion order (Python's `d.keys()`, or `list(d)`).
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        self.handle.call(Op::DictKeys, no_body, |reply| {
            reply.items(|reply| reply.item())
        })
    }

    /// A snapshot of the values in insertion order (Python's `d.values()`).
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        self.handle.call(Op::DictValues, no_body, |reply| {
            reply.items(|reply| reply.item())
        })
    }

    /// A plain copy of the dict, its entries in insertion order (Python's `d.copy()`, a plain
    /// `dict`); collect it into any map.
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn copy(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.items()
    }

    /// An iterator over a snapshot of the entries (Python iterates a dict's keys: iterate
    /// [`keys`](DictProxy::keys) for that). Changes made after the snapshot are not seen.
    ///
    /// # Errors
    ///
    /// As for [`items`](DictProxy::items).
    pub fn iter(&self) -> Result<std::vec::IntoIter<(K, V)>, ManagerError> {
        Ok(self.items()?.into_iter())
    }

    /// A request about one key whose reply may carry a value.
    fn with_key(&self, op: Op, key: &K) -> Result<Option<V>, ManagerError> {
        self.handle
            .call(op, |body| body.value("key", key), |reply| reply.found())
    }
}
