//! A process pool: Python's `multiprocessing.Pool`, whose workers are real processes started
//! by fork, spawn or forkserver.
//!
//! [`Pool::new`] (or [`Pool::builder`]) starts N workers once and reuses them. Tasks are
//! plain functions `fn(T) -> R` whose argument and result are serde values of any size,
//! encoded with [`ipc_common::codec`] (binary; a `Vec<u8>` or a vector of numbers is one
//! copy). The function itself travels as a number in an [`FnTable`](ipc_common::remote::FnTable)
//! shared with the workers, so a function first used after the workers started works too,
//! under every start method.
//!
//! | Python | here |
//! |---|---|
//! | `Pool(processes)`, `with Pool(...) as pool:` | [`Pool::new`], [`Drop`](Pool#dropping-a-pool) |
//! | `Pool(processes, initializer, initargs, maxtasksperchild, context)` | [`Pool::builder`]`.processes(n).initializer(f, args).maxtasksperchild(n).start_method(m).build()` |
//! | `pool.apply(f, (x,))` | [`Pool::apply`] |
//! | `pool.apply_async(f, (x,))` | [`Pool::apply_async`] → [`AsyncResult`] |
//! | `result.get()` / `result.get(timeout)` | [`AsyncResult::get`] / [`AsyncResult::get_timeout`] |
//! | `result.wait()` / `result.wait(timeout)` | [`AsyncResult::wait`] / [`AsyncResult::wait_timeout`] |
//! | `result.ready()` / `result.successful()` | [`AsyncResult::ready`] / [`AsyncResult::successful`] (`None` where Python raises `ValueError`) |
//! | `pool.map(f, xs)` / `pool.map(f, xs, chunksize)` | [`Pool::map`] / [`Pool::map_chunked`] |
//! | `pool.map_async(f, xs)` | [`Pool::map_async`] |
//! | `pool.starmap(f, [(a, b)])` / `starmap_async` | [`Pool::starmap`] / [`Pool::starmap_async`] with `fn((A, B)) -> R` |
//! | `pool.imap(f, xs, chunksize)` | [`Pool::imap`] → [`Imap`] |
//! | `pool.imap_unordered(f, xs, chunksize)` | [`Pool::imap_unordered`] → [`ImapUnordered`] |
//! | `close()`, `join()`, `terminate()` | [`Pool::close`], [`Pool::join`], [`Pool::terminate`] |
//! | `apply_async(f, args, callback=cb, error_callback=ecb)` | [`Pool::apply_async_with`] (callbacks run in the parent, see there) |
//! | `map_async(f, xs, callback=cb, error_callback=ecb)` | [`Pool::map_async_with`] |
//! | `concurrent.futures.ProcessPoolExecutor(n)` | [`Executor::new`], [`Executor::from_pool`] |
//! | `executor.submit(f, x)` → `future.result(timeout)`, `done()`, `cancel()`, `cancelled()` | [`Executor::submit`] → [`Future::result`], [`Future::done`], [`Future::cancel`], [`Future::cancelled`] |
//! | `concurrent.futures.as_completed(fs, timeout)` | [`as_completed`] |
//! | `executor.map(f, xs, chunksize=n)` | [`Executor::map`] |
//! | `executor.shutdown(wait, cancel_futures)` | [`Executor::shutdown`] |
//!
//! Several arguments travel as one tuple: `fn((A, B)) -> R`, as Python's `starmap` unpacks
//! them.
//!
//! # How it works
//!
//! Each worker has its own shared-memory [`Ring`](ipc_common::ring::Ring) of task frames,
//! and all send their results back through one shared ring; a frame larger than a ring
//! streams through it in pieces, so any size travels. The parent has **no helper thread**
//! (Python has three): moving tasks to workers, taking results out and noticing dead
//! workers all happen while the caller waits for a result: in [`AsyncResult::get`] and its
//! siblings, [`Pool::map`], the iterators and [`Pool::join`]. A waiter looks at its
//! workers' health at least every liveness slice (50 ms).
//!
//! Small tasks are sent in chunks (one frame holds many arguments), as Python's `map` does:
//! its default chunk size is `ceil(len / (4 * workers))`.
//!
//! # Start methods
//!
//! Workers start with the process-wide start method
//! ([`ipc_common::set_start_method`]) or the one given to
//! [`Builder::start_method`]. Under spawn and forkserver the pool works from a program with
//! threads; under fork such a program gets [`PoolError::Process`] with the library's
//! "start it with the spawn or forkserver method" error.
//!
//! # Failures
//!
//! - A task that **panics** gives [`PoolError::Panicked`] with the panic message; the worker
//!   goes on with the next task. A function may also return a `Result` of its own: that is
//!   just its result (`R = Result<u64, String>`).
//! - A worker **killed in the middle of a task** (`SIGKILL`, say), or in the middle of
//!   sending a large result, gives that task [`PoolError::WorkerDied`] naming the worker
//!   and the signal; the pool starts a replacement and every other task completes. (Python's
//!   `multiprocessing.Pool` hangs forever here, and `concurrent.futures` marks the whole
//!   pool broken.)
//! - With chunks, a panic or a death fails the whole chunk it happened in, as in Python.
//! - A result that does not decode as the function's result type is
//!   [`PoolError::Decode`].
//!
//! Which task a dead worker held is known exactly: a worker's own ring holds only frames the
//! parent gave it, and it records the one it takes in a shared slot before its pop commits.
//! See `check_workers` in `scheduler.rs` for the whole argument.
//!
//! # Trace
//!
//! Each task is a span, category `"pool"`, name `"task"`, in the worker that ran it, when a
//! trace is recorded ([`ipc_common::trace`]).
//!
//! # Example
//!
//! ```
//! use pool::Pool;
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! # fn main() -> Result<(), pool::PoolError> {
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.map(square, 1..=4)?, vec![1, 4, 9, 16]);
//! assert_eq!(pool.apply_async(square, 7)?.get()?, 49);
//! let mut unordered: Vec<u64> = pool.imap_unordered(square, vec![1, 2, 3], 1)?
//!     .collect::<Result<_, _>>()?;
//! unordered.sort();
//! assert_eq!(unordered, vec![1, 4, 9]);
//! pool.close();
//! pool.join()?;
//! # Ok(()) }
//! ```

mod error;
mod executor;
mod pool;
mod result;
mod scheduler;
mod worker;

pub use error::PoolError;
pub use executor::{AsCompleted, Executor, Future, as_completed};
pub use pool::{Builder, DEFAULT_RING_BYTES, Pool, Value, default_chunksize};
pub use result::{AsyncResult, Imap, ImapUnordered};
