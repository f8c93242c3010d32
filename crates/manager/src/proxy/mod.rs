//! The proxies: typed handles of the objects that live in the server.
//!
//! Every proxy holds the same [`Handle`]: the server it talks to (through this thread's
//! connection, see `client.rs`), its object's id and kind. Proxies are `Send` and `Sync`,
//! cheap to clone (a clone refers to the same object), and serialize as references (see
//! [`reference`]): as arguments of a process start, or stored in another shared object.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::time::Duration;

use crate::ManagerError;
use crate::client::{Body, Client, Reply};
use crate::protocol::{Kind, Op};

mod dict;
mod list;
mod namespace;
mod object;
mod queue;
pub(crate) mod reference;
mod sync;
mod value;

pub use dict::DictProxy;
pub use list::ListProxy;
pub use namespace::NamespaceProxy;
pub use object::ObjectProxy;
pub use queue::QueueProxy;
pub use sync::{
    Acquired, BarrierProxy, ConditionLock, ConditionProxy, EventProxy, LockProxy, RLockProxy,
    SemaphoreProxy,
};
pub use value::{ArrayProxy, ValueProxy};

/// What every proxy holds.
#[derive(Clone)]
pub(crate) struct Handle {
    pub(crate) client: Client,
    pub(crate) id: u32,
    pub(crate) kind: Kind,
    /// The type's id, for an object of a registered type.
    pub(crate) typeid: Option<Arc<str>>,
}

impl Handle {
    /// One request on this object.
    pub(crate) fn call<T>(
        &self,
        op: Op,
        body: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        self.client.call(op, self.id, body, reply)
    }

    /// One request on this object that may wait in the server up to `timeout` (`None`: for
    /// ever).
    pub(crate) fn call_waiting<T>(
        &self,
        op: Op,
        timeout: Option<Duration>,
        body: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
        reply: impl FnOnce(&mut Reply<'_>) -> Result<T, ManagerError>,
    ) -> Result<T, ManagerError> {
        self.client.call_waiting(op, self.id, timeout, body, reply)
    }

    /// A request whose one field is a timeout, that may wait up to it in the server and
    /// answers yes or no (acquired, notified, set, done).
    pub(crate) fn wait_flag(
        &self,
        op: Op,
        timeout: Option<Duration>,
    ) -> Result<bool, ManagerError> {
        self.call_waiting(
            op,
            timeout,
            |body| body.timeout(timeout),
            |reply| reply.flag(),
        )
    }

    fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct(name);
        s.field("address", &self.client.target().address)
            .field("id", &self.id);
        if let Some(typeid) = &self.typeid {
            s.field("typeid", typeid);
        }
        s.finish()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_as("Handle", f)
    }
}

/// What the macro below needs of a proxy type.
pub(crate) trait Proxy: Sized {
    /// The kinds of object it may refer to (the first names it).
    const KINDS: &'static [Kind];
    fn handle(&self) -> &Handle;
    fn from_handle(handle: Handle) -> Self;
}

/// `Clone` (a proxy of the same object), `Serialize` and `Deserialize` (as a reference),
/// `Debug` (its address and id) for a proxy type.
macro_rules! proxy_impls {
    ($name:ident $(<$($t:ident),+>)?) => {
        impl$(<$($t),+>)? Clone for $name$(<$($t),+>)? {
            fn clone(&self) -> Self {
                <Self as $crate::proxy::Proxy>::from_handle(
                    $crate::proxy::Proxy::handle(self).clone(),
                )
            }
        }

        impl$(<$($t),+>)? serde::Serialize for $name$(<$($t),+>)? {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::proxy::reference::serialize($crate::proxy::Proxy::handle(self), serializer)
            }
        }

        impl<'de $(, $($t),+)?> serde::Deserialize<'de> for $name$(<$($t),+>)? {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::proxy::reference::deserialize(
                    deserializer,
                    <Self as $crate::proxy::Proxy>::KINDS,
                )
                .map(<Self as $crate::proxy::Proxy>::from_handle)
            }
        }

        impl$(<$($t),+>)? std::fmt::Debug for $name$(<$($t),+>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::proxy::Proxy::handle(self).fmt_as(stringify!($name), f)
            }
        }
    };
}
pub(crate) use proxy_impls;

/// A range of indices as a Python slice's start and end (`None`: the list's start or end).
/// An inclusive end `..=e` is `[:e+1]`, and `..=-1` runs to the end.
pub(crate) fn slice_of(range: &impl RangeBounds<i64>) -> (Option<i64>, Option<i64>) {
    let start = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => s.checked_add(1),
        Bound::Unbounded => None,
    };
    let end = match range.end_bound() {
        Bound::Excluded(&e) => Some(e),
        Bound::Included(&-1) | Bound::Unbounded => None,
        Bound::Included(&e) => e.checked_add(1),
    };
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::slice_of;

    #[test]
    fn ranges_are_python_slices() {
        assert_eq!(slice_of(&(1..3)), (Some(1), Some(3)));
        assert_eq!(slice_of(&(-2..)), (Some(-2), None));
        assert_eq!(slice_of(&(..=-1)), (None, None));
        assert_eq!(slice_of(&(..=-2)), (None, Some(-1)));
        assert_eq!(slice_of(&(..)), (None, None));
        assert_eq!(slice_of(&(2..=4)), (Some(2), Some(5)));
    }
}
