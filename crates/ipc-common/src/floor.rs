//! The bare operating-system mechanisms, for benchmarks to measure the floor under our
//! primitives in the same run. Compiled only with the `floor` feature, which only the
//! `benchmark` crate turns on.
//!
//! These are deliberately minimal: no robustness, no timeouts, no error types. Use the real
//! primitives ([`Process`](crate::Process), [`Lock`](crate::Lock),
//! [`Semaphore`](crate::Semaphore)) in programs.

use std::cell::UnsafeCell;
use std::io;

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

use crate::shm::{ShmBox, ShmSafe};

/// `fork`, `_exit(0)` in the child, `waitpid` in the parent: the cheapest process start.
///
/// # Errors
///
/// Fails if `fork` or `waitpid` fails.
pub fn fork_exit_wait() -> io::Result<()> {
    // SAFETY: the child only calls `_exit`, which is async-signal-safe, so it needs no lock
    // that another thread might hold.
    match unsafe { fork() }? {
        // SAFETY: `_exit` ends the process at once; nothing of ours runs after it.
        ForkResult::Child => unsafe { libc::_exit(0) },
        ForkResult::Parent { child } => {
            waitpid(child, None)?;
            Ok(())
        }
    }
}

struct RawMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex holds no pointers, zero bytes are its uninitialised state (it is
// initialised in place before use), and it needs no destructor.
unsafe impl ShmSafe for RawMutex {}
// SAFETY: a pthread mutex is made to be used from several threads and processes at once.
unsafe impl Sync for RawMutex {}

/// A plain process-shared pthread mutex (not robust): the floor under [`Lock`](crate::Lock).
pub struct PlainMutex {
    raw: ShmBox<RawMutex>,
}

impl PlainMutex {
    /// A new, unlocked mutex in shared memory.
    ///
    /// # Errors
    ///
    /// Fails if the mapping cannot be made.
    pub fn new() -> io::Result<Self> {
        let raw = ShmBox::<RawMutex>::zeroed()?;
        // SAFETY: `attr` is initialised before use and destroyed after; the mutex sits at its
        // final shared address and nobody uses it yet.
        let rc = unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            let rc = libc::pthread_mutex_init(raw.0.get(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            rc
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Self { raw })
    }

    /// Runs `f` with the mutex locked.
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: the mutex was initialised in `new`; lock and unlock are paired on this
        // thread around `f`.
        unsafe { libc::pthread_mutex_lock(self.raw.0.get()) };
        let r = f();
        // SAFETY: as above: this thread holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.raw.0.get()) };
        r
    }
}

struct RawSem(UnsafeCell<libc::sem_t>);

// SAFETY: a sem_t holds a counter and a waiter count, no pointers; it is initialised in place
// by `sem_init` before use and needs no destructor.
unsafe impl ShmSafe for RawSem {}
// SAFETY: a process-shared sem_t is made for concurrent use.
unsafe impl Sync for RawSem {}

/// A POSIX semaphore (`sem_init` with `pshared = 1`): the floor under
/// [`Semaphore`](crate::Semaphore) and [`Event`](crate::Event).
pub struct PosixSemaphore {
    raw: ShmBox<RawSem>,
}

impl PosixSemaphore {
    /// A semaphore with `value` permits, in shared memory.
    ///
    /// # Errors
    ///
    /// Fails if the mapping or `sem_init` fails.
    pub fn new(value: u32) -> io::Result<Self> {
        let raw = ShmBox::<RawSem>::zeroed()?;
        // SAFETY: the sem_t is at its final shared address and unused.
        if unsafe { libc::sem_init(raw.0.get(), 1, value) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { raw })
    }

    /// `sem_post`.
    pub fn post(&self) {
        // SAFETY: the semaphore was initialised in `new`.
        unsafe { libc::sem_post(self.raw.0.get()) };
    }

    /// `sem_wait`, retried when a signal interrupts it.
    pub fn wait(&self) {
        // SAFETY: the semaphore was initialised in `new`.
        while unsafe { libc::sem_wait(self.raw.0.get()) } != 0 {}
    }
}
