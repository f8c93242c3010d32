//! The ring's bytes: copies in and out at wrapping offsets, from a message given in parts and
//! into a message split between a small head and a growing body.

use crate::shm::RawMapping;

/// The ring's bytes: a shared mapping of `capacity` bytes, a power of two.
pub(super) struct Bytes {
    map: RawMapping,
    mask: u32,
}

impl Bytes {
    pub(super) fn new(capacity: u32) -> std::io::Result<Self> {
        Ok(Self {
            map: RawMapping::new(capacity as usize)?,
            mask: capacity - 1,
        })
    }

    /// The bytes of a ring another process made: a mapping whose length is a power of two
    /// the ring accepts.
    pub(super) fn from_mapping(map: RawMapping) -> std::io::Result<Self> {
        let len = map.len();
        if !len.is_power_of_two() || !(super::MIN_CAPACITY..=super::MAX_CAPACITY).contains(&len) {
            return Err(std::io::Error::other(format!(
                "a ring's bytes cannot be {len} long"
            )));
        }
        Ok(Self {
            mask: len as u32 - 1,
            map,
        })
    }

    /// The mapping, to pass to another process.
    pub(super) fn map(&self) -> &RawMapping {
        &self.map
    }

    pub(super) fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// Splits `len` bytes from offset `at` into the run up to the end of the mapping and the
    /// run that wraps to its start: `(start, first, rest)`.
    fn runs(&self, at: u32, len: usize) -> (usize, usize, usize) {
        let start = (at & self.mask) as usize;
        let first = len.min(self.capacity() as usize - start);
        debug_assert!(len <= self.map.len());
        (start, first, len - first)
    }

    /// Copies `src` into the ring at offset `at` (wrapping).
    ///
    /// Only for bytes that the caller's side of the protocol owns: the writer, between the
    /// committed head and the tail it has seen.
    pub(super) fn write(&self, at: u32, src: &[u8]) {
        let (start, first, rest) = self.runs(at, src.len());
        let base = self.map.as_ptr();
        // SAFETY: `start + first <= capacity` and `rest <= start` (a run is never longer than
        // the ring), so both copies stay inside the mapping; `src` is the caller's own memory,
        // distinct from the mapping; the protocol keeps every other process off these bytes
        // (no reader reads past the committed head).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(start), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), base, rest);
        }
    }

    /// Copies `len` bytes at offset `at` (wrapping) to the end of `out`, without zeroing the
    /// room first.
    ///
    /// Only for bytes the caller's side owns: the reader, between the tail and the committed
    /// head.
    pub(super) fn read_into(&self, at: u32, len: usize, out: &mut Vec<u8>) {
        out.reserve(len);
        let (start, first, rest) = self.runs(at, len);
        let base = self.map.as_ptr();
        let old = out.len();
        // SAFETY: both source runs stay inside the mapping (as in `write`); `reserve` made room
        // for `len` more bytes after `old`, so both destination runs lie in `out`'s spare
        // capacity, which no one else can see; the protocol keeps writers off the source bytes
        // (none writes before the committed tail). After the copies the `len` bytes are
        // initialised, and only then is the length set.
        unsafe {
            let dst = out.as_mut_ptr().add(old);
            std::ptr::copy_nonoverlapping(base.add(start), dst, first);
            std::ptr::copy_nonoverlapping(base, dst.add(first), rest);
            out.set_len(old + len);
        }
    }

    /// Copies the bytes at offset `at` (wrapping) into `out`, all of it.
    pub(super) fn read(&self, at: u32, out: &mut [u8]) {
        let (start, first, rest) = self.runs(at, out.len());
        let base = self.map.as_ptr();
        // SAFETY: as in `read_into`, both runs stay inside the mapping and `out` is the
        // caller's own buffer of exactly `first + rest` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(base, out.as_mut_ptr().add(first), rest);
        }
    }

    /// A header or prefix word at `at`.
    pub(super) fn read_u32(&self, at: u32) -> u32 {
        let mut b = [0; 4];
        self.read(at, &mut b);
        u32::from_le_bytes(b)
    }

    pub(super) fn read_u64(&self, at: u32) -> u64 {
        let mut b = [0; 8];
        self.read(at, &mut b);
        u64::from_le_bytes(b)
    }
}

