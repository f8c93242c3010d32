//! Python's `ValueProxy` and `ArrayProxy` (the manager's `Value` and `Array`): in the server
//! both are lists, of one item and of the array's items.

use std::ops::RangeBounds;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Handle, ListProxy, Proxy, proxy_impls};
use crate::ManagerError;
use crate::protocol::Kind;

/// A proxy of a single value that lives in the manager's server (Python's `ValueProxy`, made
/// by [`Factory::value`](crate::Factory::value): `manager.Value(typecode, value)`).
///
/// As in Python, it has no lock: each `get` and `set` is atomic, a read-modify-write is not
/// (use a [`LockProxy`](crate::LockProxy) around it).
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let v = manager.value(&1.5f64)?;
/// v.set(&(v.get()? * 2.0))?;
/// assert_eq!(v.get()?, 3.0);
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct ValueProxy<T> {
    list: ListProxy<T>,
}

impl<T> Proxy for ValueProxy<T> {
    const KINDS: &'static [Kind] = &[Kind::Value];

    fn handle(&self) -> &Handle {
        self.list.handle()
    }

    fn from_handle(handle: Handle) -> Self {
        ValueProxy {
            list: ListProxy::from_handle(handle),
        }
    }
}

proxy_impls!(ValueProxy<T>);

impl<T: Serialize + DeserializeOwned + 'static> ValueProxy<T> {
    /// The value (Python's `v.value` or `v.get()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`]; [`ManagerError::Decode`] for a value of another type.
    pub fn get(&self) -> Result<T, ManagerError> {
        self.list.get(0)
    }

    /// Replaces the value (Python's `v.value = x` or `v.set(x)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`]; [`ManagerError::Encode`] or [`ManagerError::TooLarge`]
    /// (nothing is sent then).
    pub fn set(&self, value: &T) -> Result<(), ManagerError> {
        self.list.set(0, value)
    }
}

/// A proxy of an array that lives in the manager's server (Python's `ArrayProxy`, made by
/// [`Factory::array`](crate::Factory::array): `manager.Array(typecode, sequence)`): its
/// length, and its items by index and by slice, with Python's indices.
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let a = manager.array([0i32; 4])?;
/// a.set(-1, &7)?;
/// a.set_slice(0..2, [1, 2])?;
/// assert_eq!(a.to_vec()?, [1, 2, 0, 7]);
/// assert_eq!(a.len()?, 4);
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct ArrayProxy<T> {
    list: ListProxy<T>,
}

impl<T> Proxy for ArrayProxy<T> {
    const KINDS: &'static [Kind] = &[Kind::Array];

    fn handle(&self) -> &Handle {
        self.list.handle()
    }

    fn from_handle(handle: Handle) -> Self {
        ArrayProxy {
            list: ListProxy::from_handle(handle),
        }
    }
}

proxy_impls!(ArrayProxy<T>);

impl<T: Serialize + DeserializeOwned + 'static> ArrayProxy<T> {
    /// The number of items (Python's `len(a)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn len(&self) -> Result<usize, ManagerError> {
        self.list.len()
    }

    /// Whether the array is empty.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        self.list.is_empty()
    }

    /// The item at `index` (Python's `a[index]`).
    ///
    /// # Errors
    ///
    /// As for [`ListProxy::get`].
    pub fn get(&self, index: i64) -> Result<T, ManagerError> {
        self.list.get(index)
    }

    /// Replaces the item at `index` (Python's `a[index] = x`).
    ///
    /// # Errors
    ///
    /// As for [`ListProxy::set`].
    pub fn set(&self, index: i64, item: &T) -> Result<(), ManagerError> {
        self.list.set(index, item)
    }

    /// The items of a slice (Python's `a[start:end]`).
    ///
    /// # Errors
    ///
    /// As for [`ListProxy::get_slice`].
    pub fn get_slice(&self, range: impl RangeBounds<i64>) -> Result<Vec<T>, ManagerError> {
        self.list.get_slice(range)
    }

    /// Replaces a slice (Python's `a[start:end] = items`; as Python's `array`, the array
    /// grows or shrinks when the numbers differ).
    ///
    /// # Errors
    ///
    /// As for [`ListProxy::set_slice`].
    pub fn set_slice<B: std::borrow::Borrow<T>>(
        &self,
        range: impl RangeBounds<i64>,
        items: impl IntoIterator<Item = B>,
    ) -> Result<(), ManagerError> {
        self.list.set_slice(range, items)
    }

    /// A snapshot of the items (Python's `a[:]`).
    ///
    /// # Errors
    ///
    /// As for [`ListProxy::to_vec`].
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        self.list.to_vec()
    }
}
