//! Named shared memory: Python's `multiprocessing.shared_memory` (`SharedMemory` and
//! `ShareableList`), compatible with Python's own segments, and never leaked.
//!
//! A [`SharedMemory`] is a file in `/dev/shm` (POSIX shared memory, what `shm_open` opens)
//! that any process may attach to by its name, including one that is not a child of the
//! creator and a Python program. A [`ShareableList`] is a fixed-length list of Python values
//! in one such segment, in Python's byte layout.
//!
//! The unnamed shared memory of [`crate::shm`] is simpler when every user is a child of the
//! creator; a name is for processes that find each other some other way.
//!
//! # Python ↔ Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `SharedMemory(create=True, size=n)` | [`SharedMemory::create(n)`](SharedMemory::create) |
//! | `SharedMemory("x", create=True, size=n)` | [`SharedMemory::create_named("x", n)`](SharedMemory::create_named) |
//! | `SharedMemory(..., track=False)` (3.13) | [`SharedMemory::options()`](SharedMemory::options)`.track(false).create(n)` |
//! | `SharedMemory("x")` | [`SharedMemory::attach("x")`](SharedMemory::attach) |
//! | `shm.name`, `shm.size` | [`name()`](SharedMemory::name), [`size()`](SharedMemory::size) |
//! | `shm.buf[i]`, `shm.buf[i] = b` | [`buf()`](SharedMemory::buf)`[i].load(..)`, `.store(b, ..)` |
//! | `bytes(shm.buf[a:b])`, `shm.buf[a:b] = data` | [`read_at`](SharedMemory::read_at), [`write_at`](SharedMemory::write_at) |
//! | `bytes(shm.buf)` | [`to_vec()`](SharedMemory::to_vec) |
//! | `memoryview` at full speed | `unsafe` [`as_bytes`](SharedMemory::as_bytes), [`as_bytes_mut`](SharedMemory::as_bytes_mut) |
//! | `shm.close()` | [`close()`](SharedMemory::close), or drop the handle |
//! | `shm.unlink()` | [`unlink()`](SharedMemory::unlink) |
//! | pickling `shm` into `Process(args=...)` | pass it (or [`try_clone()`](SharedMemory::try_clone)) as an argument |
//! | `ShareableList([1, 'a', None])` | [`ShareableList::new(&[1.into(), "a".into(), ().into()])`](ShareableList::new) |
//! | `ShareableList(seq, name="x")` | [`ShareableList::create_named("x", &seq)`](ShareableList::create_named) |
//! | `ShareableList(name="x")` | [`ShareableList::attach("x")`](ShareableList::attach) |
//! | `sl[i]`, `sl[i] = v` | [`get(i)`](ShareableList::get), [`set(i, v)`](ShareableList::set) |
//! | `len(sl)`, `list(sl)`, `sl.format` | [`len()`](ShareableList::len), [`to_vec()`](ShareableList::to_vec), [`format()`](ShareableList::format) |
//! | `sl.count(v)`, `sl.index(v)` | [`count(&v)`](ShareableList::count), [`index(&v)`](ShareableList::index) (`None` for `ValueError`) |
//! | `sl.shm` | [`shm()`](ShareableList::shm) |
//! | `FileExistsError`, `FileNotFoundError` | [`SharedMemoryError::Exists`], [`SharedMemoryError::NotFound`] |
//!
//! # Names
//!
//! As in Python: a fresh segment is named `psm_` and 8 random hex digits; a name given by the
//! user may carry a leading `/` or not (`shm_open` drops it), and [`SharedMemory::name`]
//! gives it without one. A segment made by Python's `SharedMemory` is attached here by the
//! name Python prints, and the other way round; so is a [`ShareableList`].
//!
//! # Lifetime: removed when its last user is gone, however it ended
//!
//! A named segment outlives the processes that made it unless someone removes its name:
//! after a crash, it stays in `/dev/shm`, holding its memory, until the machine restarts.
//! Python's answer is its *resource tracker*: a process of the program's process group that
//! holds a pipe from every process of the program and, once the pipe's last writer is gone
//! (the program ended, killed or not), unlinks the segments registered with it. Its gaps: a
//! kill of the whole process group (`kill -9 -PGID`, a supervisor stopping the program)
//! takes the tracker too, and its segments leak ("Some resources might leak", it warns when
//! it finds itself restarted); a segment lives until the whole program ends, however early
//! its last user let go; and a segment that another Python program attaches to is registered
//! with *that* program's tracker too, which unlinks it when that program ends, while its
//! creator still uses it (Python 3.13 added `track=False` for this).
//!
//! Here, a segment lives exactly as long as some process uses it, or until
//! [`unlink`](SharedMemory::unlink):
//!
//! - every handle holds a shared `flock` on the segment's file. Such a lock belongs to the
//!   open file description, which lives as long as any descriptor or *mapping* of it exists,
//!   in any process (a forked child that inherited the handle, a spawned child it was passed
//!   to); the kernel drops it when the last one closes, at a normal end or at `SIGKILL` alike;
//! - the creator starts a small *watcher* process in its own session (so a Ctrl-C or a kill
//!   of the program's process group does not reach it) that waits, blocked, for an exclusive
//!   `flock` on the same file. The kernel grants it exactly when the last shared lock is gone,
//!   and the watcher then unlinks the name (see the `watcher` source for how it is started);
//! - the creator builds the segment unnamed (`O_TMPFILE`), sizes it, takes its shared lock,
//!   starts the watcher and only then gives the file its name (`linkat`): a killed creator
//!   leaves either nothing or a named, watched segment, and nobody ever attaches to a segment
//!   that is not yet sized.
//!
//! So, compared with Python's tracker: a segment goes as soon as its last user is gone, not
//! at the end of the program; a kill of the program's process group, of the creator or of any
//! user leaks nothing; a segment is never unlinked while one of our processes still uses it;
//! attaching registers nothing; and each segment has its own watcher, so no single process
//! holds every segment's cleanup.
//!
//! What differs from Python, and what remains:
//!
//! - **Closing every handle removes a watched segment.** Python keeps a segment after
//!   `close()` until `unlink()` or the end of the program; here, once no process has it open,
//!   it is gone, so attach to it before the last handle closes. Create it with
//!   [`track(false)`](CreateOptions::track) to keep it until an explicit `unlink`, as Python
//!   3.13's `track=False` does (and then it is as leak-prone as Python's).
//! - **Python processes do not count as users**: they take no lock. A segment made here and
//!   attached by a Python program loses its *name* when our last handle closes; Python's
//!   mapping keeps working. (Python 3.11 and 3.12 also unlink a segment they merely attached
//!   when the attaching program ends, through their tracker; unregister it there, or use
//!   3.13's `track=False`.)
//! - **A segment made by Python** has no watcher: attaching and closing it here never removes
//!   it; [`unlink`](SharedMemory::unlink) does, if asked.
//! - **If the watcher itself is killed** (`kill -9` of its pid, the OOM killer), the name is
//!   not removed once the users are gone: the segment stays until someone unlinks it, as a
//!   Python segment would.
//! - **A name reused at the same instant**: the watcher checks that the name still leads to
//!   its file before it unlinks, but the check and the unlink are two system calls. A segment
//!   that was explicitly unlinked and re-created under the same name by another process in
//!   the microseconds between them would lose its name.
//!
//! ## Attaching while the last user leaves
//!
//! An attacher opens the file, then takes its shared lock without waiting, then checks that
//! the name still leads to the file it locked:
//!
//! - if the watcher already holds the exclusive lock (the segment has no users and is being
//!   removed), the shared lock is refused and [`attach`](SharedMemory::attach) reports
//!   [`Removed`](SharedMemoryError::Removed);
//! - if the watcher took the lock and unlinked the name between the attacher's open and its
//!   lock, the attacher holds a lock on a file without a name: the check sees it and reports
//!   `Removed` too;
//! - once the attacher holds its lock and the check passed, the watcher cannot get the
//!   exclusive lock, so the name stays until the attacher (and every other user) is gone.
//!
//! No attacher is ever left holding a segment that is then removed under it without being
//! told. A watcher that is still *waiting* for its lock never stands in an attacher's way:
//! `flock` grants shared locks while an exclusive request waits.
//!
//! # Passing a segment to a child
//!
//! Under fork, a child inherits the handle itself (the mapping and the descriptor, and so
//! the lock). Under spawn and forkserver, a [`SharedMemory`] or [`ShareableList`] given as an
//! argument travels as its descriptor (see [`crate::share`]), so the child needs no name
//! lookup and shares the parent's lock; Python's pickle re-attaches by name instead.

