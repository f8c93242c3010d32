//! Proxies of the manager's synchronisation objects: Python's `AcquirerProxy` (of `Lock`,
//! `RLock`, `Semaphore`, `BoundedSemaphore`), `ConditionProxy`, `EventProxy` and
//! `BarrierProxy`.
//!
//! The objects live in the server and every blocking call waits there, holding only this
//! thread's connection (see the crate docs): any process that can reach the manager may use
//! them, inherited or not. A client is a connection, one per thread and process, as Python's
//! proxies share one per thread: it owns the `RLock` it acquired, and whatever `Lock` or
//! `RLock` it holds is released when the connection closes (its thread ended, its process
//! exited or was killed); Python's manager keeps such a lock held for ever.

use std::time::Duration;

use super::{Handle, Proxy, proxy_impls};
use crate::ManagerError;
use crate::address::Address;
use crate::client::no_body;
use crate::protocol::{Kind, Op};

/// Acquires the lock or semaphore of `handle`, waiting up to `timeout` (`None`: for ever);
/// whether it was acquired.
fn acquire(handle: &Handle, timeout: Option<Duration>) -> Result<bool, ManagerError> {
    handle.wait_flag(Op::Acquire, timeout)
}

fn release(handle: &Handle) -> Result<(), ManagerError> {
    handle.call(Op::Release, no_body, |reply| reply.done())
}

/// What `lock()` returns: the lock, semaphore or condition held until this is dropped
/// (Python's `with lock:`). A release that fails on drop is ignored (the server releases a
/// lock whose connection closes); call [`release`](Acquired::release) to see it.
#[must_use = "dropping it at once releases what was just acquired"]
#[derive(Debug)]
pub struct Acquired<'a> {
    handle: Option<&'a Handle>,
}

impl Acquired<'_> {
    /// Releases now (the end of Python's `with` block), reporting a failure.
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotHeld`] if it was released meanwhile; [`ManagerError::ServerGone`].
    pub fn release(mut self) -> Result<(), ManagerError> {
        match self.handle.take() {
            Some(handle) => release(handle),
            None => Ok(()),
        }
    }
}

impl Drop for Acquired<'_> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = release(handle);
        }
    }
}

/// `acquire`, `acquire_timeout`, `try_acquire`, `release` and `lock` for a proxy of a lock,
/// semaphore or condition.
macro_rules! acquirer_methods {
    ($what:literal) => {
        #[doc = concat!("Acquires the ", $what, ", waiting as long as it takes (Python's `acquire()`).")]
        ///
        /// # Errors
        ///
        /// [`ManagerError::ServerGone`].
        pub fn acquire(&self) -> Result<(), ManagerError> {
            acquire(&self.handle, None).map(|_| ())
        }

        #[doc = concat!("Acquires the ", $what, ", waiting up to `timeout`; whether it was acquired (Python's `acquire(timeout=t)`).")]
        ///
        /// # Errors
        ///
        /// [`ManagerError::ServerGone`].
        pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
            acquire(&self.handle, Some(timeout))
        }

        #[doc = concat!("Acquires the ", $what, " if it is free now; whether it was acquired (Python's `acquire(blocking=False)`).")]
        ///
        /// # Errors
        ///
        /// [`ManagerError::ServerGone`].
        pub fn try_acquire(&self) -> Result<bool, ManagerError> {
            acquire(&self.handle, Some(Duration::ZERO))
        }

        #[doc = concat!("Releases the ", $what, " (Python's `release()`).")]
        ///
        /// # Errors
        ///
        /// [`ManagerError::NotHeld`] for a lock that is not held (an `RLock` or a condition's
        /// lock: not held by this client), [`ManagerError::TooManyReleases`] for a bounded
        /// semaphore at its initial value (Python's `RuntimeError` and `ValueError`);
        /// [`ManagerError::ServerGone`].
        pub fn release(&self) -> Result<(), ManagerError> {
            release(&self.handle)
        }

        #[doc = concat!("Acquires the ", $what, " and returns a guard that releases it when dropped (Python's `with`).")]
        ///
        /// # Errors
        ///
        /// [`ManagerError::ServerGone`].
        pub fn lock(&self) -> Result<Acquired<'_>, ManagerError> {
            self.acquire()?;
            Ok(Acquired {
                handle: Some(&self.handle),
            })
        }
    };
}

/// The proxies of a simple object: a struct holding its handle, `Proxy` and the common traits.
macro_rules! simple_proxy {
    ($(#[$doc:meta])* $name:ident, [$($kind:ident),+]) => {
        $(#[$doc])*
        pub struct $name {
            handle: Handle,
        }

        impl Proxy for $name {
            const KINDS: &'static [Kind] = &[$(Kind::$kind),+];

            fn handle(&self) -> &Handle {
                &self.handle
            }

            fn from_handle(handle: Handle) -> Self {
                $name { handle }
            }
        }

        proxy_impls!($name);
    };
}

simple_proxy!(
    /// A proxy of a lock that lives in the manager's server (Python's `manager.Lock()`, an
    /// `AcquirerProxy` of a `threading.Lock`; made by [`Factory::lock`](crate::Factory::lock)).
    ///
    /// Held by a client (this thread's connection to the server); released by anyone while
    /// held, as Python's; released by the server if its holder's connection closes.
    ///
    /// # Example
    ///
    /// ```
    /// use ipc_common::Process;
    ///
    /// let manager = manager::Manager::start()?;
    /// let lock = manager.lock()?;
    /// let total = manager.value(&0u32)?;
    /// let children: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         Process::start("adder", || -> Result<(), manager::ManagerError> {
    ///             for _ in 0..10 {
    ///                 let _held = lock.lock()?; // Python's `with lock:`
    ///                 total.set(&(total.get()? + 1))?;
    ///             }
    ///             Ok(())
    ///         })
    ///     })
    ///     .collect::<Result<_, _>>()?;
    /// for child in &children {
    ///     assert_eq!(child.join()?, 0);
    /// }
    /// assert_eq!(total.get()?, 30);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    LockProxy,
    [Lock]
);

