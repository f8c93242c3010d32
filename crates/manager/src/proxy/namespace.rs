//! Python's `NamespaceProxy`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Handle, Proxy, proxy_impls};
use crate::ManagerError;
use crate::client::no_body;
use crate::protocol::{Kind, Op};

/// A proxy of a namespace that lives in the manager's server (Python's `manager.Namespace()`,
/// made by [`Factory::namespace`](crate::Factory::namespace)): attributes by name, each of its
/// own type.
///
/// Python's `ns.x = 1` is `ns.set("x", &1)`, `ns.x` is `ns.get::<i32>("x")`, `del ns.x` is
/// `ns.del("x")`; a missing attribute is Python's `AttributeError`
/// ([`ManagerError::NoAttribute`]). As in Python, a value read is a copy: change it and set it
/// again (or store a proxy in the attribute).
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let ns = manager.namespace()?;
/// ns.set("x", &10)?;
/// ns.set("name", &"worker".to_string())?;
/// assert_eq!(ns.get::<i32>("x")?, 10);
/// assert_eq!(ns.names()?, ["x", "name"]);
/// ns.del("x")?;
/// assert!(matches!(ns.get::<i32>("x"), Err(manager::ManagerError::NoAttribute(_))));
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct NamespaceProxy {
    handle: Handle,
}

impl Proxy for NamespaceProxy {
    const KINDS: &'static [Kind] = &[Kind::Namespace];

    fn handle(&self) -> &Handle {
        &self.handle
    }

    fn from_handle(handle: Handle) -> Self {
        NamespaceProxy { handle }
    }
}

proxy_impls!(NamespaceProxy);

/// The error of a missing attribute.
fn no_attribute(name: &str) -> ManagerError {
    ManagerError::NoAttribute(format!("'Namespace' object has no attribute {name:?}"))
}

impl NamespaceProxy {
    /// The attribute `name`, as a `T` (Python's `ns.name`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NoAttribute`] if there is none; [`ManagerError::Decode`] if it is not
    /// a `T`; [`ManagerError::ServerGone`].
    pub fn get<T: DeserializeOwned + 'static>(&self, name: &str) -> Result<T, ManagerError> {
        self.handle
            .call(
                Op::DictGet,
                |body| body.value("name", &name.to_owned()),
                |reply| reply.found(),
            )?
            .ok_or_else(|| no_attribute(name))
    }

    /// Sets the attribute `name` (Python's `ns.name = value`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Encode`] or [`ManagerError::TooLarge`] (nothing is sent then);
    /// [`ManagerError::ServerGone`].
    pub fn set<T: Serialize + 'static>(&self, name: &str, value: &T) -> Result<(), ManagerError> {
        self.handle.call(
            Op::DictSet,
            |body| {
                body.value("name", &name.to_owned())?;
                body.value("value", value)
            },
            |reply| reply.done(),
        )
    }

    /// Removes the attribute `name` (Python's `del ns.name`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NoAttribute`] if there is none; [`ManagerError::ServerGone`].
    pub fn del(&self, name: &str) -> Result<(), ManagerError> {
        let removed = self.handle.call(
            Op::DictDel,
            |body| body.value("name", &name.to_owned()),
            |reply| reply.done(),
        );
        match removed {
            Err(ManagerError::KeyNotFound(_)) => Err(no_attribute(name)),
            other => other,
        }
    }

    /// Whether the attribute `name` exists (Python's `hasattr(ns, name)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn has(&self, name: &str) -> Result<bool, ManagerError> {
        self.handle.call(
            Op::DictContains,
            |body| body.value("name", &name.to_owned()),
            |reply| reply.flag(),
        )
    }

    /// The attributes' names, in the order they were first set (what Python's `repr(ns)`
    /// lists).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn names(&self) -> Result<Vec<String>, ManagerError> {
        self.handle.call(Op::DictKeys, no_body, |reply| {
            reply.items(|reply| reply.item())
        })
    }
}
