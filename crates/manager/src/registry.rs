//! Shared objects of your own types: Python's `BaseManager.register(typeid, callable)`.
//!
//! A type the server can hold implements [`SharedType`]: its type id, the arguments of its
//! constructor, and a method [`SharedType::call`] that dispatches a call by the method's name,
//! with arguments and result encoded by [`ipc_common::codec`] ([`Call`] decodes and encodes
//! them). The builder of the manager registers it
//! ([`ManagerBuilder::register`](crate::ManagerBuilder::register)), before the server starts:
//! the list of registered types is part of the builder's *type*, so the server's entry point is
//! a function made for that list, which travels to a spawned server like any process target
//! (by its place in the program image) and fills the server's table there. Any client then
//! creates objects of the type ([`Factory::create`](crate::Factory::create)) and calls their
//! methods through an [`ObjectProxy`](crate::ObjectProxy); a client needs the type only for
//! its id and its arguments' type (Python's `register(typeid)` without a callable).
//!
//! Methods run in the server, one at a time for each object (they take `&mut self`), so an
//! object needs no lock of its own; Python's server calls them from every client's thread at
//! once.

use std::collections::HashMap;

use ipc_common::codec::{self, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A type whose objects live in the manager's server (what Python's `register(typeid,
/// callable)` makes shared).
///
/// # Example
///
/// ```
/// use manager::{Call, CallError, Manager, SharedType};
///
/// /// A counter that lives in the server.
/// struct Counter(i64);
///
/// impl SharedType for Counter {
///     const TYPEID: &'static str = "Counter";
///     type Args = i64; // the starting value
///
///     fn new(start: i64) -> Result<Self, CallError> {
///         Ok(Counter(start))
///     }
///
///     fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError> {
///         match call.method() {
///             "add" => {
///                 let n: i64 = call.args()?;
///                 self.0 = self.0.checked_add(n).ok_or(CallError::failed("overflow"))?;
///                 call.reply(&self.0)
///             }
///             "get" => call.reply(&self.0),
///             _ => Err(call.no_such_method()),
///         }
///     }
/// }
///
/// let manager = Manager::builder().register::<Counter>().start()?;
/// let counter = manager.create::<Counter>(&10)?;
/// assert_eq!(counter.call::<i64, i64>("add", &5)?, 15);
/// assert_eq!(counter.call::<(), i64>("get", &())?, 15);
/// assert!(counter.call::<i64, i64>("add", &i64::MAX).is_err()); // the method's own error
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub trait SharedType: Send + Sized + 'static {
    /// The type's name, by which clients create its objects (Python's `typeid`).
    const TYPEID: &'static str;
    /// What the constructor takes (Python's arguments of `manager.typeid(...)`).
    type Args: Serialize + DeserializeOwned + 'static;

    /// Makes an object in the server (Python's `callable`).
    ///
    /// # Errors
    ///
    /// Any [`CallError`]; the client gets [`ManagerError::Method`](crate::ManagerError::Method).
    fn new(args: Self::Args) -> Result<Self, CallError>;

    /// Runs the method `call` names (Python's `_callmethod`): decode its arguments with
    /// [`Call::args`], give its result with [`Call::reply`] (a method that gives none returns
    /// `()`). A method that panics fails its call only
    /// ([`ManagerError::Method`](crate::ManagerError::Method)); the server reports the panic
    /// on its stderr and goes on.
    ///
    /// # Errors
    ///
    /// [`Call::no_such_method`] for a method the type does not have (the client gets
    /// [`ManagerError::NoAttribute`](crate::ManagerError::NoAttribute)); any other
    /// [`CallError`] (the client gets [`ManagerError::Method`](crate::ManagerError::Method)).
    fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError>;
}