impl LockProxy {
    acquirer_methods!("lock");
}

simple_proxy!(
    /// A proxy of a reentrant lock that lives in the manager's server (Python's
    /// `manager.RLock()`; made by [`Factory::rlock`](crate::Factory::rlock)).
    ///
    /// Owned by the client that acquired it (this thread's connection): it may acquire it
    /// again, and must release it as many times; another client cannot release it
    /// ([`ManagerError::NotHeld`]). Released by the server if its owner's connection closes.
    ///
    /// # Example
    ///
    /// ```
    /// let manager = manager::Manager::start()?;
    /// let rlock = manager.rlock()?;
    /// let outer = rlock.lock()?;
    /// assert!(rlock.try_acquire()?); // again, by its owner
    /// rlock.release()?;
    /// drop(outer);
    /// assert!(matches!(rlock.release(), Err(manager::ManagerError::NotHeld(_))));
    /// # Ok::<(), manager::ManagerError>(())
    /// ```
    RLockProxy,
    [RLock]
);

impl RLockProxy {
    acquirer_methods!("lock");
}

simple_proxy!(
    /// A proxy of a semaphore that lives in the manager's server (Python's
    /// `manager.Semaphore(value)` and `manager.BoundedSemaphore(value)`; made by
    /// [`Factory::semaphore`](crate::Factory::semaphore) and
    /// [`Factory::bounded_semaphore`](crate::Factory::bounded_semaphore)).
    ///
    /// Its permits are nobody's (one process may release what another acquired, to signal):
    /// they stay as the clients left them, as in Python.
    ///
    /// # Example
    ///
    /// ```
    /// let manager = manager::Manager::start()?;
    /// let slots = manager.bounded_semaphore(2)?;
    /// assert!(slots.try_acquire()? && slots.try_acquire()?);
    /// assert!(!slots.try_acquire()?); // both taken
    /// slots.release()?;
    /// slots.release()?;
    /// assert!(matches!(slots.release(), Err(manager::ManagerError::TooManyReleases(_))));
    /// # Ok::<(), manager::ManagerError>(())
    /// ```
    SemaphoreProxy,
    [Semaphore, BoundedSemaphore]
);

impl SemaphoreProxy {
    acquirer_methods!("semaphore");
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::LockProxy {}
    impl Sealed for super::RLockProxy {}
}

/// A lock a condition may be made over (Python's `manager.Condition(lock)`): a
/// [`LockProxy`] or an [`RLockProxy`]. Not implemented outside this crate.
pub trait ConditionLock: sealed::Sealed {
    /// The lock's server and id.
    #[doc(hidden)]
    fn lock_ref(&self) -> (&Address, u32);
}