/// A message given as consecutive parts (`writev`-style), read from front to back.
pub(super) struct Source<'a> {
    parts: &'a [&'a [u8]],
    /// The part being read and the offset in it.
    index: usize,
    offset: usize,
}

impl<'a> Source<'a> {
    pub(super) fn new(parts: &'a [&'a [u8]]) -> Self {
        Self {
            parts,
            index: 0,
            offset: 0,
        }
    }

    /// Copies the next `len` bytes into the ring at `at`.
    pub(super) fn copy_to(&mut self, bytes: &Bytes, mut at: u32, mut len: usize) {
        while len > 0 {
            let part = &self.parts[self.index][self.offset..];
            let n = part.len().min(len);
            bytes.write(at, &part[..n]);
            at = at.wrapping_add(n as u32);
            len -= n;
            self.offset += n;
            if self.offset == self.parts[self.index].len() {
                self.index += 1;
                self.offset = 0;
            }
        }
    }
}

/// From this size on, a body's memory is a fresh mapping of its own (glibc maps allocations
/// above 32 MiB separately), and faulting it in 4 KiB pages costs more than the copy into it.
const HUGE_BODY: usize = 32 << 20;

/// Asks the kernel to back `body`'s spare capacity with 2 MiB pages where it can (Linux's
/// transparent huge pages in `madvise` mode): one fault per 2 MiB instead of 512. It is
/// advice only: whether the kernel follows it changes speed, never contents.
fn advise_huge_pages(body: &mut Vec<u8>) {
    const HUGE: usize = 2 << 20;
    let spare = body.spare_capacity_mut();
    let start = spare.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + spare.len()) / HUGE * HUGE;
    if end > first {
        // SAFETY: `[first, end)` lies inside `body`'s own allocation (its spare capacity),
        // which nothing else refers to; MADV_HUGEPAGE neither frees nor changes memory, so
        // the allocation stays valid and its bytes (not yet written) stay as they are. An
        // error (no transparent huge pages in this kernel) only means the advice is ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

/// Where a message is read to: its first bytes into `head` (a fixed buffer, possibly empty),
/// the rest appended to `body` (`readv`-style).
pub(super) struct Dest<'a> {
    pub(super) head: &'a mut [u8],
    /// The bytes of `head` filled so far.
    pub(super) filled: usize,
    pub(super) body: &'a mut Vec<u8>,
}

impl<'a> Dest<'a> {
    pub(super) fn new(head: &'a mut [u8], body: &'a mut Vec<u8>) -> Self {
        body.clear();
        Self {
            head,
            filled: 0,
            body,
        }
    }

    /// Empties the message and makes room for one of `len` bytes (which the caller has
    /// checked against its limit).
    pub(super) fn start(&mut self, len: usize) {
        self.filled = 0;
        self.body.clear();
        self.body.reserve_exact(len.saturating_sub(self.head.len()));
        if self.body.capacity() >= HUGE_BODY {
            advise_huge_pages(self.body);
        }
    }

    /// Appends `len` bytes from the ring at `at`.
    pub(super) fn append(&mut self, bytes: &Bytes, mut at: u32, mut len: usize) {
        let n = (self.head.len() - self.filled).min(len);
        if n > 0 {
            bytes.read(at, &mut self.head[self.filled..self.filled + n]);
            self.filled += n;
            at = at.wrapping_add(n as u32);
            len -= n;
        }
        if len > 0 {
            bytes.read_into(at, len, self.body);
        }
    }

    /// Moves the message so far out (to be kept while its reader waits for the rest).
    pub(super) fn save(&mut self) -> (Vec<u8>, Vec<u8>) {
        let head = self.head[..self.filled].to_vec();
        self.filled = 0;
        (head, std::mem::take(self.body))
    }

    /// Puts back a message saved by [`save`](Dest::save), whatever this destination's head
    /// length (a body of the same split is moved, not copied).
    pub(super) fn restore(&mut self, head: &[u8], body: Vec<u8>) {
        self.filled = 0;
        self.body.clear();
        if head.len() == self.head.len() {
            self.head.copy_from_slice(head);
            self.filled = head.len();
            *self.body = body;
            return;
        }
        for part in [head, &body[..]] {
            let n = (self.head.len() - self.filled).min(part.len());
            self.head[self.filled..self.filled + n].copy_from_slice(&part[..n]);
            self.filled += n;
            self.body.extend_from_slice(&part[n..]);
        }
    }
}
