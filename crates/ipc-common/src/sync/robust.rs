//! The handle of a shared mapping that holds robust mutexes: it never unmaps a mutex that
//! one of this process's threads may still hold.
//!
//! A held robust mutex is linked into its holder thread's robust list (see the
//! [`raw`](super::raw) module): unmapping it while held leaves glibc a dangling link, and the
//! thread's next robust lock or unlock writes through it (the process crashed with `SIGSEGV`
//! in a test that forgot a guard and dropped its lock). Guards borrow their handle, so safe
//! code cannot drop a handle while a guard lives, except by *forgetting* the guard
//! (`std::mem::forget`, a reference cycle): the lock then stays held for good, and the
//! mapping must stay mapped for good. So the handle counts the guards made from it that have
//! not been dropped, in this process's private memory, and a handle dropped while the count
//! is not zero leaks its mapping (a page of address space) instead of unmapping it.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::SyncError;
use crate::shm::{ShmBox, ShmSafe};

/// A [`ShmBox`] holding robust mutexes, with the number of this process's guards on them.
pub(crate) struct RobustBox<T: ShmSafe> {
    shared: ManuallyDrop<ShmBox<T>>,
    /// Guards made from this handle and not dropped yet (forgotten ones stay counted).
    ///
    /// Relaxed everywhere: it is private to this process, and the one reader that acts on
    /// it, `drop`, runs with `&mut self`, after every thread that borrowed the handle has
    /// stopped borrowing it; whatever ended those borrows (a scoped thread's join, say)
    /// already orders their increments and decrements before the drop.
    guards: AtomicUsize,
}

impl<T: ShmSafe> RobustBox<T> {
    /// A new mapping holding the all-zero `T`, and no guards.
    pub(crate) fn zeroed() -> Result<Self, SyncError> {
        let shared = ShmBox::zeroed().map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self {
            shared: ManuallyDrop::new(shared),
            guards: AtomicUsize::new(0),
        })
    }

    /// Counts one guard in; the count goes down when the returned token is dropped. Make the
    /// token as soon as the mutex is locked, and drop it only after it is unlocked.
    pub(crate) fn held(&self) -> Held<'_> {
        self.guards.fetch_add(1, Relaxed);
        Held {
            guards: &self.guards,
        }
    }
}

impl<T: ShmSafe> Deref for RobustBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.shared
    }
}

impl<T: ShmSafe> Drop for RobustBox<T> {
    fn drop(&mut self) {
        if *self.guards.get_mut() == 0 {
            // SAFETY: dropped once, here, and the field is never used again.
            unsafe { ManuallyDrop::drop(&mut self.shared) };
        }
        // Otherwise a forgotten guard may still hold a mutex in this mapping: leave it mapped.
    }
}

/// One guard counted in a [`RobustBox`]; dropping it counts the guard out.
pub(crate) struct Held<'a> {
    guards: &'a AtomicUsize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.guards.fetch_sub(1, Relaxed);
    }
}
