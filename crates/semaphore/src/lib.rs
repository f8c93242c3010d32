//! Note 4.2's measuring tool: [`Occupancy`] counts, in shared memory, how many processes are
//! inside a region at once and the most there ever were, so a program can show that its
//! [`Semaphore`](ipc_common::Semaphore) keeps its bound.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use ipc_common::ShmBox;

/// How many processes are inside a region now, and the most at any one time, counted in
/// shared memory by every process started after it was made.
///
/// Enter right *after* taking the permit and leave right *before* giving it back: the count
/// then never exceeds the number of holders, and [`most`](Occupancy::most) above the
/// semaphore's permits would prove the semaphore wrong.
///
/// # Example
///
/// ```
/// use ipc_common::{Process, Semaphore};
/// use semaphore::Occupancy;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sem = Semaphore::new(2)?;
/// let inside = Occupancy::new()?;
/// let workers = (0..4)
///     .map(|i| {
///         Process::start(format!("w{i}"), || -> Result<(), ipc_common::SyncError> {
///             let permit = sem.acquire()?;
///             let here = inside.enter();
///             std::thread::sleep(std::time::Duration::from_millis(20));
///             drop(here);
///             drop(permit);
///             Ok(())
///         })
///     })
///     .collect::<Result<Vec<_>, _>>()?;
/// for w in &workers {
///     w.join()?;
/// }
/// assert!(inside.most() <= 2);
/// assert_eq!(inside.now(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Occupancy {
    now: ShmBox<AtomicU32>,
    most: ShmBox<AtomicU32>,
}

impl Occupancy {
    /// A counter with nobody inside.
    ///
    /// # Errors
    ///
    /// Fails if the shared mappings cannot be made.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            now: ShmBox::new(AtomicU32::new(0))?,
            most: ShmBox::new(AtomicU32::new(0))?,
        })
    }

    /// Counts the caller in, and updates the maximum; the caller is counted out when the
    /// returned guard is dropped.
    pub fn enter(&self) -> Inside<'_> {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        Inside { occupancy: self }
    }

    /// How many are inside right now.
    pub fn now(&self) -> u32 {
        self.now.load(SeqCst)
    }

    /// The most that were ever inside at once.
    pub fn most(&self) -> u32 {
        self.most.load(SeqCst)
    }
}

/// One process counted inside an [`Occupancy`]; dropping it counts the process out.
#[derive(Debug)]
#[must_use = "the process is counted out as soon as the guard is dropped"]
pub struct Inside<'a> {
    occupancy: &'a Occupancy,
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.occupancy.now.fetch_sub(1, SeqCst);
    }
}
