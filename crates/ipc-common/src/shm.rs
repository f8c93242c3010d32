//! Shared memory: mappings of a `memfd`, seen by every process that holds them.
//!
//! Every shared object of this workspace (a queue's ring, a lock, a `Value`) lives in a
//! [`ShmBox`], a [`ShmSlice`] or a crate-private raw mapping, each one `mmap(MAP_SHARED)` of
//! its own `memfd`:
//!
//! - a child made by `fork` inherits the mapping itself: it sees the very same bytes at the
//!   very same address;
//! - a child made by spawn or forkserver receives the `memfd` as a descriptor with its
//!   arguments (see [`share`](crate::share)) and maps it at an address of its own, so shared
//!   state holds offsets, never pointers;
//! - the memory has no name: nothing appears in `/dev/shm`, and it is freed when the last
//!   process holding it (mapped, or as a descriptor) is gone, whichever way the processes end.
//!   It cannot leak.
//!
//! The memfd is sealed at its size (`F_SEAL_SHRINK | F_SEAL_GROW`), so no process can cut it
//! short under another one's mapping.
//!
//! Only types that are sound to share this way may be placed in it: see [`ShmSafe`].

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::num::NonZeroUsize;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16,
    AtomicU32, AtomicU64, AtomicUsize,
};

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::share::SharedFd;

/// Types that may live in memory shared between processes.
///
/// # Safety
///
/// Implement this only for types that
/// - hold no pointer or reference (no `Box`, `Vec`, `String`, `&T`): another process would
///   follow it into its own memory, where it means nothing;
/// - are valid when every byte is zero, since shared mappings start zeroed;
/// - need no destructor: no single process owns the value, so none runs one.
pub unsafe trait ShmSafe {}

/// [`ShmSafe`] types that other processes may change while this one holds `&T`: atomics, and
/// types whose shared state is atomics or is only reached under a lock.
///
/// A [`ShmSlice`] dereferences to `&[T]` only for these. A plain number changed by another
/// process while this one holds a `&` to it would be a data race (the compiler may assume it
/// never changes, and a loop waiting for it may never end); reach plain numbers through
/// [`ShmSlice::get`]/[`ShmSlice::set`] or under a lock ([`Mutex`](crate::Mutex)).
///
/// # Safety
///
/// Every change another process can make to a `T` must be one a `&T` allows (atomic
/// operations, or interior mutability under a process-shared lock).
pub unsafe trait ShmShared: ShmSafe {}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: plain numbers hold no pointers, are valid when zeroed and have no destructor.
        unsafe impl ShmSafe for $t {}
    )* };
}
shm_safe!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool
);

macro_rules! shm_atomic {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: atomics hold no pointers, are valid when zeroed and have no destructor.
        unsafe impl ShmSafe for $t {}
        // SAFETY: every change to an atomic is an atomic operation, which `&` allows.
        unsafe impl ShmShared for $t {}
    )* };
}
shm_atomic!(
    AtomicBool,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
);
// SAFETY: an array of `ShmSafe` values is laid out as the values themselves.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
// SAFETY: each element allows only the changes `&T` allows.
unsafe impl<T: ShmShared, const N: usize> ShmShared for [T; N] {}

/// A mapping of a sealed memfd: the memory under every shared object.
///
/// All access goes through raw pointers: the types built on it say who may touch which bytes.
pub(crate) struct RawMapping {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

impl RawMapping {
    /// `len` zeroed bytes (at least one) in a new memfd, mapped here.
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        let size = i64::try_from(len.max(1)).map_err(|_| io::Error::other("mapping too large"))?;
        let fd = memfd_create(
            c"ipc-common",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(io::Error::from)?;
        nix::unistd::ftruncate(&fd, size)?;
        let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
        fcntl(&fd, FcntlArg::F_ADD_SEALS(seals))?;
        Self::map(fd, len)
    }

    /// Maps `len` bytes of a memfd received from another process.
    ///
    /// # Errors
    ///
    /// Refuses a descriptor that is not a memfd sealed against shrinking, or is shorter than
    /// `len`: a mapping past its end would crash the process (`SIGBUS`) on first touch.
    pub(crate) fn from_fd(fd: OwnedFd, len: usize) -> io::Result<Self> {
        let seals = fcntl(&fd, FcntlArg::F_GET_SEALS).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a shared object's descriptor is not a memfd: {e}"),
            )
        })?;
        if SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK)
            && nix::sys::stat::fstat(&fd)?.st_size >= len.max(1) as i64
        {
            Self::map(fd, len)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a shared object's memory is not sealed at {len} bytes or more"),
            ))
        }
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<Self> {
        let size = NonZeroUsize::new(len.max(1)).ok_or_else(|| io::Error::other("zero size"))?;
        // SAFETY: a new shared mapping of a memfd at an address the kernel picks cannot alias
        // any existing Rust object; the memfd is sealed against shrinking and at least `len`
        // bytes long (checked by both constructors), so every mapped byte is backed.
        let ptr = unsafe {
            mmap(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }?;
        Ok(Self {
            fd,
            ptr: ptr.cast(),
            len,
        })
    }

    /// The first byte of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The memfd, to pass to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A second mapping of the same memory (at another address), with its own descriptor.
    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        Self::map(self.fd.try_clone()?, self.len)
    }
}

