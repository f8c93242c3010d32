//! The reading side: one reader at a time, for a whole message.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Instant;

use super::bytes::Dest;
use super::layout::{Chunk, Committed, HEADER, Mode, PREFIX, Plan};
use super::write::Writer;
use super::{Partial, Ring, RingError, lock_soon, wait};
use crate::fault;

impl Ring {
    /// Takes the oldest message into `out` (replacing its contents), waiting for one until
    /// `deadline` (forever if `None`).
    ///
    /// `on_take` runs while the whole message is in `out` and this process holds the read
    /// side, just before the message is committed as taken: a process killed after `on_take`
    /// but before that commit leaves a message that fits in the ring in the ring, for the
    /// next reader. The pool uses it to record which task a worker holds, so that a killed
    /// worker's task is known.
    ///
    /// # Errors
    ///
    /// [`RingError::Empty`] at the deadline (see there for a message larger than the ring,
    /// whose first part had arrived); [`RingError::TooLarge`] for a message above
    /// [`max_message`](Ring::max_message) (it is dropped); [`RingError::Corrupt`] if the
    /// ring's memory was overwritten; [`RingError::Sync`] if the lock fails.
    pub fn pop(
        &self,
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
        on_take: impl FnOnce(&[u8]),
    ) -> Result<(), RingError> {
        let mut dest = Dest::new(&mut [], out);
        self.pop_into(&mut dest, deadline, |d| on_take(d.body))
            .map(drop)
    }

