//! [`SharedMemory`]: one named segment, its descriptor, its shared lock and its mapping.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use nix::fcntl::AtFlags;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::name::{self, SHM_DIR};
use super::{SharedMemoryError, watcher};
use crate::fault;
use crate::share::SharedFd;

/// How many times [`SharedMemory::attach`] follows a name that was given to a newer segment
/// while it was attaching, before it reports the segment removed.
const ATTACH_TRIES: usize = 3;

/// A named block of shared memory: Python's `multiprocessing.shared_memory.SharedMemory`.
///
/// See the [module documentation](super) for the whole story: names, Python compatibility,
/// how a segment is removed when its last user is gone, and the Python ↔ Rust table.
///
/// # Reading and writing the bytes
///
/// Other processes may write the bytes at any moment, so this handle never lends them out as
/// a plain `&[u8]` or `&mut [u8]` in safe code. Instead:
///
/// - [`buf`](SharedMemory::buf) is the whole segment as `&[AtomicU8]` (Python's `shm.buf`):
///   any byte may be loaded or stored at any time, from any thread or process;
/// - [`read_at`](SharedMemory::read_at) and [`write_at`](SharedMemory::write_at) copy a range
///   out or in (Python's `bytes(shm.buf[a:b])` and `shm.buf[a:b] = data`), one atomic byte
///   at a time (1 to 2 GB/s measured, a few times slower than a plain copy);
/// - [`as_bytes`](SharedMemory::as_bytes) and [`as_bytes_mut`](SharedMemory::as_bytes_mut)
///   are plain slices for `unsafe` code that knows nobody else writes (or reads) meanwhile.
///
/// No ordering is implied between bytes: to hand data over to another process, pair the
/// writes with a lock, or publish them with a `Release` store that the reader loads with
/// `Acquire`.
///
/// # Crashes that Python shares
///
/// A process that shrinks the file (`ftruncate`) under a mapping makes every process that then
/// touches the lost pages die with `SIGBUS`; so does writing to a segment when `/dev/shm` is
/// full (its pages are only allocated when first written). Python's `SharedMemory` behaves
/// the same way.
///
/// # Example
///
/// ```
/// use ipc_common::Process;
/// use ipc_common::shared_memory::SharedMemory;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let shm = SharedMemory::create(16)?; // SharedMemory(create=True, size=16)
/// let name = shm.name().to_string();
/// let child = Process::start("writer", || {
///     // Attach by name, as another program would: SharedMemory(name).
///     let other = SharedMemory::attach(&name).expect("attach");
///     other.write_at(0, b"hello").expect("write");
/// })?;
/// assert_eq!(child.join()?, 0);
/// let mut got = [0u8; 5];
/// shm.read_at(0, &mut got)?;
/// assert_eq!(&got, b"hello");
/// shm.unlink()?; // remove the name now, as Python's unlink() does
/// # Ok(()) }
/// ```
pub struct SharedMemory {
    name: String,
    map: Mapping,
    /// Open read-write; its open file description holds a shared `flock` for as long as it,
    /// a duplicate of it, or a mapping made from it exists in any process.
    fd: OwnedFd,
    id: FileId,
    watcher: Option<u32>,
}

impl SharedMemory {
    /// A new segment of `size` bytes, all zero, under a fresh name `psm_xxxxxxxx` (Python's
    /// `SharedMemory(create=True, size=size)`), watched so that it is removed once every
    /// process using it is gone. See [`options`](SharedMemory::options) for more choices.
    ///
    /// # Errors
    ///
    /// [`InvalidSize`](SharedMemoryError::InvalidSize) for `size == 0`,
    /// [`Watcher`](SharedMemoryError::Watcher) if the watcher cannot be started,
    /// [`Os`](SharedMemoryError::Os) if the kernel refuses.
    pub fn create(size: usize) -> Result<Self, SharedMemoryError> {
        Self::options().create(size)
    }

    /// A new segment of `size` bytes named `name` (Python's
    /// `SharedMemory(name, create=True, size=size)`).
    ///
    /// # Errors
    ///
    /// As [`create`](SharedMemory::create), and [`Exists`](SharedMemoryError::Exists) if the
    /// name is taken (Python's `FileExistsError`), [`InvalidName`](SharedMemoryError::InvalidName)
    /// for a name `shm_open` refuses.
    pub fn create_named(name: &str, size: usize) -> Result<Self, SharedMemoryError> {
        Self::options().name(name).create(size)
    }

    /// Choices for a new segment: a name, and whether it is watched (Python 3.13's `track`).
    pub fn options() -> CreateOptions {
        CreateOptions {
            name: None,
            track: true,
        }
    }