/// One method call on a shared object: the method's name, its arguments, and room for its
/// result.
#[derive(Debug)]
pub struct Call<'a> {
    method: &'a str,
    args: &'a [u8],
    result: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: &'a str, args: &'a [u8]) -> Call<'a> {
        Call {
            method,
            args,
            result: None,
        }
    }

    /// The method's name.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The arguments, decoded as `A` (the type the client sent them as).
    ///
    /// # Errors
    ///
    /// [`CallError::Args`] if they are not an `A`.
    pub fn args<A: DeserializeOwned + 'static>(&self) -> Result<A, CallError> {
        codec::decode(self.args).map_err(CallError::Args)
    }

    /// Gives the method's result (the client decodes it as the type it expects).
    ///
    /// # Errors
    ///
    /// [`CallError::Result`] if it cannot be encoded.
    pub fn reply<R: Serialize + 'static>(&mut self, result: &R) -> Result<(), CallError> {
        let mut bytes = Vec::new();
        codec::encode(result, &mut bytes).map_err(CallError::Result)?;
        self.result = Some(bytes);
        Ok(())
    }

    /// The error for a method the type does not have (Python's `AttributeError`).
    pub fn no_such_method(&self) -> CallError {
        CallError::NoMethod(self.method.to_owned())
    }

    /// The result given, or `()` encoded.
    pub(crate) fn into_result(self) -> Vec<u8> {
        self.result.unwrap_or_else(|| {
            let mut unit = Vec::new();
            // `()` always encodes (postcard writes nothing for it).
            let _ = codec::encode(&(), &mut unit);
            unit
        })
    }
}

/// Why a method of a shared object (or its constructor) failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The type has no such method (Python's `AttributeError`).
    #[error("no method named {0:?}")]
    NoMethod(String),
    /// The arguments are not of the type the method takes.
    #[error("bad arguments: {0}")]
    Args(#[source] CodecError),
    /// The result cannot be encoded.
    #[error("the result cannot be encoded: {0}")]
    Result(#[source] CodecError),
    /// The method itself failed (Python: it raised an exception).
    #[error("{0}")]
    Failed(String),
}

impl CallError {
    /// A failure of the method, with its message.
    pub fn failed(message: impl Into<String>) -> CallError {
        CallError::Failed(message.into())
    }
}

/// An object of a registered type, as the server holds it.
pub(crate) trait Served: Send {
    fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError>;
}

impl<T: SharedType> Served for T {
    fn call(&mut self, call: &mut Call<'_>) -> Result<(), CallError> {
        SharedType::call(self, call)
    }
}

/// Makes an object of a registered type from its encoded arguments.
type Constructor = fn(&[u8]) -> Result<Box<dyn Served>, CallError>;

fn construct<T: SharedType>(args: &[u8]) -> Result<Box<dyn Served>, CallError> {
    let args = codec::decode::<T::Args>(args).map_err(CallError::Args)?;
    Ok(Box::new(T::new(args)?))
}

/// The types a server can make objects of, by type id. Filled by a [`Registry`].
#[derive(Default)]
pub struct Types {
    constructors: HashMap<&'static str, Constructor>,
}

impl std::fmt::Debug for Types {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.constructors.keys()).finish()
    }
}

impl Types {
    fn add<T: SharedType>(&mut self) {
        self.constructors.insert(T::TYPEID, construct::<T>);
    }

    /// The table of the types in `R`.
    pub(crate) fn of<R: Registry>() -> Types {
        let mut types = Types::default();
        R::register(&mut types);
        types
    }

    /// Makes an object of the type `typeid`; `None` if no such type was registered.
    pub(crate) fn make(
        &self,
        typeid: &str,
        args: &[u8],
    ) -> Option<Result<Box<dyn Served>, CallError>> {
        self.constructors.get(typeid).map(|make| make(args))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl<T, R> Sealed for (T, R) {}
}

/// A list of registered types, as a type: `()` (none), or `(T, R)` for the type `T` and the
/// list `R`. Built by [`ManagerBuilder::register`](crate::ManagerBuilder::register); not
/// implemented outside this crate.
pub trait Registry: sealed::Sealed + 'static {
    /// Adds the list's types to `types`.
    fn register(types: &mut Types);
}

impl Registry for () {
    fn register(_: &mut Types) {}
}

impl<T: SharedType, R: Registry> Registry for (T, R) {
    fn register(types: &mut Types) {
        R::register(types);
        types.add::<T>();
    }
}