mod list;
mod name;
mod segment;
mod watcher;

pub use list::{Item, ShareableList};
pub use segment::{CreateOptions, SharedMemory};

/// Why a shared memory operation failed. The variants name Python's exceptions where there
/// is one.
#[derive(Debug, thiserror::Error)]
pub enum SharedMemoryError {
    /// The name is not one `shm_open` accepts (Python's `OSError: [Errno 22]`).
    #[error("invalid shared memory name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A size of 0 was asked for (Python's `ValueError`).
    #[error("the size of a new shared memory segment must be positive")]
    InvalidSize,
    /// A segment of that name exists already (Python's `FileExistsError`).
    #[error("shared memory {name:?} exists already")]
    Exists {
        /// The segment's name.
        name: String,
    },
    /// No segment has that name, or it names another segment than this handle's (Python's
    /// `FileNotFoundError`).
    #[error("no shared memory named {name:?}")]
    NotFound {
        /// The segment's name.
        name: String,
    },
    /// The segment's last user left while this process attached, and its watcher is removing
    /// it (Python would raise `FileNotFoundError` a moment later).
    #[error("shared memory {name:?} is being removed: every process using it has ended")]
    Removed {
        /// The segment's name.
        name: String,
    },
    /// The segment's file is empty, so it cannot be mapped (Python's `ValueError: cannot mmap
    /// an empty file`).
    #[error("shared memory {name:?} is empty")]
    Empty {
        /// The segment's name.
        name: String,
    },
    /// The watcher that removes a segment after its last user could not be started.
    #[error("cannot start the watcher of shared memory {name:?}: {source}")]
    Watcher {
        /// The segment's name.
        name: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A byte range passes the end of the segment.
    #[error("bytes {offset}..{offset}+{len} are outside a segment of {size} bytes")]
    OutOfRange {
        /// Where the range starts.
        offset: usize,
        /// Its length.
        len: usize,
        /// The segment's size.
        size: usize,
    },
    /// An index past the end of a [`ShareableList`] (Python's `IndexError`).
    #[error("index {index} out of range for a list of {len} items")]
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// A `str` or `bytes` longer than its place in a [`ShareableList`] (Python's
    /// `ValueError: bytes/str item exceeds available storage`).
    #[error("item {index}: {len} bytes do not fit its {room} bytes of storage")]
    TooLong {
        /// The item's index.
        index: usize,
        /// The value's length in bytes.
        len: usize,
        /// The room there is.
        room: usize,
    },
    /// A `str` item of a [`ShareableList`] holds bytes that are not UTF-8 (Python's
    /// `UnicodeDecodeError`): a torn write, or a foreign writer.
    #[error("item {index} is not UTF-8 text")]
    NotUtf8 {
        /// The item's index.
        index: usize,
    },
    /// A segment does not hold a [`ShareableList`] in Python's layout.
    #[error("shared memory {name:?} does not hold a ShareableList: {why}")]
    Corrupt {
        /// The segment's name.
        name: String,
        /// What does not fit.
        why: String,
    },
    /// A system call failed.
    #[error("{call} failed for shared memory {name:?}: {source}")]
    Os {
        /// The call that failed.
        call: &'static str,
        /// The segment's name.
        name: String,
        /// The error the kernel gave.
        #[source]
        source: std::io::Error,
    },
}

impl SharedMemoryError {
    fn os(call: &'static str, name: &str, source: std::io::Error) -> Self {
        SharedMemoryError::Os {
            call,
            name: name.to_string(),
            source,
        }
    }
}
