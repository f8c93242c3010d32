//! The manager's protocol, spoken after the authentication handshake.
//!
//! Every message is an [`ipc_common::frame`] frame (Python's `multiprocessing.connection`
//! framing, whose long form carries 64-bit lengths). A request is one frame:
//!
//! ```text
//! [op: 1 byte][object id: 4 bytes, big-endian][body]
//! ```
//!
//! with an empty body except for `DictSet` (`[key length: 8 bytes, big-endian][key][value]`),
//! `DictGet` (`[key]`) and `ListAppend` (`[item]`). Keys, values and items are
//! [`ipc_common::codec`] encodings, which the server keeps as they are without decoding them.
//!
//! A reply is a *status frame*, `[OK]` or `[REFUSED][message]`, followed for some requests by
//! more frames: `[OK][number: 8 bytes]` for the new object's id and for lengths;
//! `[OK][0]` (absent) or `[OK][1]` then the value's frame for `DictGet`; `[OK][count: 8
//! bytes]` then each item's frame (a key's then its value's, for a dict) for snapshots. No
//! frame is larger than one key, value or item, so a snapshot of any size streams through.

/// The operations; the first byte of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    NewDict = 1,
    NewList,
    DictSet,
    DictGet,
    DictLen,
    DictItems,
    ListAppend,
    ListLen,
    ListItems,
    Shutdown,
}

impl Op {
    pub(crate) fn from_byte(b: u8) -> Option<Op> {
        use Op::*;
        [
            NewDict, NewList, DictSet, DictGet, DictLen, DictItems, ListAppend, ListLen, ListItems,
            Shutdown,
        ]
        .into_iter()
        .find(|op| *op as u8 == b)
    }
}

/// The status byte of a reply that succeeded.
pub(crate) const OK: u8 = 0;
/// The status byte of a refused request; a UTF-8 message follows.
pub(crate) const REFUSED: u8 = 1;

/// The bytes of a request before its body: the op and the object id.
pub(crate) const REQUEST_HEAD: usize = 5;
/// The bytes of `DictSet`'s key length.
pub(crate) const KEY_LENGTH: usize = 8;

/// The largest status frame: a status byte and a short message.
pub(crate) const MAX_STATUS: usize = 4096;

/// The largest request frame when keys, values and items are at most `max` bytes: a
/// `DictSet` of a key and a value of `max` bytes each.
pub(crate) fn max_request(max: usize) -> usize {
    max.saturating_mul(2)
        .saturating_add(REQUEST_HEAD + KEY_LENGTH)
}
