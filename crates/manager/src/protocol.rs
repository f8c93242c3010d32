//! The manager's protocol, spoken after the authentication handshake.
//!
//! Every message is an [`ipc_common::frame`] frame (Python's `multiprocessing.connection`
//! framing, whose long form carries 64-bit lengths).
//!
//! # Requests
//!
//! A request is a *head* frame, followed for some operations by *item* frames:
//!
//! ```text
//! head:  [op: 1 byte][object id: 4 bytes, big-endian][field]*
//! field: [length: 8 bytes, big-endian][bytes]
//! ```
//!
//! Each operation takes a fixed number of fields ([`Op::shape`]): keys, values and items
//! ([`ipc_common::codec`] encodings, which the server keeps as they are without decoding
//! them), numbers (8 bytes, big-endian; indices signed), timeouts ([`timeout_field`]), names.
//! An operation that carries a sequence (`extend`, `update`, a slice assignment, a new list's
//! items) ends its head with a count, and that many item frames follow, one key, value or
//! item each. No frame is larger than the largest key, value or item plus a few numbers, so a
//! request of any size streams through, as replies do.
//!
//! # Replies
//!
//! A reply is a *status frame*, then for some requests item frames:
//!
//! - `[OK]`, `[OK][number: 8 bytes]...` (an object's id, a length, a count of items to follow,
//!   a list's version), or `[OK][flag: 0 or 1]` (for a lookup, 1 means that the value's frame
//!   follows);
//! - `[REFUSED][message]`: the request cannot be done at all (an unknown object, an object of
//!   another kind);
//! - `[ERROR][kind: 1 byte][message]`: the operation failed the way Python's raises an
//!   exception ([`ErrorKind`]: `KeyError`, `IndexError`, `queue.Empty`, ...).
//!
//! A request that is not of this protocol ends its connection without a reply.

use std::time::Duration;

