//! The proxies: typed handles of the objects that live in the server.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ipc_common::auth::AuthKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ManagerError;
use crate::client::{Client, Target, no_body};
use crate::protocol::Op;

/// A length, as a `usize`.
fn length(n: u64) -> Result<usize, ManagerError> {
    usize::try_from(n).map_err(|_| ManagerError::BadReply(format!("a length of {n}")))
}

/// A proxy of a dict that lives in the manager's server (Python's `DictProxy`).
///
/// Usable from any process that inherited it; each operation is one round trip to the server
/// and is atomic there. The dict keeps insertion order, as Python's does. Two keys are the
/// same key when their encodings ([`ipc_common::codec`]) are the same bytes: so `0.0` and
/// `-0.0` are different keys (unlike Python), while a NaN finds itself.
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
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct DictProxy<K, V> {
    client: Client,
    id: u32,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> DictProxy<K, V> {
    pub(crate) fn new(target: Arc<Target>, id: u32) -> Self {
        DictProxy {
            client: Client::new(target),
            id,
            _types: PhantomData,
        }
    }
}

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
        self.client.call(
            Op::DictSet,
            self.id,
            |body| body.key_value(key, value),
            |reply| reply.done(),
        )
    }

    /// The value of `key`, or `None` if it is absent (Python's `d.get(key)`).
    ///
    /// # Errors
    ///
    /// As for [`set`](DictProxy::set), and [`ManagerError::Decode`] for a value of another type.
    pub fn get(&self, key: &K) -> Result<Option<V>, ManagerError> {
        self.client.call(
            Op::DictGet,
            self.id,
            |body| body.value("key", key),
            |reply| match reply.found()? {
                true => reply.item().map(Some),
                false => Ok(None),
            },
        )
    }

    /// The number of entries (Python's `len(d)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn len(&self) -> Result<usize, ManagerError> {
        let n = self
            .client
            .call(Op::DictLen, self.id, no_body, |reply| reply.number())?;
        length(n)
    }

    /// Whether the dict is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// A snapshot of the entries in insertion order (Python's `dict(d)` or `d.items()`). It
    /// may be larger than the manager's limit: the entries arrive one by one.
    ///
    /// # Errors
    ///
    /// As for [`get`](DictProxy::get).
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        self.client.call(Op::DictItems, self.id, no_body, |reply| {
            reply.items(|reply| Ok((reply.item()?, reply.item()?)))
        })
    }
}

impl<K, V> Clone for DictProxy<K, V> {
    fn clone(&self) -> Self {
        DictProxy::new(Arc::clone(self.client.target()), self.id)
    }
}

impl<K, V> Serialize for DictProxy<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Reference::of(self.client.target(), self.id).serialize(serializer)
    }
}

impl<'de, K, V> Deserialize<'de> for DictProxy<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (target, id) = Reference::deserialize(deserializer)?.resolve()?;
        Ok(DictProxy::new(target, id))
    }
}

impl<K, V> fmt::Debug for DictProxy<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DictProxy")
            .field("address", &self.client.target().name)
            .field("id", &self.id)
            .finish()
    }
}

/// A proxy of a list that lives in the manager's server (Python's `ListProxy`).
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let l = manager.list::<(u8, String)>()?;
/// l.append(&(0, "进程0_项目0".into()))?;
/// assert_eq!(l.len()?, 1);
/// assert_eq!(l.to_vec()?, vec![(0, "进程0_项目0".to_string())]);
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct ListProxy<T> {
    client: Client,
    id: u32,
    _types: PhantomData<fn() -> T>,
}

impl<T> ListProxy<T> {
    pub(crate) fn new(target: Arc<Target>, id: u32) -> Self {
        ListProxy {
            client: Client::new(target),
            id,
            _types: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned + 'static> ListProxy<T> {
    /// Appends `item` (Python's `l.append(item)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended, [`ManagerError::Encode`] if the
    /// item cannot be encoded, [`ManagerError::TooLarge`] if it is larger than the manager's
    /// limit (nothing is sent then).
    pub fn append(&self, item: &T) -> Result<(), ManagerError> {
        self.client.call(
            Op::ListAppend,
            self.id,
            |body| body.value("item", item),
            |reply| reply.done(),
        )
    }

    /// The number of items (Python's `len(l)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended.
    pub fn len(&self) -> Result<usize, ManagerError> {
        let n = self
            .client
            .call(Op::ListLen, self.id, no_body, |reply| reply.number())?;
        length(n)
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
        self.client.call(Op::ListItems, self.id, no_body, |reply| {
            reply.items(|reply| reply.item())
        })
    }
}

impl<T> Clone for ListProxy<T> {
    fn clone(&self) -> Self {
        ListProxy::new(Arc::clone(self.client.target()), self.id)
    }
}

impl<T> Serialize for ListProxy<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Reference::of(self.client.target(), self.id).serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for ListProxy<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (target, id) = Reference::deserialize(deserializer)?.resolve()?;
        Ok(ListProxy::new(target, id))
    }
}

impl<T> fmt::Debug for ListProxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListProxy")
            .field("address", &self.client.target().name)
            .field("id", &self.id)
            .finish()
    }
}

/// A proxy as it travels to another process (Python's `RebuildProxy` arguments): the server's
/// address, the object's id, the size limit, and the authkey only while the proxy is an
/// argument of a process start; elsewhere (a proxy put in a queue) the receiver uses its own
/// process's key, as in Python.
#[derive(Serialize, Deserialize)]
struct Reference {
    address: String,
    id: u32,
    max: u64,
    #[serde(with = "serde_bytes")]
    authkey: Option<Vec<u8>>,
}

impl Reference {
    fn of(target: &Target, id: u32) -> Reference {
        Reference {
            address: target.name.clone(),
            id,
            max: target.max as u64,
            authkey: ipc_common::share::within_process_start()
                .then(|| target.key.as_bytes().to_vec()),
        }
    }

    fn resolve<E: serde::de::Error>(self) -> Result<(Arc<Target>, u32), E> {
        let key = match self.authkey {
            Some(bytes) => AuthKey::new(bytes),
            None => ipc_common::auth::authkey().map_err(E::custom)?,
        };
        let target = Target {
            name: self.address,
            key,
            max: usize::try_from(self.max).map_err(E::custom)?,
        };
        Ok((Arc::new(target), self.id))
    }
}
