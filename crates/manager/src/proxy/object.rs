//! The proxy of an object of a registered type: Python's `AutoProxy` and its `_callmethod`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Handle, Proxy, proxy_impls};
use crate::ManagerError;
use crate::protocol::{Kind, Op};

/// A proxy of an object of a registered type (see [`SharedType`](crate::SharedType); made by
/// [`Factory::create`](crate::Factory::create)): its methods are called by name, with
/// arguments and result of the types the method takes and gives (Python's
/// `proxy._callmethod(name, args)`, which `AutoProxy` wraps as methods).
///
/// To give it methods, wrap it in a type of your own:
///
/// ```
/// # use manager::{Call, CallError, SharedType};
/// # struct Counter(i64);
/// # impl SharedType for Counter {
/// #     const TYPEID: &'static str = "Counter";
/// #     type Args = i64;
/// #     fn new(start: i64) -> Result<Self, CallError> { Ok(Counter(start)) }
/// #     fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError> {
/// #         match call.method() {
/// #             "add" => { self.0 += call.args::<i64>()?; call.reply(&self.0) }
/// #             _ => Err(call.no_such_method()),
/// #         }
/// #     }
/// # }
/// use manager::{ManagerError, ObjectProxy};
///
/// /// The client side of a `Counter` (Python's proxy class with `exposed = ("add",)`).
/// struct CounterProxy(ObjectProxy);
///
/// impl CounterProxy {
///     fn add(&self, n: i64) -> Result<i64, ManagerError> {
///         self.0.call("add", &n)
///     }
/// }
///
/// let manager = manager::Manager::builder().register::<Counter>().start()?;
/// let counter = CounterProxy(manager.create::<Counter>(&0)?);
/// assert_eq!(counter.add(2)?, 2);
/// assert!(matches!(counter.0.call::<(), ()>("reset", &()), Err(ManagerError::NoAttribute(_))));
/// # Ok::<(), ManagerError>(())
/// ```
pub struct ObjectProxy {
    handle: Handle,
}

impl Proxy for ObjectProxy {
    const KINDS: &'static [Kind] = &[Kind::Object];

    fn handle(&self) -> &Handle {
        &self.handle
    }

    fn from_handle(handle: Handle) -> Self {
        ObjectProxy { handle }
    }
}

proxy_impls!(ObjectProxy);

impl ObjectProxy {
    /// The object's type id ([`SharedType::TYPEID`](crate::SharedType::TYPEID)).
    pub fn typeid(&self) -> &str {
        self.handle.typeid.as_deref().unwrap_or_default()
    }

    /// Calls the method `method` with `args`, and decodes its result as `R` (Python's
    /// `_callmethod(method, args)`). The method runs in the server, alone on its object.
    ///
    /// # Errors
    ///
    /// [`ManagerError::NoAttribute`] if the type has no such method;
    /// [`ManagerError::Method`] if it failed (its arguments not of its type, say);
    /// [`ManagerError::Decode`] if its result is not an `R`; [`ManagerError::Encode`] or
    /// [`ManagerError::TooLarge`] for arguments that cannot be sent;
    /// [`ManagerError::ServerGone`].
    pub fn call<A, R>(&self, method: &str, args: &A) -> Result<R, ManagerError>
    where
        A: Serialize + 'static,
        R: DeserializeOwned + 'static,
    {
        let found = self.handle.call(
            Op::Call,
            |body| {
                body.bytes("method name", method.as_bytes())?;
                body.value("arguments", args)
            },
            |reply| reply.found(),
        )?;
        found.ok_or_else(|| ManagerError::BadReply("a call without its result".into()))
    }
}