    /// Attaches to the existing segment `name` (Python's `SharedMemory(name)`): made by this
    /// library, by Python, or by any program that uses `shm_open`. Its size is the size of its
    /// file. Attaching never removes anything later: only [`unlink`](SharedMemory::unlink) or
    /// the creator's watcher does.
    ///
    /// # Errors
    ///
    /// [`NotFound`](SharedMemoryError::NotFound) if no segment has that name (Python's
    /// `FileNotFoundError`); [`Removed`](SharedMemoryError::Removed) if the segment's last
    /// user left while it attached, so its watcher is removing it;
    /// [`Empty`](SharedMemoryError::Empty) for a segment of size 0 (Python's `ValueError`);
    /// [`InvalidName`](SharedMemoryError::InvalidName), [`Os`](SharedMemoryError::Os).
    pub fn attach(name: &str) -> Result<Self, SharedMemoryError> {
        let name = name::normalize(name)?;
        let path = name::path(&name);
        let os = |call, source| SharedMemoryError::os(call, &name, source);
        for _ in 0..ATTACH_TRIES {
            // Step 1: open the file behind the name: a new open file description of our own.
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(SharedMemoryError::NotFound { name });
                }
                Err(e) => return Err(os("open", e)),
            };
            fault::point("shared_memory.attach.opened");
            // Step 2: count ourselves as a user. A watcher takes its exclusive lock only when
            // no shared lock is left, and unlinks the name right after: if it holds it, the
            // segment has no users and is being removed. (A watcher that is still waiting does
            // not stand in our way: flock grants a shared lock while an exclusive one waits.)
            match flock(file.as_fd(), libc::LOCK_SH | libc::LOCK_NB) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                    return Err(SharedMemoryError::Removed { name });
                }
                Err(e) => return Err(os("flock", e)),
            }
            // Step 3: the name must still lead to the file we locked. If the watcher took its
            // lock and unlinked the name between our open and our lock, we hold a lock on a
            // file nobody can find any more: report it gone. If the name now leads to a newer
            // segment, attach to that one instead.
            let id = FileId::of(&file).map_err(|e| os("fstat", e))?;
            match FileId::of_path(&path).map_err(|e| os("stat", e))? {
                Some(now) if now == id => {}
                Some(_) => continue,
                None => return Err(SharedMemoryError::Removed { name }),
            }
            // Step 4: map the whole file.
            let size = file.metadata().map_err(|e| os("fstat", e))?.len();
            let size = usize::try_from(size).map_err(|e| os("fstat", io::Error::other(e)))?;
            let map = Mapping::new(file.as_fd(), size).map_err(|e| match e {
                MapError::Empty => SharedMemoryError::Empty { name: name.clone() },
                MapError::Os(e) => os("mmap", e),
            })?;
            return Ok(Self {
                name,
                map,
                fd: file.into(),
                id,
                watcher: None,
            });
        }
        Err(SharedMemoryError::Removed { name })
    }

    /// The segment's name without the leading `/` (Python's `name`); another process attaches
    /// with it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes (Python's `size`): on Linux exactly the size it was created with,
    /// since the file is not rounded up to pages (macOS rounds, Linux does not).
    pub fn size(&self) -> usize {
        self.map.len
    }

    /// The whole segment, each byte an atomic (Python's `shm.buf`): sound to read and write
    /// from any thread or process at any moment.
    ///
    /// ```
    /// use std::sync::atomic::Ordering::Relaxed;
    /// use ipc_common::shared_memory::SharedMemory;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let shm = SharedMemory::create(4)?;
    /// shm.buf()[0].store(42, Relaxed); // shm.buf[0] = 42
    /// assert_eq!(shm.buf()[0].load(Relaxed), 42);
    /// assert_eq!(shm.buf().len(), 4);
    /// # Ok(()) }
    /// ```
    pub fn buf(&self) -> &[AtomicU8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, and stays mapped as long
        // as `self` lives; `AtomicU8` has the size and alignment of a byte and every bit
        // pattern is valid, so whatever another process writes there is a valid value; every
        // access through the slice is atomic, so concurrent writers are no data race.
        unsafe {
            std::slice::from_raw_parts(self.map.ptr.as_ptr().cast::<AtomicU8>(), self.map.len)
        }
    }

    /// Copies `out.len()` bytes starting at `offset` into `out` (Python's
    /// `bytes(shm.buf[offset:offset + len(out)])`), one atomic byte at a time: sound while
    /// others write, though a range written meanwhile may mix old and new bytes.
    ///
    /// # Errors
    ///
    /// [`OutOfRange`](SharedMemoryError::OutOfRange) if the range passes the end.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), SharedMemoryError> {
        let bytes = self.range(offset, out.len())?;
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = b.load(Relaxed);
        }
        Ok(())
    }

    /// Copies `data` into the segment starting at `offset` (Python's
    /// `shm.buf[offset:offset + len(data)] = data`), one atomic byte at a time.
    ///
    /// # Errors
    ///
    /// [`OutOfRange`](SharedMemoryError::OutOfRange) if the range passes the end.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), SharedMemoryError> {
        let bytes = self.range(offset, data.len())?;
        for (b, &d) in bytes.iter().zip(data) {
            b.store(d, Relaxed);
        }
        Ok(())
    }

    /// A copy of the whole segment (Python's `bytes(shm.buf)`).
    pub fn to_vec(&self) -> Vec<u8> {
        self.buf().iter().map(|b| b.load(Relaxed)).collect()
    }

    fn range(&self, offset: usize, len: usize) -> Result<&[AtomicU8], SharedMemoryError> {
        offset
            .checked_add(len)
            .and_then(|end| self.buf().get(offset..end))
            .ok_or(SharedMemoryError::OutOfRange {
                offset,
                len,
                size: self.size(),
            })
    }

    /// The segment as a plain byte slice, for code that reads it at memory speed.
    ///
    /// # Safety
    ///
    /// While the returned slice lives, no thread of any process may write the segment: not
    /// through this or another handle, not through [`buf`](SharedMemory::buf) in another
    /// thread, not by another program. (For example: the writers have finished and said so
    /// through a lock or a queue, and will not write again until told.)
    pub unsafe fn as_bytes(&self) -> &[u8] {
        // SAFETY: mapped for the life of `self`; the caller promises that nobody writes the
        // bytes while the shared borrow lives.
        unsafe { std::slice::from_raw_parts(self.map.ptr.as_ptr(), self.map.len) }
    }

    /// The segment as a plain mutable byte slice, for code that fills it at memory speed.
    ///
    /// # Safety
    ///
    /// While the returned slice lives, no other thread or process may read or write the
    /// segment, through any handle or mapping (this one's `&mut` only rules out this handle).
    pub unsafe fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: mapped for the life of `self`; `&mut self` rules out other borrows of this
        // handle and the caller promises that no other access happens meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.map.ptr.as_ptr(), self.map.len) }
    }

    /// Another handle to the same segment (a duplicate descriptor and a second mapping), to
    /// give to a child while keeping this one. Both count as one user: the segment lives while
    /// either does.
    ///
    /// # Errors
    ///
    /// [`Os`](SharedMemoryError::Os) when out of descriptors or address space.
    pub fn try_clone(&self) -> Result<Self, SharedMemoryError> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| SharedMemoryError::os("dup", &self.name, e))?;
        let map = Mapping::new(fd.as_fd(), self.map.len).map_err(|e| e.into_error(&self.name))?;
        Ok(Self {
            name: self.name.clone(),
            map,
            fd,
            id: self.id,
            watcher: self.watcher,
        })
    }

    /// Closes this handle: unmaps the segment and closes its descriptor (Python's `close()`;
    /// dropping the handle does the same, without reporting errors). The segment itself lives
    /// on while other handles, in this process or others, have it open; once none has, its
    /// watcher removes it.
    ///
    /// # Errors
    ///
    /// [`Os`](SharedMemoryError::Os) if `munmap` fails (only for an address-space problem).
    pub fn close(self) -> Result<(), SharedMemoryError> {
        let Self { name, map, fd, .. } = self;
        map.unmap()
            .map_err(|e| SharedMemoryError::os("munmap", &name, e))?;
        drop(fd);
        Ok(())
    }

    /// Removes the segment's name now (Python's `unlink()`): nobody can attach any more, and
    /// the memory is freed once every handle is closed. Handles already open keep working.
    ///
    /// Only the name of *this* segment is removed: if the name now belongs to a newer segment
    /// (this one was unlinked and the name reused), nothing is removed. (The check comes just
    /// before the unlink, two system calls apart; see the [module docs](super) on a name
    /// reused at that very instant.)
    ///
    /// # Errors
    ///
    /// [`NotFound`](SharedMemoryError::NotFound) if the name is gone or names another segment
    /// (Python's `FileNotFoundError`); [`Os`](SharedMemoryError::Os).
    pub fn unlink(&self) -> Result<(), SharedMemoryError> {
        let path = name::path(&self.name);
        let not_found = || SharedMemoryError::NotFound {
            name: self.name.clone(),
        };
        match FileId::of_path(&path).map_err(|e| SharedMemoryError::os("stat", &self.name, e))? {
            Some(id) if id == self.id => {}
            _ => return Err(not_found()),
        }
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found()),
            Err(e) => Err(SharedMemoryError::os("unlink", &self.name, e)),
        }
    }

    /// The process id of the segment's watcher, in the process that created it with one.
    #[doc(hidden)]
    pub fn watcher_pid(&self) -> Option<u32> {
        self.watcher
    }
}

