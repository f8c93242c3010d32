//! A process to start: its target function, arguments, name and start method.
//!
//! Under fork the child calls the function pointer it inherited. Under spawn and forkserver
//! the child is another run of this program, so the function travels as its offset in the
//! program image (see [`crate::image`]).

use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::method::get_start_method;
use super::{ChildOutcome, Process, ProcessError, StartMethod, boot, fork};
use crate::image::offset;
use crate::{codec, share};

/// A child not yet started: Python's `Process(target=..., args=..., name=..., daemon=...)`
/// before `start()`. Made by [`Process::new`] or [`Context::process`](super::Context::process).
#[must_use = "a process runs only once `start` is called"]
pub struct Builder<A, R> {
    target: fn(A) -> R,
    args: A,
    name: Option<String>,
    method: Option<StartMethod>,
    isolate: bool,
    daemon: bool,
}

impl<A, R> Builder<A, R> {
    pub(super) fn new(target: fn(A) -> R, args: A) -> Self {
        Builder {
            target,
            args,
            name: None,
            method: None,
            isolate: false,
            daemon: false,
        }
    }

    /// Makes the child a daemon (Python's `daemon=True`): terminated when its handle is
    /// dropped or the program ends, rather than joined; see
    /// [Daemons](super::Process#daemons).
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// The child's name (Python's `name=`); `Process-N` if none is given.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts this child with `method` rather than the process's default.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Under fork, the child keeps only the descriptors its arguments carry (and stdin,
    /// stdout, stderr): every other descriptor it inherited is pointed at `/dev/null`, so it
    /// holds no copy of its parent's pipes and sockets (a reader waiting for end-of-file on a
    /// pipe is not kept waiting by it). For long-lived children: a pool's workers, a
    /// manager's server. Under spawn and forkserver every child is started this way.
    pub fn isolated(mut self) -> Self {
        self.isolate = true;
        self
    }
}

impl<A, R> Builder<A, R>
where
    A: Serialize + DeserializeOwned + 'static,
    R: ChildOutcome + 'static,
{
    /// Starts the child (Python's `start()`) and returns its handle.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Threaded`] under fork in a process with threads;
    /// [`ProcessError::Arguments`] if an argument cannot travel to the child;
    /// [`ProcessError::Os`] if the kernel refuses.
    pub fn start(self) -> Result<Process, ProcessError> {
        self.start_with(true)
    }

    /// Starts a spawned child that does not die with the thread that starts it: the
    /// forkserver, which ends when its control socket closes instead.
    pub(super) fn start_server(self) -> Result<Process, ProcessError> {
        self.start_with(false)
    }

    fn start_with(self, die_with_parent: bool) -> Result<Process, ProcessError> {
        let name = self.name.unwrap_or_else(default_name);
        if crate::current::is_daemon() {
            return Err(ProcessError::DaemonChildren { name });
        }
        let target = self.target;
        let args = self.args;
        match self.method.unwrap_or_else(get_start_method) {
            StartMethod::Fork => {
                let keep = if self.isolate {
                    Some(descriptors_of(&name, &args)?)
                } else {
                    None
                };
                fork::start(name, move || target(args), keep, self.daemon)
            }
            method => {
                let (bytes, fds) = encode_args(&name, &args)?;
                let start = boot::Start {
                    name: &name,
                    trampoline: offset(trampoline::<A, R> as Trampoline as usize),
                    target: offset(target as usize),
                    args: &bytes,
                    fds: &fds,
                    daemon: self.daemon,
                };
                match method {
                    StartMethod::Spawn => super::spawn::start(start, die_with_parent),
                    _ => super::forkserver::start(start),
                }
            }
        }
    }
}

/// `Process-1`, `Process-2`, ...: Python's default names.
fn default_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("Process-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Encodes a target's arguments, collecting the descriptors of the shared objects in them.
fn encode_args<A: Serialize + 'static>(
    name: &str,
    args: &A,
) -> Result<(Vec<u8>, Vec<std::os::fd::OwnedFd>), ProcessError> {
    let mut bytes = Vec::new();
    let (encoded, fds) = share::collect(|| codec::encode(args, &mut bytes));
    encoded.map_err(|e| ProcessError::Arguments {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    Ok((bytes, fds))
}

/// The descriptors the shared objects in `args` hold, by number in this process.
fn descriptors_of<A: Serialize + 'static>(
    name: &str,
    args: &A,
) -> Result<Vec<RawFd>, ProcessError> {
    let mut sink = Vec::new();
    let (encoded, fds) = share::collect_originals(|| codec::encode(args, &mut sink));
    encoded.map_err(|e| ProcessError::Arguments {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    Ok(fds)
}

/// Decodes a target's arguments, runs it, returns the child's exit code.
pub(super) type Trampoline = fn(usize, &[u8], Vec<std::os::fd::OwnedFd>, &str) -> i32;

/// The [`Trampoline`] of targets `fn(A) -> R`: called in a spawned or forkserver child with
/// the target's address in this run of the program.
fn trampoline<A, R>(target: usize, args: &[u8], fds: Vec<std::os::fd::OwnedFd>, name: &str) -> i32
where
    A: DeserializeOwned + 'static,
    R: ChildOutcome,
{
    // SAFETY: `target` is the address of a `fn(A) -> R` of this program: the parent took the
    // offset of exactly such a function together with the offset of this very instantiation
    // of `trampoline::<A, R>`, and the child runs the same executable (`/proc/self/exe`, or a
    // fork of a process that does), where both lie at the same offsets (crate::image).
    let target: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(target) };
    let args: A = match share::provide(fds, || codec::decode::<A>(args)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "process {name} (pid {}): cannot decode its arguments: {e}",
                std::process::id()
            );
            return 1;
        }
    };
    let _life = crate::trace::span("process", "run");
    match panic::catch_unwind(AssertUnwindSafe(|| target(args))) {
        Ok(outcome) => outcome.exit_code(name),
        Err(_) => 1,
    }
}