impl ConditionLock for LockProxy {
    fn lock_ref(&self) -> (&Address, u32) {
        (&self.handle.client.target().address, self.handle.id)
    }
}

impl ConditionLock for RLockProxy {
    fn lock_ref(&self) -> (&Address, u32) {
        (&self.handle.client.target().address, self.handle.id)
    }
}

simple_proxy!(
    /// A proxy of a condition variable that lives in the manager's server (Python's
    /// `manager.Condition()`; made by [`Factory::condition`](crate::Factory::condition), over
    /// a lock of its own, or [`Factory::condition_with`](crate::Factory::condition_with), over
    /// a given lock).
    ///
    /// As in Python, `wait` and `notify` need the lock held by this client: `wait` releases
    /// it, sleeps until notified (or timed out), and takes it again before returning.
    ///
    /// # Example
    ///
    /// ```
    /// use ipc_common::Process;
    ///
    /// let manager = manager::Manager::start()?;
    /// let cond = manager.condition()?;
    /// let ready = manager.value(&false)?;
    /// let child = Process::start("notifier", || -> Result<(), manager::ManagerError> {
    ///     let _held = cond.lock()?;
    ///     ready.set(&true)?;
    ///     cond.notify_all()
    /// })?;
    /// {
    ///     let _held = cond.lock()?;
    ///     cond.wait_for(|| ready.get())?; // Python's `cond.wait_for(lambda: ready.value)`
    /// }
    /// assert_eq!(child.join()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ConditionProxy,
    [Condition]
);

impl ConditionProxy {
    acquirer_methods!("condition's lock");

    /// Releases the lock, waits until notified, and takes the lock again (Python's
    /// `cond.wait()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotHeld`] if this client does not hold the lock;
    /// [`ManagerError::ServerGone`].
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.wait_within(None).map(|_| ())
    }

    /// As [`wait`](ConditionProxy::wait), waiting up to `timeout` to be notified; whether it
    /// was (Python's `cond.wait(timeout)`). The lock is held again either way.
    ///
    /// # Errors
    ///
    /// As for [`wait`](ConditionProxy::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.wait_within(Some(timeout))
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.handle.wait_flag(Op::CondWait, timeout)
    }

    /// Waits until `predicate` is true, looking at it first and after each notification
    /// (Python's `cond.wait_for(predicate)`; with the lock held, as `wait`).
    ///
    /// # Errors
    ///
    /// As for [`wait`](ConditionProxy::wait), and whatever `predicate` returns.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> Result<bool, ManagerError>,
    ) -> Result<(), ManagerError> {
        while !predicate()? {
            self.wait()?;
        }
        Ok(())
    }

    /// As [`wait_for`](ConditionProxy::wait_for), giving up after `timeout`; the predicate's
    /// last value (Python's `cond.wait_for(predicate, timeout)`).
    ///
    /// # Errors
    ///
    /// As for [`wait_for`](ConditionProxy::wait_for).
    pub fn wait_for_timeout(
        &self,
        mut predicate: impl FnMut() -> Result<bool, ManagerError>,
        timeout: Duration,
    ) -> Result<bool, ManagerError> {
        let deadline = ipc_common::time::deadline_after(timeout);
        loop {
            if predicate()? {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(std::time::Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return Ok(false);
            }
            self.wait_timeout(left)?;
        }
    }

    /// Wakes the longest-waiting waiter (Python's `cond.notify()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::NotHeld`] if this client does not hold the lock;
    /// [`ManagerError::ServerGone`].
    pub fn notify(&self) -> Result<(), ManagerError> {
        self.notify_n(1)
    }

    /// Wakes the `n` longest-waiting waiters (Python's `cond.notify(n)`).
    ///
    /// # Errors
    ///
    /// As for [`notify`](ConditionProxy::notify).
    pub fn notify_n(&self, n: u64) -> Result<(), ManagerError> {
        self.handle
            .call(Op::CondNotify, |body| body.number(n), |reply| reply.done())
    }

    /// Wakes every waiter (Python's `cond.notify_all()`).
    ///
    /// # Errors
    ///
    /// As for [`notify`](ConditionProxy::notify).
    pub fn notify_all(&self) -> Result<(), ManagerError> {
        self.notify_n(u64::MAX)
    }
}

