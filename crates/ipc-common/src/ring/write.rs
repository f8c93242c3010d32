//! The writing side: one writer at a time, for a whole message.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use super::bytes::Source;
use super::layout::{Chunk, Committed, HEADER, Mode, PREFIX, Piece, Plan};
use super::{Ring, RingError, lock_soon, wait};
use crate::fault;

impl Ring {
    /// Copies `message` into the ring, waiting for room until `deadline` (forever if `None`).
    ///
    /// See [`push_vectored`](Ring::push_vectored) for what happens at the deadline.
    ///
    /// # Errors
    ///
    /// As for [`push_vectored`](Ring::push_vectored).
    pub fn push(&self, message: &[u8], deadline: Option<Instant>) -> Result<(), RingError> {
        self.push_vectored(&[message], deadline)
    }

    /// Copies the message made of `parts` (one after the other, as `writev` does) into the
    /// ring, waiting for room until `deadline` (forever if `None`). Nothing is copied before
    /// the parts go into the ring.
    ///
    /// A message that fits in the ring goes in whole or not at all: the push waits until
    /// there is room for all of it, and [`RingError::Full`] at the deadline means nothing was
    /// written. A larger message is streamed: each piece waits for readers to make room.
    /// With a deadline that has already passed, such a message is [`RingError::Full`] at once
    /// (it cannot go in without waiting); if the deadline passes in its middle, the message
    /// is withdrawn ([`RingError::Abandoned`]) and no reader sees any of it.
    ///
    /// # Errors
    ///
    /// [`RingError::Full`] and [`RingError::Abandoned`] as above; [`RingError::TooLarge`] for
    /// a message above [`max_message`](Ring::max_message) (nothing is written);
    /// [`RingError::Corrupt`] if another process wrote nonsense into the ring's words;
    /// [`RingError::Sync`] if the lock fails.
    pub fn push_vectored(
        &self,
        parts: &[&[u8]],
        deadline: Option<Instant>,
    ) -> Result<(), RingError> {
        let len = parts.iter().map(|p| p.len()).sum();
        if len > self.max_message {
            return Err(RingError::TooLarge {
                len,
                limit: self.max_message,
            });
        }
        let plan = Plan::new(len, self.bytes.capacity());
        if plan.mode == Mode::Streamed && deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(RingError::Full);
        }
        let Some(mut writer) = Writer::lock(self, deadline)? else {
            return Err(RingError::Full);
        };

        // Room for the whole message (or, streaming, for its first piece), and a free slot
        // under the limit of messages: after this the writer is alone to add bytes, so a
        // whole message never waits again.
        let first = plan.chunk_at(0);
        let need = match plan.mode {
            Mode::Streamed => u64::from(first.room()),
            Mode::Single | Mode::Reserved => plan.total_bytes(),
        };
        if !writer.wait_for_room(need, true, deadline)? {
            return Err(RingError::Full);
        }

        // The chunks, each committed by one store of `head`, so that a reader starts copying
        // the first while this side copies the next.
        let mut source = Source::new(parts);
        let mut sent = 0;
        loop {
            let piece = plan.chunk_at(sent);
            if sent > 0
                && plan.mode == Mode::Streamed
                && !writer.wait_for_room(u64::from(piece.room()), false, deadline)?
            {
                writer.abort();
                return Err(RingError::Abandoned { sent, len });
            }
            writer.write(&plan, &piece, &mut source);
            sent += piece.data as usize;
            if piece.last {
                return Ok(());
            }
        }
    }
}

/// The holder of the write lock: the only process that adds bytes to the ring.
pub(super) struct Writer<'r> {
    ring: &'r Ring,
    /// The committed head, as this writer last stored it.
    head: Committed,
}

impl<'r> Writer<'r> {
    /// Takes the write lock, waiting until `deadline`; `None` at the deadline.
    fn lock(ring: &'r Ring, deadline: Option<Instant>) -> Result<Option<Self>, RingError> {
        Ok(lock_soon(&ring.state.w.lock, deadline)?.map(|_| Self::locked(ring)))
    }

    /// Takes the write lock if it is free right now: a reader uses it to learn whether the
    /// writer of the message it waits on is gone, and the taking itself repairs that.
    pub(super) fn try_lock(ring: &'r Ring) -> Result<Option<Self>, RingError> {
        Ok(ring.state.w.lock.try_lock()?.map(|_| Self::locked(ring)))
    }