/// An enum of the protocol whose every variant is one byte, with `from_byte` to read it back.
macro_rules! byte_enum {
    (
        $(#[$meta:meta])*
        enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every variant.
            #[cfg(test)]
            pub(crate) const ALL: &[$name] = &[$($name::$variant),+];

            /// The variant of byte `b`.
            pub(crate) fn from_byte(b: u8) -> Option<$name> {
                match b {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

byte_enum! {
    /// The operations; the first byte of a request. The numbers are the protocol: 3 to 10 are
    /// the first version's, kept.
    enum Op {
        // The manager.
        New = 1,
        Ping = 2,
        Shutdown = 10,
        // Dicts (and namespaces, which are dicts of names).
        DictSet = 3,
        DictGet = 4,
        DictLen = 5,
        DictItems = 6,
        DictKeys = 11,
        DictValues = 12,
        DictContains = 13,
        DictDel = 14,
        DictPop = 15,
        DictPopItem = 16,
        DictSetDefault = 17,
        DictUpdate = 18,
        DictClear = 19,
        // Lists (and arrays and values, which are lists).
        ListAppend = 7,
        ListLen = 8,
        ListItems = 9,
        ListGet = 20,
        ListSet = 21,
        ListGetSlice = 22,
        ListSetSlice = 23,
        ListExtend = 24,
        ListInsert = 25,
        ListPop = 26,
        ListRemove = 27,
        ListIndex = 28,
        ListCount = 29,
        ListContains = 30,
        ListReverse = 31,
        ListVersioned = 32,
        ListPermute = 33,
        ListRepeat = 34,
        // Queues.
        QueuePut = 40,
        QueueGet = 41,
        QueueSize = 42,
        QueueFull = 43,
        QueueTaskDone = 44,
        QueueJoin = 45,
        // Locks, semaphores, conditions.
        Acquire = 50,
        Release = 51,
        CondWait = 52,
        CondNotify = 53,
        // Events.
        EventSet = 60,
        EventClear = 61,
        EventIsSet = 62,
        EventWait = 63,
        // Barriers.
        BarrierWait = 70,
        BarrierReset = 71,
        BarrierAbort = 72,
        BarrierState = 73,
        // Objects of registered types.
        Call = 80,
    }
}

impl Op {
    /// How many fields the head of a request of this operation has, and whether item frames
    /// follow it (their count is then the head's last field).
    pub(crate) fn shape(self) -> (usize, bool) {
        use Op::*;
        match self {
            Ping | Shutdown | DictLen | DictItems | DictKeys | DictValues | DictPopItem
            | DictClear | ListLen | ListItems | ListReverse | ListVersioned | QueueSize
            | QueueFull | QueueTaskDone | Release | EventSet | EventClear | EventIsSet
            | BarrierReset | BarrierAbort | BarrierState => (0, false),
            DictGet | DictContains | DictDel | DictPop | ListAppend | ListGet | ListPop
            | ListRemove | ListIndex | ListCount | ListContains | ListRepeat | QueueGet
            | QueueJoin | Acquire | CondWait | CondNotify | EventWait | BarrierWait => (1, false),
            DictSet | DictSetDefault | ListSet | ListGetSlice | ListInsert | QueuePut | Call => {
                (2, false)
            }
            DictUpdate | ListExtend => (1, true),
            ListPermute => (2, true),
            ListSetSlice => (3, true),
            New => (4, true),
        }
    }
}

byte_enum! {
    /// What kind of object a proxy refers to; a field of `New`, and part of a proxy's
    /// reference (so that a reference decodes only as a proxy of its kind).
    #[derive(serde::Serialize, serde::Deserialize)]
    enum Kind {
        Dict = 1,
        List = 2,
        Namespace = 3,
        Queue = 4,
        JoinableQueue = 5,
        Lock = 6,
        RLock = 7,
        Semaphore = 8,
        BoundedSemaphore = 9,
        Condition = 10,
        Event = 11,
        Barrier = 12,
        Value = 13,
        Array = 14,
        Object = 15,
    }
}

/// The status byte of a reply that succeeded.
pub(crate) const OK: u8 = 0;
/// The status byte of a refused request; a UTF-8 message follows.
pub(crate) const REFUSED: u8 = 1;
/// The status byte of an operation that failed as Python's raises; an [`ErrorKind`] byte and
/// a UTF-8 message follow.
pub(crate) const ERROR: u8 = 2;

byte_enum! {
    /// How an operation failed, as the Python exception it stands for.
    enum ErrorKind {
        /// `KeyError`: a dict has no such key (or `popitem` of an empty dict).
        Key = 1,
        /// `IndexError`: an index out of range (or `pop` of an empty list).
        Index = 2,
        /// `ValueError`: `list.remove(x)` or `list.index(x)` with no such item.
        NotInList = 3,
        /// `AttributeError`: an object of a registered type has no such method.
        NoAttribute = 4,
        /// `queue.Empty`.
        Empty = 5,
        /// `queue.Full`.
        Full = 6,
        /// `RuntimeError`: releasing a lock not held, or waiting or notifying without the lock.
        NotHeld = 7,
        /// `ValueError`: a bounded semaphore released too many times, or `task_done` called more
        /// times than items were put.
        TooManyReleases = 8,
        /// `threading.BrokenBarrierError`.
        BrokenBarrier = 9,
        /// A method of an object of a registered type failed (Python re-raises its exception).
        Method = 10,
        /// `MemoryError`: the server cannot hold the result.
        NoMemory = 11,
    }
}

/// The bytes of a request before its fields: the op and the object id.
pub(crate) const REQUEST_HEAD: usize = 5;
/// The bytes of a field's length.
pub(crate) const FIELD_LENGTH: usize = 8;

/// The largest status frame: a status byte and a short message.
pub(crate) const MAX_STATUS: usize = 4096;

/// The largest head frame when keys, values and items are at most `max` bytes: no head
/// carries more than two of them, plus numbers and a name or a type's id (each at most `max`).
pub(crate) fn max_request(max: usize) -> usize {
    max.saturating_mul(3)
        .saturating_add(REQUEST_HEAD + 4 * FIELD_LENGTH + 64)
}

/// A timeout as a field: nanoseconds, big-endian; `u64::MAX` (or any timeout too long for
/// 64 bits of nanoseconds, 584 years) waits for ever.
pub(crate) fn timeout_field(timeout: Option<Duration>) -> u64 {
    timeout.map_or(u64::MAX, |t| {
        u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
    })
}

/// The timeout a field holds (`None`: for ever).
pub(crate) fn timeout_of(nanos: u64) -> Option<Duration> {
    (nanos != u64::MAX).then(|| Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_and_kind_is_found_by_its_byte() {
        for &op in Op::ALL {
            assert_eq!(Op::from_byte(op as u8), Some(op));
        }
        assert_eq!(Op::from_byte(0xee), None);
        assert_eq!(Op::ALL.len(), 53);
        for &kind in Kind::ALL {
            assert_eq!(Kind::from_byte(kind as u8), Some(kind));
        }
        for &kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_byte(kind as u8), Some(kind));
        }
    }

    #[test]
    fn timeouts_round_trip_and_huge_ones_mean_forever() {
        let t = Duration::from_millis(1500);
        assert_eq!(timeout_of(timeout_field(Some(t))), Some(t));
        assert_eq!(timeout_of(timeout_field(None)), None);
        assert_eq!(timeout_of(timeout_field(Some(Duration::MAX))), None);
    }
}
