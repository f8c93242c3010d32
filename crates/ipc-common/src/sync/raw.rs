//! The robust, process-shared pthread mutex under every lock of this crate.
//!
//! # The mutex's words, and who reads them
//!
//! A `pthread_mutex_t` is glibc's; this module calls pthread functions on it, with two
//! exceptions: [`RawLock::owner_tid`] reads its first word, and
//! [`RawLock::recursion_count`] its second. Both are fields of glibc's public
//! `struct __pthread_mutex_s`, first and second on every Linux architecture, and part of its
//! ABI (process-shared mutexes must work between programs built against different glibc
//! versions). The first, `__data.__lock`, is the futex of the mutex:
//!
//! | bits | meaning |
//! |---|---|
//! | `0..30` (`FUTEX_TID_MASK`) | thread id of the holder, 0 when free |
//! | 30 (`FUTEX_OWNER_DIED`) | the kernel found the holder dead and freed the mutex |
//! | 31 (`FUTEX_WAITERS`) | some thread sleeps on it |
//!
//! glibc and the kernel change it only with atomic instructions, and the kernel clears the
//! thread id bits when the holder dies, so reading it atomically tells who holds the mutex
//! right now (the answer may change at once, as Python's `locked()` may). The second,
//! `__data.__count`, is the recursion count of a recursive mutex, written by its holder only.
//!
//! # Orderings
//!
//! Locking is an acquire and unlocking a release (glibc's atomic operations on the futex
//! word; POSIX requires that they synchronise memory), so whatever a holder wrote before it
//! unlocked is seen by the next holder, in any process. [`RawLock::owner_tid`] is a
//! `Relaxed` load: it reports, and nothing is read because of its answer.
//!
//! # The robust list: why a held mutex must stay mapped
//!
//! A robust mutex is *linked into a list of its holder's thread* while it is held: glibc
//! writes the addresses of the neighbouring list entries into the mutex (`__data.__list`) and
//! the address of the mutex into its neighbours, so that the kernel can find and free every
//! mutex a dying thread holds. Those addresses are in the holder's address space. Only the
//! holder's own thread follows them (glibc, when it locks or unlocks another robust mutex)
//! and the kernel (when the thread exits). So the mutex carries no pointer that another
//! process follows, but **the mapping that holds it must stay mapped in the holder's process
//! for as long as it is held**: unmapped, the next lock or unlock of any robust mutex on that
//! thread writes through the stale link (a crash, or a write into whatever was mapped there
//! since). Guards keep their lock's handle borrowed, and [`RobustBox`](super::robust::RobustBox)
//! leaks the mapping instead of unmapping it when a forgotten guard still holds the mutex.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::time::Instant;

use super::SyncError;
use super::futex::{add_to_timespec, clock_now};
use crate::shm::ShmSafe;
use crate::time::{expired, next_wake};

/// The thread-id bits of a robust mutex's futex word (`FUTEX_TID_MASK` in `linux/futex.h`).
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// A pthread mutex placed in shared memory and initialised there (a process-shared mutex
/// must not move after `pthread_mutex_init`).
///
/// It is `PTHREAD_PROCESS_SHARED` and `PTHREAD_MUTEX_ROBUST`: when a process dies holding it,
/// the next locker gets `EOWNERDEAD` instead of waiting forever. It may also be recursive
/// ([`init_recursive`](RawLock::init_recursive)), for [`RLock`](super::RLock).
pub(crate) struct RawLock {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: the all-zero bytes are a valid *uninitialised* state, which `init` turns into a
// mutex before any other process can see it; a mutex needs no destructor in shared memory
// (`pthread_mutex_destroy` frees nothing on Linux). While held, the mutex holds the
// addresses of its neighbours in the holder thread's robust list (see the module docs):
// those are followed only by that thread and by the kernel, never by another process. (That
// the mapping stays mapped while a thread of the process holds the mutex is the duty of the
// handle that owns the mapping: `RobustBox` for the locks of this module's siblings; the
// barrier, the ring and the function table release theirs before their methods return.)
unsafe impl ShmSafe for RawLock {}
// SAFETY: the mutex is designed to be used from many threads and processes at once; every
// access goes through the pthread calls, the atomic load of `owner_tid`, or the holder's own
// read of `recursion_count`.
unsafe impl Sync for RawLock {}
// SAFETY: as above.
unsafe impl Send for RawLock {}

impl RawLock {
    /// Initialises the mutex in place (process-shared, robust, not recursive). Call once,
    /// before any process other than the caller can see it.
    pub(crate) fn init(&self) -> Result<(), SyncError> {
        self.init_kind(libc::PTHREAD_MUTEX_NORMAL)
    }