impl Drop for RawMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping made by `map` and unmapped only here, after
        // which the handle (and every borrow of it) is gone. Failure is impossible for a valid
        // mapping and would only leak address space.
        let _ = unsafe { munmap(self.ptr.cast(), self.len.max(1)) };
    }
}

// SAFETY: the handle owns its view of the mapping and its descriptor; the types built on it
// decide what may be reached from other threads.
unsafe impl Send for RawMapping {}
// SAFETY: `&RawMapping` gives only raw pointers and the descriptor.
unsafe impl Sync for RawMapping {}

impl Serialize for RawMapping {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = SharedFd::duplicate(self.fd()).map_err(serde::ser::Error::custom)?;
        (fd, self.len as u64).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (fd, len) = <(SharedFd, u64)>::deserialize(deserializer)?;
        let len = usize::try_from(len).map_err(de::Error::custom)?;
        RawMapping::from_fd(fd.0, len).map_err(de::Error::custom)
    }
}

/// One value of type `T` in shared memory, seen by this process and every child it passes the
/// box to (or forks after it was made).
///
/// It dereferences to `&T` only: several processes use it at once, so changes go through
/// atomics or the locks of [`crate::sync`], exactly as Python's `multiprocessing.Value` goes
/// through its lock.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ipc_common::{Process, ShmBox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hits = ShmBox::new(AtomicU64::new(0))?;
/// let child = Process::start("counter", || {
///     hits.fetch_add(1, Ordering::SeqCst);
/// })?;
/// child.join()?;
/// assert_eq!(hits.load(Ordering::SeqCst), 1); // the child's write is seen by the parent
/// # Ok(()) }
/// ```
pub struct ShmBox<T: ShmSafe> {
    map: RawMapping,
    _owns: PhantomData<T>,
}

impl<T: ShmSafe> ShmBox<T> {
    /// Places `value` in a new shared mapping.
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the memory (out of memory or descriptors).
    pub fn new(value: T) -> io::Result<Self> {
        let this = Self::zeroed()?;
        // SAFETY: the mapping is fresh, aligned to a page (more than `align_of::<T>()`), large
        // enough for a `T`, and not yet seen by any other process or borrow; the zeroed `T`
        // it replaces needs no drop (ShmSafe).
        unsafe { this.map.as_ptr().cast::<T>().write(value) };
        Ok(this)
    }

    /// A new shared mapping holding the all-zero `T` (valid by the [`ShmSafe`] contract).
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the memory.
    pub fn zeroed() -> io::Result<Self> {
        debug_assert!(align_of::<T>() <= 4096);
        Ok(Self {
            map: RawMapping::new(size_of::<T>())?,
            _owns: PhantomData,
        })
    }

    /// The mapping of a value another process made, checked for the size of a `T`.
    pub(crate) fn from_mapping(map: RawMapping) -> io::Result<Self> {
        if map.len() != size_of::<T>() {
            return Err(io::Error::other(format!(
                "a shared value of {} bytes cannot hold a {} ({} bytes)",
                map.len(),
                std::any::type_name::<T>(),
                size_of::<T>()
            )));
        }
        Ok(Self {
            map,
            _owns: PhantomData,
        })
    }

    /// The mapping under the value.
    pub(crate) fn mapping(&self) -> &RawMapping {
        &self.map
    }

    /// Another handle to the same value (a second mapping of its memory), to give to a
    /// child as an argument while keeping this one.
    ///
    /// # Errors
    ///
    /// Fails when the process is out of descriptors or address space.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            map: self.map.try_clone()?,
            _owns: PhantomData,
        })
    }
}

impl<T: ShmSafe> Deref for ShmBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mapping is page-aligned, at least `size_of::<T>()` bytes, and stays
        // mapped for the life of `self`; it holds a `T` written by `new`, or zeroes (a valid
        // `T`), changed since only through `&T` (ShmBox hands out nothing else).
        unsafe { &*self.map.as_ptr().cast::<T>() }
    }
}

// SAFETY: the value is only reachable as `&T`; sending the handle to another thread is sound
// when `&T` may be shared between threads.
unsafe impl<T: ShmSafe + Sync> Send for ShmBox<T> {}
// SAFETY: as above, `&ShmBox<T>` only hands out `&T`.
unsafe impl<T: ShmSafe + Sync> Sync for ShmBox<T> {}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for ShmBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShmBox").field(&**self).finish()
    }
}

impl<T: ShmSafe> Serialize for ShmBox<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(serializer)
    }
}

