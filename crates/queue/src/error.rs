//! Why a queue operation failed.

use ipc_common::codec::CodecError;
use ipc_common::ring::RingError;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// No message arrived before the timeout (Python's `queue.Empty`).
    ///
    /// A get that times out in the middle of a message larger than the queue's ring keeps
    /// what it has: the calling thread's next get continues that message (see
    /// [`Queue`](crate::Queue#messages-larger-than-the-ring)).
    #[error("the queue is empty")]
    Empty,
    /// The queue stayed full until the timeout (Python's `queue.Full`): nothing was put.
    #[error("the queue is full")]
    Full,
    /// The timeout passed in the middle of a message larger than the queue's ring: the
    /// message was withdrawn and no consumer gets any of it (Python's `queue.Full`, after
    /// part of the message was sent).
    #[error(
        "the timeout passed after {sent} of the message's {len} bytes were sent: \
         the message was withdrawn, nobody gets it"
    )]
    Abandoned {
        /// The encoded bytes sent before the timeout.
        sent: usize,
        /// The encoded message's length.
        len: usize,
    },
    /// A put after [`close`](crate::Queue::close) in this process (Python's
    /// `ValueError: Queue ... is closed`).
    #[error("the queue is closed in this process: it takes no more messages from it")]
    Closed,
    /// The encoded message is larger than the queue's limit
    /// ([`Queue::max_message`](crate::Queue::max_message)). A put refuses it before sending
    /// anything; a get drops such a message (from a peer with a larger limit, or corrupt)
    /// and the next get takes the next one.
    #[error("a message of {len} bytes (encoded) is larger than the queue's limit of {limit} bytes")]
    TooLarge {
        /// The encoded message's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The requested ring is above the largest possible one.
    #[error("a queue ring of {requested} bytes is too large (at most {max} bytes)")]
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest possible capacity ([`MAX_CAPACITY`](ipc_common::ring::MAX_CAPACITY)).
        max: usize,
    },
    /// [`JoinableQueue::task_done`](crate::JoinableQueue::task_done) was called more times
    /// than messages were put (Python's `ValueError: task_done() called too many times`).
    #[error("task_done() called too many times")]
    TaskDoneTooManyTimes,
    /// The message could not be encoded (a value whose `Serialize` fails, say).
    #[error(transparent)]
    Encode(CodecError),
    /// The message taken out is not a `T` (put through a queue of another type, or corrupt),
    /// or `T` needs a self-describing format (see [`Queue`](crate::Queue#message-types)). It
    /// is consumed: the next get takes the next message.
    #[error(transparent)]
    Decode(CodecError),
    /// The ring under the queue failed: its lock or memory, or another process wrote into
    /// its memory outside its protocol.
    #[error(transparent)]
    Ring(RingError),
}

impl QueueError {
    /// Whether this is a timeout ([`Empty`](QueueError::Empty), [`Full`](QueueError::Full)
    /// or [`Abandoned`](QueueError::Abandoned)): the queue is fine, it was just not ready.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            QueueError::Empty | QueueError::Full | QueueError::Abandoned { .. }
        )
    }
}

impl From<RingError> for QueueError {
    fn from(e: RingError) -> Self {
        match e {
            RingError::Empty => QueueError::Empty,
            RingError::Full => QueueError::Full,
            RingError::Abandoned { sent, len } => QueueError::Abandoned { sent, len },
            RingError::TooLarge { len, limit } => QueueError::TooLarge { len, limit },
            RingError::CapacityTooLarge { requested, max } => {
                QueueError::CapacityTooLarge { requested, max }
            }
            other => QueueError::Ring(other),
        }
    }
}