simple_proxy!(
    /// A proxy of an event that lives in the manager's server (Python's `manager.Event()`;
    /// made by [`Factory::event`](crate::Factory::event)).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let manager = manager::Manager::start()?;
    /// let started = manager.event()?;
    /// assert!(!started.wait_timeout(Duration::from_millis(10))?);
    /// started.set()?;
    /// started.wait()?;
    /// assert!(started.is_set()?);
    /// # Ok::<(), manager::ManagerError>(())
    /// ```
    EventProxy,
    [Event]
);

impl EventProxy {
    /// Sets the flag and wakes every waiter (Python's `e.set()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn set(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::EventSet, no_body, |reply| reply.done())
    }

    /// Clears the flag (Python's `e.clear()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn clear(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::EventClear, no_body, |reply| reply.done())
    }

    /// Whether the flag is set (Python's `e.is_set()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn is_set(&self) -> Result<bool, ManagerError> {
        self.handle
            .call(Op::EventIsSet, no_body, |reply| reply.flag())
    }

    /// Waits until the flag is set (Python's `e.wait()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn wait(&self) -> Result<(), ManagerError> {
        self.wait_within(None).map(|_| ())
    }

    /// Waits up to `timeout` until the flag is set; whether it is (Python's
    /// `e.wait(timeout)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        self.wait_within(Some(timeout))
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<bool, ManagerError> {
        self.handle.wait_flag(Op::EventWait, timeout)
    }
}

simple_proxy!(
    /// A proxy of a barrier that lives in the manager's server (Python's
    /// `manager.Barrier(parties)`; made by [`Factory::barrier`](crate::Factory::barrier)).
    ///
    /// A waiter that times out breaks the barrier, as in Python, and so does a waiter whose
    /// client goes away (the others get [`ManagerError::BrokenBarrier`] rather than wait for
    /// a party that will never come). Python's `action` is not supported: run it in the
    /// waiter that gets index 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ipc_common::Process;
    ///
    /// let manager = manager::Manager::start()?;
    /// let barrier = manager.barrier(2)?;
    /// let child = Process::start("party", || barrier.wait().map(|_| ()))?;
    /// let index = barrier.wait()?; // 0 or 1: each party gets its own
    /// assert!(index < 2);
    /// assert_eq!(child.join()?, 0);
    /// assert_eq!((barrier.parties()?, barrier.n_waiting()?, barrier.broken()?), (2, 0, false));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    BarrierProxy,
    [Barrier]
);

impl BarrierProxy {
    /// Waits until every party has arrived; returns this party's arrival index, from 0 to
    /// `parties - 1` (Python's `b.wait()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::BrokenBarrier`] if the barrier is or becomes broken;
    /// [`ManagerError::ServerGone`].
    pub fn wait(&self) -> Result<usize, ManagerError> {
        self.wait_within(None)
    }

    /// As [`wait`](BarrierProxy::wait), waiting up to `timeout`: a timeout breaks the
    /// barrier (Python's `b.wait(timeout)`).
    ///
    /// # Errors
    ///
    /// As for [`wait`](BarrierProxy::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, ManagerError> {
        self.wait_within(Some(timeout))
    }

    fn wait_within(&self, timeout: Option<Duration>) -> Result<usize, ManagerError> {
        self.handle.call_waiting(
            Op::BarrierWait,
            timeout,
            |body| body.timeout(timeout),
            |reply| reply.length(),
        )
    }

    /// Returns the barrier to its empty state; its waiters get
    /// [`ManagerError::BrokenBarrier`] (Python's `b.reset()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn reset(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::BarrierReset, no_body, |reply| reply.done())
    }

    /// Breaks the barrier until it is reset (Python's `b.abort()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn abort(&self) -> Result<(), ManagerError> {
        self.handle
            .call(Op::BarrierAbort, no_body, |reply| reply.done())
    }

    fn state(&self) -> Result<[u64; 3], ManagerError> {
        self.handle
            .call(Op::BarrierState, no_body, |reply| reply.numbers::<3>())
    }

    /// The number of parties (Python's `b.parties`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn parties(&self) -> Result<usize, ManagerError> {
        Ok(self.state()?[0] as usize)
    }

    /// The number of parties waiting now (Python's `b.n_waiting`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn n_waiting(&self) -> Result<usize, ManagerError> {
        Ok(self.state()?[1] as usize)
    }

    /// Whether the barrier is broken (Python's `b.broken`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`].
    pub fn broken(&self) -> Result<bool, ManagerError> {
        Ok(self.state()?[2] != 0)
    }
}