impl fmt::Debug for SharedMemory {
    /// Like Python's repr: `SharedMemory('psm_1a2b3c4d', size=16)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedMemory({:?}, size={})", self.name, self.size())
    }
}

impl Serialize for SharedMemory {
    /// As an argument of a process start: the descriptor travels (so the child holds the same
    /// shared lock and needs no name lookup, and it works even after `unlink`), with the name.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = SharedFd::duplicate(self.fd.as_fd()).map_err(serde::ser::Error::custom)?;
        (fd, &self.name).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (fd, name) = <(SharedFd, String)>::deserialize(deserializer)?;
        let file = File::from(fd.0);
        let meta = file.metadata().map_err(de::Error::custom)?;
        let size = usize::try_from(meta.len()).map_err(de::Error::custom)?;
        let map =
            Mapping::new(file.as_fd(), size).map_err(|e| de::Error::custom(e.into_error(&name)))?;
        Ok(Self {
            id: FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            name,
            map,
            fd: file.into(),
            watcher: None,
        })
    }
}

/// Choices for a new segment: made by [`SharedMemory::options`].
///
/// ```
/// use ipc_common::shared_memory::SharedMemory;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let name = format!("doc_options_{}", std::process::id());
/// let shm = SharedMemory::options().name(&name).create(64)?;
/// assert_eq!(shm.name(), name);
/// shm.unlink()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "nothing is created until `create` is called"]
pub struct CreateOptions {
    name: Option<String>,
    track: bool,
}