impl<'de, T: ShmSafe> Deserialize<'de> for ShmBox<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_mapping(RawMapping::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

/// A fixed-length slice of `T` in shared memory; it starts zeroed.
///
/// For element types that other processes may change through `&T` ([`ShmShared`]: atomics)
/// it dereferences to `&[T]`. Plain numbers are read and written one at a time with
/// [`get`](ShmSlice::get) and [`set`](ShmSlice::set) (volatile accesses, so a loop waiting for
/// another process's write sees it), or copied with [`to_vec`](ShmSlice::to_vec) and
/// [`copy_from_slice`](ShmSlice::copy_from_slice); for several numbers that must change
/// together, use a [`MutexSlice`](crate::MutexSlice) (Python's `Array` with its lock).
///
/// # Example
///
/// ```
/// use ipc_common::{Process, ShmSlice};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let squares = ShmSlice::<u64>::zeroed(4)?;
/// let child = Process::start("squares", || {
///     for i in 0..squares.len() {
///         squares.set(i, (i * i) as u64);
///     }
/// })?;
/// child.join()?;
/// assert_eq!(squares.to_vec(), [0, 1, 4, 9]);
/// # Ok(()) }
/// ```
pub struct ShmSlice<T: ShmSafe> {
    map: RawMapping,
    len: usize,
    _owns: PhantomData<T>,
}

impl<T: ShmSafe> ShmSlice<T> {
    /// A new shared slice of `len` zeroed elements.
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the memory, or `len` elements overflow `usize`.
    pub fn zeroed(len: usize) -> io::Result<Self> {
        let bytes = len
            .checked_mul(size_of::<T>())
            .ok_or_else(|| io::Error::other("shared slice too large"))?;
        Ok(Self {
            map: RawMapping::new(bytes)?,
            len,
            _owns: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first element, for types of this crate that hand out access under a lock.
    pub(crate) fn as_mut_ptr(&self) -> *mut T {
        self.map.as_ptr().cast()
    }

    fn check(&self, index: usize) {
        assert!(
            index < self.len,
            "index {index} out of range for a shared slice of {}",
            self.len
        );
    }
}

impl<T: ShmSafe + Copy> ShmSlice<T> {
    /// Reads element `index` (a volatile read: always from memory).
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn get(&self, index: usize) -> T {
        self.check(index);
        // SAFETY: `index < len`, so the element lies inside the mapping, aligned (page-aligned
        // start, `T`-sized steps); every bit pattern another process of this program leaves
        // there was written as a `T` (or is zero, a valid `T`). A volatile read is never
        // merged with other reads or hoisted out of a loop.
        unsafe { self.as_mut_ptr().add(index).read_volatile() }
    }

    /// Writes element `index` (a volatile write).
    ///
    /// Each element is written whole by one instruction only for sizes the machine writes at
    /// once (up to 8 bytes); a reader in another process may see a wider `T` half-written.
    ///
    /// # Panics
    ///
    /// If `index` is out of range.
    pub fn set(&self, index: usize, value: T) {
        self.check(index);
        // SAFETY: as in `get`; the write stays inside the mapping and replaces a `T` that
        // needs no drop (ShmSafe).
        unsafe { self.as_mut_ptr().add(index).write_volatile(value) }
    }

    /// A copy of every element, read one at a time.
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    /// Writes `items` into the first `items.len()` elements, one at a time.
    ///
    /// # Panics
    ///
    /// If `items` is longer than the slice.
    pub fn copy_from_slice(&self, items: &[T]) {
        assert!(
            items.len() <= self.len,
            "too many items for the shared slice"
        );
        for (i, &item) in items.iter().enumerate() {
            self.set(i, item);
        }
    }
}

impl<T: ShmShared> Deref for ShmSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` elements are mapped for the life of `self`, page-aligned; `T:
        // ShmShared` allows other processes' changes through `&T` (atomics), and any bit
        // pattern they leave was written as a `T` or is zero.
        unsafe { std::slice::from_raw_parts(self.as_mut_ptr(), self.len) }
    }
}

// SAFETY: the handle owns its view of the mapping; the elements are reached only through `&T`
// (ShmShared), volatile copies of `T: Copy`, or by crate types under a lock.
unsafe impl<T: ShmSafe + Send> Send for ShmSlice<T> {}
// SAFETY: as above.
unsafe impl<T: ShmSafe + Sync> Sync for ShmSlice<T> {}

impl<T: ShmSafe> fmt::Debug for ShmSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmSlice")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len)
            .finish()
    }
}

impl<T: ShmSafe> Serialize for ShmSlice<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.map, self.len as u64).serialize(serializer)
    }
}

impl<'de, T: ShmSafe> Deserialize<'de> for ShmSlice<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (map, len) = <(RawMapping, u64)>::deserialize(deserializer)?;
        let len = usize::try_from(len).map_err(de::Error::custom)?;
        if len.checked_mul(size_of::<T>()) != Some(map.len()) {
            return Err(de::Error::custom(format!(
                "a shared slice of {} bytes cannot hold {len} items of {}",
                map.len(),
                std::any::type_name::<T>()
            )));
        }
        Ok(Self {
            map,
            len,
            _owns: PhantomData,
        })
    }
}
