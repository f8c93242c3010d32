//! Why a ring operation failed.

use crate::sync::SyncError;

/// Why a ring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// No whole message arrived before the deadline.
    ///
    /// If part of a message larger than the ring had arrived, it is kept, and the calling
    /// thread keeps the ring's read side: its next [`pop`](super::Ring::pop) continues that
    /// message (see [`Ring`](super::Ring#timeouts-in-the-middle-of-a-message)).
    #[error("no message arrived before the deadline")]
    Empty,
    /// The ring stayed full until the deadline: nothing of the message was written.
    #[error("the ring stayed full until the deadline")]
    Full,
    /// The deadline passed in the middle of a message larger than the ring, after `sent` of
    /// its `len` bytes had gone in: the message was withdrawn, and no reader gets any of it.
    #[error(
        "the deadline passed after {sent} of the message's {len} bytes were sent: \
         the message was withdrawn, no reader gets it"
    )]
    Abandoned {
        /// The data bytes written before the deadline.
        sent: usize,
        /// The message's length.
        len: usize,
    },
    /// A message above the ring's limit ([`Ring::max_message`](super::Ring::max_message)).
    /// A push refuses it before writing anything; a pop drops it (what was written of it is
    /// skipped) and the next pop takes the next message.
    #[error("a message of {len} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The message's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// [`Ring::new`](super::Ring::new) was asked for more than [`MAX_CAPACITY`](super::MAX_CAPACITY).
    #[error("a ring of {requested} bytes is too large (at most {max} bytes)")]
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity.
        max: usize,
    },
    /// The ring's memory holds something no writer makes: another process wrote into it
    /// outside the ring's protocol. Nothing was taken; the ring cannot be trusted any more.
    #[error("the ring is corrupt at offset {at}: {why}")]
    Corrupt {
        /// The offset (wrapping) where the reader found it.
        at: u32,
        /// What is wrong.
        why: &'static str,
    },
    /// A lock or the shared memory failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}