    /// Takes the oldest message, its first `head.len()` bytes into `head` and the rest into
    /// `body` (replacing its contents), as `readv` does; returns the message's length (if it
    /// is shorter than `head`, only its length's first bytes of `head` are written).
    ///
    /// A caller that knows the layout of its messages takes a small header and a large body
    /// apart without copying the body again.
    ///
    /// # Errors
    ///
    /// As for [`pop`](Ring::pop).
    pub fn pop_vectored(
        &self,
        head: &mut [u8],
        body: &mut Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<usize, RingError> {
        self.pop_into(&mut Dest::new(head, body), deadline, |_| {})
    }

    fn pop_into(
        &self,
        dest: &mut Dest<'_>,
        deadline: Option<Instant>,
        on_take: impl FnOnce(&Dest<'_>),
    ) -> Result<usize, RingError> {
        let capacity = self.bytes.capacity();
        let (mut reader, mut message) = match self.resume(dest) {
            Some(resumed) => resumed,
            None => {
                let Some(reader) = Reader::lock(self, deadline)? else {
                    return Err(RingError::Empty);
                };
                // A previous reader took part of a message and is gone: skip the rest.
                let message = if reader.tail.in_message {
                    Message::Skipping
                } else {
                    Message::Between
                };
                (reader, message)
            }
        };
        loop {
            // 1. A committed chunk at `pos`, or the deadline.
            let Some(head_at) = reader.wait_for_chunk(deadline)? else {
                return reader.timed_out(message, dest);
            };
            let at = reader.pos;
            let available = head_at.wrapping_sub(at);
            let corrupt = |why| RingError::Corrupt { at, why };
            if available > capacity {
                return Err(corrupt(
                    "the head is not within a ring's length of the tail",
                ));
            }
            let header = self.bytes.read_u32(at);
            let chunk = Chunk::decode(header).ok_or_else(|| corrupt("an impossible header"))?;

            // 2. An abort: the message being read was withdrawn. Drop what came of it.
            let (len, last) = match chunk {
                Chunk::Abort if matches!(message, Message::Between) => {
                    return Err(corrupt("an abort outside a message"));
                }
                Chunk::Abort => {
                    dest.start(0);
                    reader.advance(HEADER, Commit::Dropped);
                    message = Message::Between;
                    continue;
                }
                Chunk::Data { len, last } => (len, last),
            };
            let size = Chunk::bytes(len);
            if size > available {
                return Err(corrupt("a chunk longer than the bytes committed"));
            }
            let data_at = at.wrapping_add(HEADER);

            // 3. A data chunk, read according to where it falls in its message.
            match message {
                Message::Between if last => {
                    let len = len as usize;
                    if len > self.max_message {
                        reader.advance(size, Commit::Taken);
                        return Err(self.too_large(len));
                    }
                    dest.start(len);
                    dest.append(&self.bytes, data_at, len);
                    on_take(dest);
                    reader.advance(size, Commit::Taken);
                    return Ok(len);
                }
                Message::Between => {
                    if len < PREFIX {
                        return Err(corrupt("a first piece without its length"));
                    }
                    let total = usize::try_from(self.bytes.read_u64(data_at))
                        .map_err(|_| corrupt("a length beyond the address space"))?;
                    let plan = Plan::new(total, capacity);
                    let piece = plan.chunk_at(0);
                    if plan.mode == Mode::Single || piece.payload() != len || piece.last {
                        return Err(corrupt("a first piece that does not match its length"));
                    }
                    if total > self.max_message {
                        // Taken in part: the rest is skipped by whoever reads next.
                        reader.advance(size, Commit::Open);
                        return Err(self.too_large(total));
                    }
                    dest.start(total);
                    dest.append(
                        &self.bytes,
                        data_at.wrapping_add(PREFIX),
                        piece.data as usize,
                    );
                    let got = piece.data as usize;
                    message = Message::Inside { plan, got };
                    reader.advance(size, reader.commit_piece(&plan));
                }
                Message::Inside { plan, got } => {
                    let piece = plan.chunk_at(got);
                    if piece.payload() != len || piece.last != last {
                        return Err(corrupt("a piece that does not match its message"));
                    }
                    dest.append(&self.bytes, data_at, len as usize);
                    if last {
                        on_take(dest);
                        reader.advance(size, Commit::Taken);
                        return Ok(plan.len);
                    }
                    message = Message::Inside {
                        plan,
                        got: got + len as usize,
                    };
                    reader.advance(size, reader.commit_piece(&plan));
                    fault::point("ring.pop.chunk");
                }
                Message::Skipping => {
                    reader.advance(size, if last { Commit::Taken } else { Commit::Open });
                    if last {
                        message = Message::Between;
                    }
                }
            }
        }
    }

    fn too_large(&self, len: usize) -> RingError {
        RingError::TooLarge {
            len,
            limit: self.max_message,
        }
    }

    /// The reader state this thread kept when a deadline passed in the middle of a message
    /// larger than the ring: it still holds the read lock, and continues.
    fn resume(&self, dest: &mut Dest<'_>) -> Option<(Reader<'_>, Message)> {
        if !self.has_partial.load(Relaxed) {
            return None;
        }
        let mut slot = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref()?.thread != super::this_thread() {
            return None;
        }
        let partial = slot.take()?;
        self.has_partial.store(false, Relaxed);
        dest.restore(&partial.head, partial.body);
        let reader = Reader::locked(self);
        let message = Message::Inside {
            plan: partial.plan,
            got: partial.got,
        };
        Some((reader, message))
    }
}

/// Where the reader is in the message stream.
#[derive(Clone, Copy, Debug)]
enum Message {
    /// Between messages: the next chunk starts one.
    Between,
    /// Inside a message in pieces, `got` of its data bytes read.
    Inside { plan: Plan, got: usize },
    /// Inside a message that an earlier reader took in part: the rest is dropped.
    Skipping,
}

/// How a chunk read is committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Commit {
    /// Now, leaving the message open: a piece of a message larger than the ring.
    Open,
    /// Now, ending the message, which counts as taken (its last chunk was read or skipped).
    Taken,
    /// Now, ending a withdrawn message (an abort), which was never counted.
    Dropped,
    /// At the end of the message: a message that fits in the ring is taken all at once.
    Later,
}

/// The holder of the read lock: the only process that takes bytes out of the ring.
struct Reader<'r> {
    ring: &'r Ring,
    /// The committed tail, as this reader last stored it.
    tail: Committed,
    /// Where the next chunk starts: the tail, or further inside a message taken whole.
    pos: u32,
    /// Whether the lock stays held after this value is gone (a message kept for later).
    keep_lock: bool,
}