impl CreateOptions {
    /// The segment's name (Python's `name=`); a fresh `psm_xxxxxxxx` without one. A leading
    /// `/` is dropped, as `shm_open` drops it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether a watcher removes the segment once every process using it is gone (the
    /// default, `true`). With `false` (Python 3.13's `track=False`) the segment stays in
    /// `/dev/shm` until someone calls [`unlink`](SharedMemory::unlink), even after every
    /// process has ended: for a segment meant to outlive this program.
    pub fn track(mut self, track: bool) -> Self {
        self.track = track;
        self
    }

    /// Creates the segment, `size` bytes of zeros (Python's `create=True, size=size`).
    ///
    /// # Errors
    ///
    /// See [`SharedMemory::create`] and [`SharedMemory::create_named`].
    pub fn create(&self, size: usize) -> Result<SharedMemory, SharedMemoryError> {
        self.create_with(size, &[])
    }

    /// Creates the segment holding `contents` at its start (zeros after them), written before
    /// the segment gets its name, so that nobody can attach to it half-written.
    pub(crate) fn create_with(
        &self,
        size: usize,
        contents: &[u8],
    ) -> Result<SharedMemory, SharedMemoryError> {
        debug_assert!(contents.len() <= size);
        if size == 0 {
            return Err(SharedMemoryError::InvalidSize);
        }
        let given = self.name.as_deref().map(name::normalize).transpose()?;
        loop {
            let name = match &given {
                Some(name) => name.clone(),
                None => name::random()?,
            };
            match create_once(&name, size, contents, self.track)? {
                Some(shm) => return Ok(shm),
                // A generated name that someone else took in the meantime: draw another.
                None if given.is_none() => continue,
                None => return Err(SharedMemoryError::Exists { name }),
            }
        }
    }
}

