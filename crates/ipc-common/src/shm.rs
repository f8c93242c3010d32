//! Anonymous shared memory that forked children inherit.
//!
//! A [`ShmBox`] is one `mmap(MAP_SHARED | MAP_ANONYMOUS)` mapping. A child made by
//! [`Process::start`](crate::Process::start) after the box was created sees the very same
//! bytes at the very same address, so a write in one process is seen by all. The mapping has
//! no name: nothing appears in `/dev/shm`, and nothing can be left behind, whichever way the
//! processes end. Each process unmaps its own view when its handle is dropped.
//!
//! Only types that are sound to share this way may be placed in it: see [`ShmSafe`].

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::num::NonZeroUsize;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16,
    AtomicU32, AtomicU64, AtomicUsize,
};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// Types that may live in memory shared between processes.
///
/// # Safety
///
/// Implement this only for types that
/// - hold no pointer or reference into one process's private memory (no `Box`, `Vec`,
///   `String`, `&T`): the other processes would follow it into their own copy;
/// - are valid when every byte is zero, since shared mappings start zeroed;
/// - need no destructor: [`ShmBox`] never runs one, because every process holds a view and no
///   single process owns the value.
pub unsafe trait ShmSafe {}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: plain numbers and atomics hold no pointers, are valid when zeroed and have no
        // destructor.
        unsafe impl ShmSafe for $t {}
    )* };
}
shm_safe!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
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

/// Maps `bytes` (at least one page) of zeroed memory shared with future children.
fn map_shared(bytes: usize) -> io::Result<NonNull<u8>> {
    let len = NonZeroUsize::new(bytes.max(1)).ok_or_else(|| io::Error::other("zero-sized map"))?;
    // SAFETY: an anonymous mapping at an address the kernel picks cannot alias any existing
    // Rust object; the memory is zero-filled, readable and writable.
    let ptr = unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }?;
    Ok(ptr.cast())
}

/// Unmaps a mapping made by [`map_shared`].
fn unmap(ptr: NonNull<u8>, bytes: usize) {
    // SAFETY: `ptr`/`bytes` describe a mapping made by `map_shared` and unmapped only here, by
    // the handle's `Drop`, after which the handle (and every borrow of it) is gone.
    // Failure is impossible for a valid mapping and would only leak address space.
    let _ = unsafe { munmap(ptr.cast(), bytes.max(1)) };
}

/// A raw shared mapping of bytes, for the types of this crate that manage their own layout
/// (the message [`Ring`](crate::ring::Ring)). All access goes through raw pointers.
pub(crate) struct RawMapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl RawMapping {
    /// `len` zeroed bytes shared with future children.
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        Ok(Self {
            ptr: map_shared(len)?,
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
}

impl Drop for RawMapping {
    fn drop(&mut self) {
        unmap(self.ptr, self.len);
    }
}

/// One value of type `T` in shared memory, seen by this process and every child forked after
/// it was made.
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
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

impl<T: ShmSafe> ShmBox<T> {
    /// Places `value` in a new shared mapping.
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the mapping (out of memory or address space).
    pub fn new(value: T) -> io::Result<Self> {
        let this = Self::zeroed()?;
        // SAFETY: the mapping is fresh, aligned to a page (more than `align_of::<T>()`), large
        // enough for a `T`, and not yet seen by any other process or borrow.
        unsafe { this.ptr.as_ptr().write(value) };
        Ok(this)
    }

    /// A new shared mapping holding the all-zero `T` (valid by the [`ShmSafe`] contract).
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the mapping.
    pub fn zeroed() -> io::Result<Self> {
        debug_assert!(align_of::<T>() <= 4096);
        let ptr = map_shared(size_of::<T>())?;
        Ok(Self {
            ptr: ptr.cast(),
            _owns: PhantomData,
        })
    }
}

impl<T: ShmSafe> Deref for ShmBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the pointer stays mapped for the life of `self`; `T: ShmSafe` is valid in
        // any state another process leaves it in, and is only shared as `&T`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ShmSafe> Drop for ShmBox<T> {
    fn drop(&mut self) {
        unmap(self.ptr.cast(), size_of::<T>());
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

/// A fixed-length slice of `T` in shared memory, seen by this process and every child forked
/// after it was made; it starts zeroed.
///
/// Unlike [`ShmBox`] it dereferences to `&mut [T]` through a `&mut` handle, so libraries that
/// want a plain slice (ndarray, for one) can view it. Within one process Rust's borrow rules
/// hold as usual; *across* processes they are the caller's to keep, exactly as with a shared
/// numpy array: let each process write its own part, or guard the slice with a
/// [`Lock`](crate::Lock), and read the result after [`Process::join`](crate::Process::join).
///
/// # Example
///
/// ```
/// use ipc_common::{Process, ShmSlice};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut squares = ShmSlice::<u64>::zeroed(4)?;
/// let child = Process::start("squares", || {
///     for (i, x) in squares.iter_mut().enumerate() {
///         *x = (i * i) as u64;
///     }
/// })?;
/// child.join()?;
/// assert_eq!(&squares[..], &[0, 1, 4, 9]);
/// # Ok(()) }
/// ```
pub struct ShmSlice<T: ShmSafe> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<T>,
}

impl<T: ShmSafe> ShmSlice<T> {
    /// A new shared slice of `len` zeroed elements.
    ///
    /// # Errors
    ///
    /// Fails when the kernel refuses the mapping, or `len` elements overflow `usize`.
    pub fn zeroed(len: usize) -> io::Result<Self> {
        let bytes = len
            .checked_mul(size_of::<T>())
            .ok_or_else(|| io::Error::other("shared slice too large"))?;
        let ptr = map_shared(bytes)?;
        Ok(Self {
            ptr: ptr.cast(),
            len,
            _owns: PhantomData,
        })
    }

    fn bytes(&self) -> usize {
        self.len * size_of::<T>()
    }

    /// The first element, for types of this crate that hand out access under a lock.
    pub(crate) fn as_mut_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T: ShmSafe> Deref for ShmSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` elements are mapped for the life of `self`, page-aligned, and any bit
        // pattern another process leaves is a valid `T` (`ShmSafe`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: ShmSafe> DerefMut for ShmSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`; `&mut self` makes the borrow unique within this process, and
        // the type's documentation leaves cross-process exclusion to the caller.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: ShmSafe> Drop for ShmSlice<T> {
    fn drop(&mut self) {
        unmap(self.ptr.cast(), self.bytes());
    }
}

// SAFETY: the handle owns its view of the mapping; sending it moves that view.
unsafe impl<T: ShmSafe + Send> Send for ShmSlice<T> {}
// SAFETY: `&ShmSlice<T>` hands out only `&[T]`.
unsafe impl<T: ShmSafe + Sync> Sync for ShmSlice<T> {}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for ShmSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