    /// With the lock just taken: if the last holder left a message open (it died in its
    /// middle, however the lock came to be free), withdraws it, so that readers drop what
    /// they have of it.
    fn locked(ring: &'r Ring) -> Self {
        let mut w = Self {
            ring,
            head: Committed::from_word(ring.state.w.head.load(SeqCst)),
        };
        if w.head.in_message {
            w.abort();
        }
        w
    }

    /// Waits until `need` bytes are free (and, with `slot`, until the ring holds fewer whole
    /// messages than its limit), or the deadline. Returns whether they are.
    fn wait_for_room(
        &mut self,
        need: u64,
        slot: bool,
        deadline: Option<Instant>,
    ) -> Result<bool, RingError> {
        let s = &*self.ring.state;
        let capacity = self.ring.bytes.capacity();
        let head = self.head;
        let max = if slot {
            s.max_messages.load(Relaxed)
        } else {
            0
        };
        let fits = |tail_at: u32| -> Result<bool, RingError> {
            let used = head.at.wrapping_sub(tail_at);
            if used > capacity {
                return Err(RingError::Corrupt {
                    at: tail_at,
                    why: "the tail is not within a ring's length behind the head",
                });
            }
            Ok(u64::from(capacity - used) >= need)
        };
        // The last tail seen is enough for most messages: the reader's line is not read.
        if max == 0 && fits(s.w.tail_seen.load(Relaxed))? {
            return Ok(true);
        }
        let mut error = None;
        let ready = || {
            let tail = Committed::from_word(s.r.tail.load(SeqCst));
            // Stored before the head moves past it, so that it is never more than a ring's
            // length behind the head, whoever dies when.
            s.w.tail_seen.store(tail.at, Relaxed);
            let room = fits(tail.at).unwrap_or_else(|e| {
                error = Some(e);
                true
            });
            room && (max == 0 || head.count.wrapping_sub(tail.count) < max)
        };
        let sleep = wait::Sleep {
            seq: &s.r.room_seq,
            asleep: &s.r.room_asleep,
            woken: "ring.push.woken",
        };
        let ready = sleep.until(deadline, ready, || Ok(()))?;
        match error {
            Some(e) => Err(e),
            None => Ok(ready),
        }
    }

    /// Writes one chunk at the head and commits it; the room was checked.
    fn write(&mut self, plan: &Plan, piece: &Piece, source: &mut Source<'_>) {
        let bytes = &self.ring.bytes;
        let at = self.head.at;
        let payload = piece.payload();
        bytes.write(
            at,
            &Chunk::Data {
                len: payload,
                last: piece.last,
            }
            .encode()
            .to_le_bytes(),
        );
        let mut data_at = at.wrapping_add(HEADER);
        if piece.prefixed {
            bytes.write(data_at, &(plan.len as u64).to_le_bytes());
            data_at = data_at.wrapping_add(PREFIX);
        }
        source.copy_to(bytes, data_at, piece.data as usize);
        fault::point("ring.push.copy");
        self.commit(Committed {
            at: at.wrapping_add(Chunk::bytes(payload)),
            in_message: !piece.last,
            count: self.head.count.wrapping_add(u32::from(piece.last)),
        });
        fault::point(if piece.last {
            "ring.push.committed"
        } else {
            "ring.push.chunk"
        });
        self.wake_reader();
    }

    /// Ends the open message with an abort chunk. It always fits: every chunk that leaves a
    /// message open leaves 4 bytes free behind it (see [`Piece::room`]).
    pub(super) fn abort(&mut self) {
        let at = self.head.at;
        self.ring
            .bytes
            .write(at, &Chunk::Abort.encode().to_le_bytes());
        self.commit(Committed {
            at: at.wrapping_add(HEADER),
            in_message: false,
            count: self.head.count,
        });
        self.wake_reader();
    }

    /// Publishes the bytes written so far with one store. `SeqCst`: the release that makes
    /// the chunk's bytes visible to a reader that loads `head`, and the first half of the
    /// sleep protocol (see [`wait`]).
    fn commit(&mut self, head: Committed) {
        self.ring.state.w.head.store(head.word(), SeqCst);
        if head.count != self.head.count {
            self.ring.trace(crate::trace::End::Sent, head.count);
        }
        self.head = head;
    }

    fn wake_reader(&self) {
        let w = &self.ring.state.w;
        wait::wake(&w.data_seq, &w.data_asleep);
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.ring.state.w.lock.unlock();
    }
}