    /// Initialises the mutex in place as a *recursive* robust mutex: its holder may lock it
    /// again, and must unlock it as many times. Call once, before any process other than the
    /// caller can see it.
    pub(crate) fn init_recursive(&self) -> Result<(), SyncError> {
        self.init_kind(libc::PTHREAD_MUTEX_RECURSIVE)
    }

    fn init_kind(&self, kind: libc::c_int) -> Result<(), SyncError> {
        // SAFETY: `attr` is a local, initialised by pthread_mutexattr_init before any use and
        // destroyed after; `self.mutex` is at its final shared address and not yet in use.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(
                "pthread_mutexattr_init",
                libc::pthread_mutexattr_init(&mut attr),
            )?;
            let mut rc =
                libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            if rc == 0 {
                rc = libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            }
            if rc == 0 {
                rc = libc::pthread_mutexattr_settype(&mut attr, kind);
            }
            if rc == 0 {
                rc = libc::pthread_mutex_init(self.mutex.get(), &attr);
            }
            libc::pthread_mutexattr_destroy(&mut attr);
            check("pthread_mutex_init", rc)
        }
    }

    /// Locks, waiting until `deadline` if one is given. Returns `Ok(None)` on timeout,
    /// `Ok(Some(owner_died))` once locked, where `owner_died` says that the previous holder
    /// died while holding the lock (the lock was made consistent again).
    ///
    /// The wait is measured on the monotonic clock (`pthread_mutex_clocklock`), so a step of
    /// the wall clock neither stretches nor cuts it, and it is made of sleeps of at most
    /// [`LIVENESS_SLICE`](crate::time::LIVENESS_SLICE): the wake-up an unlock sends goes to
    /// one waiter, and if that waiter dies before it takes the lock, the others would
    /// otherwise sleep on with the lock free.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<Option<bool>, SyncError> {
        // A free mutex (or, if recursive, one this thread holds) is taken without reading a
        // clock: the slices below cost three clock reads a round.
        if let Some(died) = self.try_lock()? {
            return Ok(Some(died));
        }
        loop {
            let until = next_wake(deadline);
            let left = until.saturating_duration_since(Instant::now());
            let abs = add_to_timespec(clock_now(libc::CLOCK_MONOTONIC), left);
            // SAFETY: the mutex was initialised by `init` and lives in a mapping that outlives
            // `self`; `abs` is a normalised timespec living across the call.
            let rc =
                unsafe { pthread_mutex_clocklock(self.mutex.get(), libc::CLOCK_MONOTONIC, &abs) };
            match rc {
                libc::ETIMEDOUT if expired(deadline) => return Ok(None),
                libc::ETIMEDOUT => continue,
                rc => return self.locked(rc, "pthread_mutex_clocklock").map(Some),
            }
        }
    }

    /// Turns the result of a successful lock call into "the previous holder died".
    fn locked(&self, rc: i32, call: &'static str) -> Result<bool, SyncError> {
        match rc {
            0 => Ok(false),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD hands it to us); marking it consistent
                // keeps it usable after our unlock.
                check("pthread_mutex_consistent", unsafe {
                    libc::pthread_mutex_consistent(self.mutex.get())
                })?;
                Ok(true)
            }
            rc => check(call, rc).map(|()| false),
        }
    }

    /// Locks if free, at once. `Ok(None)` if another holder has it.
    pub(crate) fn try_lock(&self) -> Result<Option<bool>, SyncError> {
        // SAFETY: the mutex was initialised by `init`.
        match unsafe { libc::pthread_mutex_trylock(self.mutex.get()) } {
            libc::EBUSY => Ok(None),
            rc => self.locked(rc, "pthread_mutex_trylock").map(Some),
        }
    }

    /// Unlocks. Only the thread that holds the lock may call it.
    pub(crate) fn unlock(&self) {
        // SAFETY: the mutex was initialised by `init`. Called by its holder (through a guard's
        // drop); from any other thread glibc refuses with EPERM and leaves the mutex as it is.
        unsafe { libc::pthread_mutex_unlock(self.mutex.get()) };
    }

    /// The thread id (system-wide, as `gettid` gives it) of the holder, or 0 when the mutex
    /// is free or its holder died. A snapshot: it may change as soon as it is read.
    pub(crate) fn owner_tid(&self) -> u32 {
        // SAFETY: the pointer is the mutex's first `int`, `__data.__lock` (see the module
        // docs): aligned (a pthread_mutex_t is 8-aligned), inside a mapping that outlives
        // `self`, and changed by glibc and the kernel only with atomic instructions, so an
        // atomic view of it races with no plain access. We only load from it.
        let word = unsafe { AtomicI32::from_ptr(self.mutex.get().cast::<i32>()) };
        // Relaxed: the value is a report, not a hand-over; no other memory is read because
        // of it.
        word.load(Relaxed) as u32 & FUTEX_TID_MASK
    }

    /// Whether some thread holds the mutex right now (a snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.owner_tid() != 0
    }

    /// Whether a thread of this process holds the mutex. Exact only while no thread of this
    /// process can lock or unlock it (when its handle is being dropped).
    pub(crate) fn held_in_this_process(&self) -> bool {
        let tid = self.owner_tid();
        // tgkill with signal 0 sends nothing: it only checks that thread `tid` is in thread
        // group `getpid()`, i.e. is a thread of this process. (The kernel frees a robust
        // mutex, clearing its thread id, before a dying holder's id can be reused.)
        // SAFETY: getpid and tgkill(.., 0) touch no memory of ours.
        tid != 0 && unsafe { libc::tgkill(libc::getpid(), tid as libc::pid_t, 0) } == 0
    }

    /// Whether the calling thread holds the mutex (a system call: for slow paths only).
    pub(crate) fn is_mine(&self) -> bool {
        // SAFETY: gettid has no preconditions and touches no memory of ours.
        let me = unsafe { libc::gettid() } as u32;
        self.owner_tid() == me
    }

    /// The recursion count of a recursive mutex, if the calling thread holds it: how many
    /// times it must unlock it to free it. `None` if it does not hold it.
    pub(crate) fn recursion_count(&self) -> Option<u32> {
        if !self.is_mine() {
            return None;
        }
        // SAFETY: `__data.__count` is the second `unsigned int` of glibc's pthread_mutex_t on
        // every Linux architecture (its public struct __pthread_mutex_s), inside a mapping
        // that outlives `self`. Only the holder writes it, and the caller is the holder (and
        // stays so until it unlocks), so no write races this read.
        Some(unsafe { self.mutex.get().cast::<u32>().add(1).read() })
    }
}

unsafe extern "C" {
    /// glibc 2.30's `pthread_mutex_clocklock`: `pthread_mutex_timedlock` on a chosen clock
    /// (the `libc` crate does not declare it).
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

pub(crate) fn check(call: &'static str, rc: i32) -> Result<(), SyncError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SyncError::Os {
            call,
            source: std::io::Error::from_raw_os_error(rc),
        })
    }
}
