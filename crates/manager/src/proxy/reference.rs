//! A proxy as it travels (Python's `RebuildProxy` arguments): the server's address, the
//! object's id and kind, the size limit, and the authkey only while the proxy is an argument
//! of a process start.
//!
//! A proxy stored in a shared dict or list is stored as this reference (Python 3.6's nested
//! proxies): getting it back yields a proxy of the same object, so a change made through it is
//! seen by all. Without a key, the receiver of a reference uses the key of the connection the
//! reference came in on, when it refers to that same server (a proxy read out of a dict of
//! that manager); otherwise its own process's key, as in Python. (Python always uses the
//! process's key there, which fails for a manager whose key was set explicitly.)

use std::cell::RefCell;
use std::sync::Arc;

use ipc_common::auth::{self, AuthKey};
use serde::{Deserialize, Serialize};

use super::Handle;
use crate::address::Address;
use crate::client::{Client, Target};
use crate::protocol::Kind;

#[derive(Serialize, Deserialize)]
struct Reference {
    kind: Kind,
    address: Address,
    id: u32,
    max: u64,
    typeid: Option<String>,
    #[serde(with = "serde_bytes")]
    authkey: Option<Vec<u8>>,
}

thread_local! {
    /// The server whose reply is being decoded on this thread, if any.
    static ORIGIN: RefCell<Option<Arc<Target>>> = const { RefCell::new(None) };
}

/// Runs `decode` (of a value in a reply of `target`'s server) so that the references in the
/// value to that server use its key.
pub(crate) fn decoding_from<R>(target: &Arc<Target>, decode: impl FnOnce() -> R) -> R {
    let outer = ORIGIN.with(|o| o.replace(Some(Arc::clone(target))));
    let result = decode();
    ORIGIN.with(|o| o.replace(outer));
    result
}

/// Writes `handle` as a reference.
pub(crate) fn serialize<S: serde::Serializer>(
    handle: &Handle,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let target = handle.client.target();
    Reference {
        kind: handle.kind,
        address: target.address.clone(),
        id: handle.id,
        max: target.max as u64,
        typeid: handle.typeid.as_deref().map(str::to_owned),
        authkey: ipc_common::share::within_process_start().then(|| target.key.as_bytes().to_vec()),
    }
    .serialize(serializer)
}

/// Reads a reference to an object of one of `kinds` (a reference to another kind is an error:
/// a list read as a dict, say).
pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    kinds: &[Kind],
) -> Result<Handle, D::Error> {
    use serde::de::Error;
    let reference = Reference::deserialize(deserializer)?;
    if !kinds.contains(&reference.kind) {
        return Err(D::Error::custom(format!(
            "a proxy of a {:?} cannot be read as a proxy of a {:?}",
            reference.kind, kinds[0]
        )));
    }
    let max = usize::try_from(reference.max).map_err(D::Error::custom)?;
    let origin = ORIGIN.with(|o| o.borrow().clone());
    let target = match (reference.authkey, origin) {
        (Some(key), _) => Arc::new(Target {
            address: reference.address,
            key: AuthKey::new(key),
            max,
        }),
        (None, Some(origin)) if origin.address == reference.address && origin.max == max => origin,
        (None, Some(origin)) if origin.address == reference.address => Arc::new(Target {
            address: reference.address,
            key: origin.key.clone(),
            max,
        }),
        (None, _) => Arc::new(Target {
            address: reference.address,
            key: auth::authkey().map_err(D::Error::custom)?,
            max,
        }),
    };
    Ok(Handle {
        client: Client::new(target),
        id: reference.id,
        kind: reference.kind,
        typeid: reference.typeid.map(Arc::from),
    })
}
