//! Waiting for several things at once: Python's `multiprocessing.connection.wait`.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use ipc_common::time::{deadline_after, expired};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::PipeError;

/// Something [`wait`] can wait for: it is *ready* when reading it would not block.
///
/// Implemented for [`Connection`](crate::Connection) and [`Receiver`](crate::Receiver), over
/// pipes or a socket (ready when a message or the end of the stream can be received: [`wait`]
/// also looks in their read-ahead buffer), and for anything with a file descriptor ([`AsFd`]),
/// which is ready when the descriptor is readable: a [`Listener`](crate::Listener) (ready
/// when a client waits to be accepted), a process sentinel
/// ([`Process::exit_fd`](ipc_common::Process::exit_fd), ready once the child has ended), a
/// socket, a raw pipe.
///
/// A `queue::Queue` is not waitable: Python's `wait` takes a queue's reader (`q._reader`, a
/// pipe), but our queue is a ring in shared memory with no descriptor that becomes readable.
/// Wait for one queue with its `get_timeout`; to wait for a queue and connections at once, let
/// a thread move the queue's items to a [`pipe`](crate::pipe) and wait for that.
pub trait Waitable {
    /// The descriptor that becomes readable when this object is ready.
    fn wait_fd(&self) -> BorrowedFd<'_>;

    /// Whether the object is ready without looking at its descriptor (bytes already read
    /// ahead). False unless the object buffers.
    fn ready_now(&self) -> bool {
        false
    }
}

impl<F: AsFd + ?Sized> Waitable for F {
    fn wait_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}

/// Waits until at least one of `objects` is ready or `timeout` has passed, and returns the
/// positions of the ready ones in `objects` (Python's
/// `multiprocessing.connection.wait(object_list, timeout)`, which returns the objects
/// themselves). An empty vector means the timeout passed. `Duration::MAX` waits forever
/// (Python's `timeout=None`); signals that interrupt the wait do not end it early. The objects
/// are those of [`Waitable`]: connections over pipes or sockets, listeners, process
/// sentinels, descriptors.
///
/// ```
/// use std::time::Duration;
/// use ipc_common::Process;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut rx, mut tx) = pipe::pipe_oneway::<u32>()?;
/// let child = Process::start("worker", move || tx.send(&42))?;
/// // Wait for the result or for the child's end, whichever comes first.
/// let ready = pipe::wait(&[&rx, &child.exit_fd()], Duration::from_secs(60))?;
/// assert!(!ready.is_empty());
/// if ready.contains(&0) {
///     assert_eq!(rx.recv()?, 42);
/// }
/// assert_eq!(child.join()?, 0);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`PipeError::Io`] if `poll` fails (out of memory for a long list, say).
pub fn wait(objects: &[&dyn Waitable], timeout: Duration) -> Result<Vec<usize>, PipeError> {
    let deadline = deadline_after(timeout);
    // Objects with bytes read ahead are ready now: the descriptors are then only asked,
    // without waiting, which others are ready too.
    let ready_now: Vec<bool> = objects.iter().map(|o| o.ready_now()).collect();
    let any_now = ready_now.contains(&true);
    let mut fds: Vec<PollFd<'_>> = objects
        .iter()
        .map(|o| PollFd::new(o.wait_fd(), PollFlags::POLLIN))
        .collect();
    loop {
        let wait_for = if any_now {
            PollTimeout::ZERO
        } else {
            poll_timeout(deadline)
        };
        match poll(&mut fds, wait_for) {
            Ok(_) => {}
            // A signal handler ran: wait again for what is left of the timeout.
            Err(Errno::EINTR) => {}
            Err(e) => return Err(PipeError::Io(e.into())),
        }
        let ready: Vec<usize> = fds
            .iter()
            .zip(&ready_now)
            .enumerate()
            // Readable, or at its end (POLLHUP), or failed (POLLERR): a read would not block.
            .filter(|(_, (fd, now))| **now || fd.any().unwrap_or(false))
            .map(|(i, _)| i)
            .collect();
        if !ready.is_empty() || any_now || expired(deadline) {
            return Ok(ready);
        }
    }
}

/// `poll`'s timeout for `deadline`: the milliseconds left, rounded up so that `poll` never
/// returns before the deadline; no timeout for no deadline.
fn poll_timeout(deadline: Option<Instant>) -> PollTimeout {
    let Some(deadline) = deadline else {
        return PollTimeout::NONE;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let ms = left.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}
