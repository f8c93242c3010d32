//! Start methods and contexts: Python's `set_start_method`, `get_start_method` and
//! `get_context`.
//!
//! | method | how a child starts | cost here | threads in the parent |
//! |---|---|---|---|
//! | [`Fork`](StartMethod::Fork) | a copy of the parent (`fork`) | ~0.2 ms | refused: fork copies one thread |
//! | [`Spawn`](StartMethod::Spawn) | a fresh run of this program (`exec`), entering the target before `main` | ~1-2 ms | fine |
//! | [`Forkserver`](StartMethod::Forkserver) | a fork of a small single-threaded server, itself started by spawn on first use | ~0.3 ms | fine |
//!
//! **The default is fork**, as it was in Python on Linux until 3.14: the notes were written
//! against it, it is the fastest, and its one danger, forking a process that has threads, is
//! refused with an error that names the other two methods. Python 3.14 made forkserver its
//! default on Linux for exactly that danger; a program with threads (a logger, tokio, rayon, a
//! test harness) sets [`StartMethod::Forkserver`] or [`StartMethod::Spawn`] once at the top of
//! `main`, or asks [`get_context`] for a context.
//!
//! # Python's `if __name__ == "__main__":`
//!
//! Under spawn Python starts a new interpreter that imports the main module, so everything at
//! the top level of the program runs again in every child, unless it sits under the guard.
//! A spawned child of this crate runs the same program file, but a start-up hook of this crate
//! takes over before `main` and runs only the target: `main` never runs in a child, so there
//! is no guard to forget, and no way to start children from children by accident. What the
//! guard teaches still holds: a program's work belongs in `main`, not in code that runs when
//! the program loads (a `static` initialiser, a constructor of your own), which would run
//! again in every spawned child.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Builder, ProcessError};

/// How a child process is started (Python's start methods).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// A copy of the parent made by `fork`.
    Fork,
    /// A fresh run of this program that runs only the target.
    Spawn,
    /// A fork of a single-threaded server process started by spawn.
    Forkserver,
}

impl StartMethod {
    /// Python's name for the method: `"fork"`, `"spawn"`, `"forkserver"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(StartMethod::Fork),
            2 => Some(StartMethod::Spawn),
            3 => Some(StartMethod::Forkserver),
            _ => None,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown start method's name.
#[derive(Debug, thiserror::Error)]
#[error("unknown start method {0:?} (expected fork, spawn or forkserver)")]
pub struct UnknownStartMethod(pub String);

impl FromStr for StartMethod {
    type Err = UnknownStartMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        get_all_start_methods()
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownStartMethod(s.to_string()))
    }
}

/// The method set by [`set_start_method`] (its code), or 0 while none is set.
static METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets the start method of this process's children (Python's `set_start_method`). Call it
/// once, near the top of `main`. Children inherit it as their own default.
///
/// # Errors
///
/// [`ProcessError::ContextSet`] if a method was already set (Python raises
/// `RuntimeError('context has already been set')`).
pub fn set_start_method(method: StartMethod) -> Result<(), ProcessError> {
    METHOD
        .compare_exchange(0, method.code(), Ordering::AcqRel, Ordering::Acquire)
        .map(drop)
        .map_err(|code| ProcessError::ContextSet {
            current: StartMethod::from_code(code).unwrap_or(StartMethod::Fork),
        })
}

/// The start method in force (Python's `get_start_method()`): the one set, or
/// [`StartMethod::Fork`].
pub fn get_start_method() -> StartMethod {
    StartMethod::from_code(METHOD.load(Ordering::Acquire)).unwrap_or(StartMethod::Fork)
}

/// Every start method this platform has, the default first (Python's
/// `get_all_start_methods()`).
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ]
}

/// Makes a spawned child's default method the same as its parent's.
pub(super) fn inherit(method: StartMethod) {
    METHOD.store(method.code(), Ordering::Release);
}

/// A start method to start children with, without changing the process's default (Python's
/// `multiprocessing.get_context(method)`).
///
/// Shared objects (queues, pipes, locks, values, arrays) do not depend on the method here:
/// their memory is a `memfd` that every method can pass to a child. The other crates take a
/// context where they start processes themselves (a pool's workers, a manager's server).
///
/// ```
/// use ipc_common::process::{StartMethod, get_context};
///
/// fn square(x: u64) -> Result<(), String> {
///     if x * x == 49 { Ok(()) } else { Err(format!("{x} squared is not 49")) }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ctx = get_context(StartMethod::Spawn);
/// let child = ctx.process(square, 7).name("Square").start()?;
/// assert_eq!(child.join()?, 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

/// A context that starts children with `method` (Python's `get_context(method)`).
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

impl Context {
    /// The context of the process's default method ([`get_start_method`]).
    pub fn default_method() -> Context {
        get_context(get_start_method())
    }

    /// The context's start method (Python's `ctx.get_start_method()`).
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A child of this context that will run `target(args)` (Python's `ctx.Process(...)`).
    pub fn process<A, R>(&self, target: fn(A) -> R, args: A) -> Builder<A, R>
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        Builder::new(target, args).start_method(self.method)
    }
}
