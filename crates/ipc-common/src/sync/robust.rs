//! The handle of a shared mapping that holds a robust mutex: it never unmaps the mutex while
//! a thread of this process holds it.
//!
//! A held robust mutex is linked into its holder thread's robust list (see the
//! [`raw`](super::raw) module): unmapping it while held leaves glibc a dangling link, and the
//! thread's next robust lock or unlock writes through it (the process crashed with `SIGSEGV`
//! in a test that forgot a guard and dropped its lock). Guards borrow their handle, so safe
//! code cannot drop a handle while a guard lives, except by *forgetting* the guard
//! (`std::mem::forget`, a reference cycle): the lock then stays held until the thread ends,
//! and the mapping must stay mapped as long.
//!
//! So when the handle is dropped, it asks the mutex who holds it. No thread of this process
//! can be locking or unlocking it at that moment (that would need a borrow of the handle,
//! and dropping takes it whole), so if the holder is a thread of this process, it holds the
//! mutex through a forgotten guard, and the handle leaks the mapping (a page of address
//! space) instead of unmapping it. A holder that has ended no longer holds the mutex: the
//! kernel freed it (and forgot the thread's list) when the thread exited. A holder in
//! another process has its own mapping. This costs nothing while locking; counting guards
//! would cost two atomic operations per guard.

use std::mem::ManuallyDrop;
use std::ops::Deref;

use super::SyncError;
use super::raw::RawLock;
use crate::shm::{ShmBox, ShmSafe};

/// A shared struct whose robust mutex a [`RobustBox`] watches.
pub(crate) trait HasLock: ShmSafe {
    /// The robust mutex in the struct.
    fn lock(&self) -> &RawLock;
}

impl HasLock for RawLock {
    fn lock(&self) -> &RawLock {
        self
    }
}

/// A [`ShmBox`] holding a robust mutex, unmapped on drop only when no thread of this process
/// holds the mutex.
pub(crate) struct RobustBox<T: HasLock> {
    shared: ManuallyDrop<ShmBox<T>>,
}

impl<T: HasLock> RobustBox<T> {
    /// A new mapping holding the all-zero `T` (whose mutex the caller then initialises).
    pub(crate) fn zeroed() -> Result<Self, SyncError> {
        let shared = ShmBox::zeroed().map_err(|source| SyncError::Os {
            call: "mmap",
            source,
        })?;
        Ok(Self {
            shared: ManuallyDrop::new(shared),
        })
    }
}

impl<T: HasLock> Deref for RobustBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.shared
    }
}

impl<T: HasLock> serde::Serialize for RobustBox<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shared.serialize(serializer)
    }
}

impl<'de, T: HasLock> serde::Deserialize<'de> for RobustBox<T> {
    /// Maps the shared struct another process made (and whose mutex it initialised).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            shared: ManuallyDrop::new(ShmBox::deserialize(deserializer)?),
        })
    }
}

impl<T: HasLock> Drop for RobustBox<T> {
    fn drop(&mut self) {
        if !self.shared.lock().held_in_this_process() {
            // SAFETY: dropped once, here, and the field is never used again.
            unsafe { ManuallyDrop::drop(&mut self.shared) };
        }
        // Otherwise a forgotten guard holds the mutex: leave the mapping mapped for good.
    }
}
