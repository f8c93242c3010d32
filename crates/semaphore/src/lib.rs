//! Note 4.2's measuring tool: [`Occupancy`] counts, in shared memory, how many processes are
//! inside a region at once and the most there ever were, so a program can show that its
//! [`Semaphore`](ipc_common::Semaphore) keeps its bound.
//!
//! # Shared state
//!
//! | word | meaning |
//! |---|---|
//! | `now` | how many processes are inside: +1 on entering, -1 on leaving |
//! | `most` | the largest value `now` ever had |
//!
//! Every access is `SeqCst`. Each word is only changed by read-modify-write operations, which
//! never lose an update whatever their ordering; the counts are only meaningful beside the
//! semaphore, whose hand-over of a permit (a release, then an acquire) orders a leaver's
//! decrement before the next holder's increment. `SeqCst` asks nothing more of the reader,
//! and costs nothing next to the sleeps it measures.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use ipc_common::ShmBox;
use serde::{Deserialize, Serialize};

/// How many processes are inside a region now, and the most at any one time, counted in
/// shared memory by every process that has a handle: a clone passed to a child as an
/// argument (`Process::new(f, occupancy.clone())`), under any start method, or a borrow in a
/// forked child's closure.
///
/// Enter right *after* taking the permit and leave right *before* giving it back: the count
/// then never exceeds the number of holders, and [`most`](Occupancy::most) above the
/// semaphore's permits would prove the semaphore wrong.
///
/// # Example
///
/// ```
/// use ipc_common::{Process, Semaphore, SyncError};
/// use semaphore::Occupancy;
///
/// fn work((sem, inside): (Semaphore, Occupancy)) -> Result<(), SyncError> {
///     let permit = sem.acquire()?;
///     let here = inside.enter();
///     std::thread::sleep(std::time::Duration::from_millis(20));
///     drop(here);
///     drop(permit);
///     Ok(())
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sem = Semaphore::new(2)?;
/// let inside = Occupancy::new()?;
/// let workers = (0..4)
///     .map(|_| Process::new(work, (sem.clone(), inside.clone())).start())
///     .collect::<Result<Vec<_>, _>>()?;
/// for w in &workers {
///     w.join()?;
/// }
/// assert!(inside.most() <= 2);
/// assert_eq!(inside.now(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Occupancy {
    now: Arc<ShmBox<AtomicU32>>,
    most: Arc<ShmBox<AtomicU32>>,
}

impl Occupancy {
    /// A counter with nobody inside.
    ///
    /// # Errors
    ///
    /// Fails if the shared mappings cannot be made.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            now: Arc::new(ShmBox::new(AtomicU32::new(0))?),
            most: Arc::new(ShmBox::new(AtomicU32::new(0))?),
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