impl<'r> Reader<'r> {
    fn lock(ring: &'r Ring, deadline: Option<Instant>) -> Result<Option<Self>, RingError> {
        let Some(_) = lock_soon(&ring.state.r.lock, deadline)? else {
            return Ok(None);
        };
        if ring.has_partial.load(Relaxed) {
            // Kept by a thread of this process that has ended since (its lock came to us):
            // that message's rest is skipped like any other reader's.
            ring.partial
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            ring.has_partial.store(false, Relaxed);
        }
        Ok(Some(Self::locked(ring)))
    }

    fn locked(ring: &'r Ring) -> Self {
        let tail = Committed::from_word(ring.state.r.tail.load(SeqCst));
        Self {
            ring,
            tail,
            pos: tail.at,
            keep_lock: false,
        }
    }

    /// How a piece of `plan` other than the last is committed.
    fn commit_piece(&self, plan: &Plan) -> Commit {
        match plan.mode {
            Mode::Streamed => Commit::Open,
            Mode::Single | Mode::Reserved => Commit::Later,
        }
    }

    /// Moves past a chunk of `size` bytes and commits as told.
    fn advance(&mut self, size: u32, commit: Commit) {
        self.pos = self.pos.wrapping_add(size);
        if commit != Commit::Later {
            self.tail = Committed {
                at: self.pos,
                in_message: commit == Commit::Open,
                count: self
                    .tail
                    .count
                    .wrapping_add(u32::from(commit == Commit::Taken)),
            };
            // SeqCst: the release that gives the bytes back to the writer, and the first half
            // of the sleep protocol (see `wait`).
            self.ring.state.r.tail.store(self.tail.word(), SeqCst);
            if commit == Commit::Taken {
                fault::point("ring.pop.committed");
                self.ring
                    .trace(crate::trace::End::Received, self.tail.count);
            }
            let r = &self.ring.state.r;
            wait::wake(&r.room_seq, &r.room_asleep);
        }
    }

    /// Waits for a committed chunk at `pos`; returns the head's offset, or `None` at the
    /// deadline. Between sleeps, if the writer has a message open and nothing more of it is
    /// committed, tries the write lock: taking it means the writer is gone, and withdraws
    /// its message.
    fn wait_for_chunk(&mut self, deadline: Option<Instant>) -> Result<Option<u32>, RingError> {
        let s = &*self.ring.state;
        let pos = self.pos;
        // The last head seen is enough while the reader is behind it.
        let seen = s.r.head_seen.load(Relaxed);
        if seen != pos && seen.wrapping_sub(pos) <= self.ring.bytes.capacity() {
            return Ok(Some(seen));
        }
        let mut head_at = pos;
        let ready = || {
            head_at = Committed::from_word(s.w.head.load(SeqCst)).at;
            // Stored before the tail moves up to it, so that it never falls behind the tail.
            s.r.head_seen.store(head_at, Relaxed);
            head_at != pos
        };
        let ring = self.ring;
        let between = || {
            let head = Committed::from_word(s.w.head.load(SeqCst));
            if head.in_message && head.at == pos {
                drop(Writer::try_lock(ring)?);
            }
            Ok(())
        };
        let sleep = wait::Sleep {
            seq: &s.w.data_seq,
            asleep: &s.w.data_asleep,
            woken: "ring.pop.woken",
        };
        Ok(sleep.until(deadline, ready, between)?.then_some(head_at))
    }

    /// The deadline passed inside `message`. A message larger than the ring keeps its part
    /// and the lock for this thread's next pop; anything else is left as it is in the ring.
    fn timed_out(mut self, message: Message, dest: &mut Dest<'_>) -> Result<usize, RingError> {
        match message {
            Message::Inside { plan, got } if plan.mode == Mode::Streamed => {
                let (head, body) = dest.save();
                let ring = self.ring;
                *ring.partial.lock().unwrap_or_else(|e| e.into_inner()) = Some(Partial {
                    thread: super::this_thread(),
                    plan,
                    got,
                    head,
                    body,
                });
                ring.has_partial.store(true, Relaxed);
                self.keep_lock = true;
            }
            _ => dest.start(0),
        }
        Err(RingError::Empty)
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if !self.keep_lock {
            self.ring.state.r.lock.unlock();
        }
    }
}