/// One attempt at creating segment `name`; `Ok(None)` if the name is taken.
fn create_once(
    name: &str,
    size: usize,
    contents: &[u8],
    track: bool,
) -> Result<Option<SharedMemory>, SharedMemoryError> {
    let os = |call, source| SharedMemoryError::os(call, name, source);
    let path = name::path(name);
    // A name already taken needs no watcher to find out.
    if FileId::of_path(&path).map_err(|e| os("stat", e))?.is_some() {
        return Ok(None);
    }
    // Step 1: an unnamed file in /dev/shm (O_TMPFILE), sized and filled before anyone can see
    // it. Were this process killed before step 4, the file would simply vanish: nothing can
    // leak.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(SHM_DIR)
        .map_err(|e| os("open(O_TMPFILE)", e))?;
    let len = i64::try_from(size).map_err(|e| os("ftruncate", io::Error::other(e)))?;
    nix::unistd::ftruncate(&file, len).map_err(|e| os("ftruncate", e.into()))?;
    file.write_all_at(contents, 0)
        .map_err(|e| os("pwrite", e))?;
    // Step 2: count ourselves as a user (nobody else can reach the file yet, so this never
    // waits).
    flock(file.as_fd(), libc::LOCK_SH).map_err(|e| os("flock", e))?;
    // Step 3: the watcher, which removes the name once no user is left.
    let watcher = if track {
        Some(
            watcher::launch(file.as_fd(), name).map_err(|source| SharedMemoryError::Watcher {
                name: name.to_string(),
                source,
            })?,
        )
    } else {
        None
    };
    fault::point("shared_memory.create.watched");
    // Step 4: give the file its name, atomically, and only if the name is free. (If it was
    // taken meanwhile, our watcher finds the name leading to another file once we drop ours,
    // and leaves it alone.)
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match nix::unistd::linkat(
        nix::fcntl::AT_FDCWD,
        proc_path.as_str(),
        nix::fcntl::AT_FDCWD,
        &path,
        AtFlags::AT_SYMLINK_FOLLOW,
    ) {
        Ok(()) => {}
        Err(nix::errno::Errno::EEXIST) => return Ok(None),
        Err(e) => return Err(os("linkat", e.into())),
    }
    fault::point("shared_memory.create.linked");
    // Step 5: map it. Should that fail, take the name back, as Python does.
    let id = FileId::of(&file).map_err(|e| os("fstat", e))?;
    let map = match Mapping::new(file.as_fd(), size) {
        Ok(map) => map,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e.into_error(name));
        }
    };
    Ok(Some(SharedMemory {
        name: name.to_string(),
        map,
        fd: file.into(),
        id,
        watcher,
    }))
}

/// `flock(fd, op)`, again after a signal. The lock belongs to the open file description: it
/// is never released explicitly, only when the last descriptor and mapping of that
/// description are gone (in every process that shares it).
pub(crate) fn flock(fd: BorrowedFd<'_>, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock reads no memory of ours; `fd` is a live descriptor.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Which file a descriptor or a name leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file open as `file`.
    pub(crate) fn of(file: &File) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// The file `path` names now, or `None` if it names none (without following a symlink).
    pub(crate) fn of_path(path: &Path) -> io::Result<Option<Self>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) => Ok(Some(Self {
                dev: meta.dev(),
                ino: meta.ino(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A shared read-write mapping of a whole segment.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

/// Why a segment could not be mapped.
enum MapError {
    /// The file is empty (mmap refuses a length of 0).
    Empty,
    /// The kernel refused.
    Os(io::Error),
}

impl MapError {
    fn into_error(self, name: &str) -> SharedMemoryError {
        match self {
            MapError::Empty => SharedMemoryError::Empty {
                name: name.to_string(),
            },
            MapError::Os(e) => SharedMemoryError::os("mmap", name, e),
        }
    }
}

impl Mapping {
    /// Maps the first `len` bytes of `fd` shared, readable and writable.
    fn new(fd: BorrowedFd<'_>, len: usize) -> Result<Self, MapError> {
        let size = NonZeroUsize::new(len).ok_or(MapError::Empty)?;
        // SAFETY: a new mapping at an address the kernel picks cannot overlap any Rust object;
        // its bytes are only ever reached through atomics or the `unsafe` views whose callers
        // promise exclusivity (see `SharedMemory::buf`).
        let ptr = unsafe {
            mmap(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd,
                0,
            )
        }
        .map_err(|e| MapError::Os(e.into()))?;
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Unmaps, reporting an error.
    fn unmap(self) -> io::Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `ptr`/`len` describe a mapping made by `new`, unmapped only here or in
        // `drop` (which will not run: `this` is never dropped); the handle that lent out
        // borrows of it has been consumed.
        unsafe { munmap(this.ptr.cast(), this.len) }.map_err(io::Error::from)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: as in `unmap`: the mapping is unmapped once, when its handle (and every
        // borrow of it) is gone. An error would only leak address space.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: the handle owns its mapping and descriptor; through `&SharedMemory` the bytes are
// reached only as atomics (or by `unsafe` code under its own promises), which any thread may
// use.
unsafe impl Send for SharedMemory {}
// SAFETY: as above.
unsafe impl Sync for SharedMemory {}
