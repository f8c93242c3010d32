//! A custom process "class" in Rust: the [`Worker`] trait (note 8.1, 继承Process类).
//!
//! In Python, a class derived from `multiprocessing.Process` overrides `run()`, and
//! `start()` runs that method in a new process. In Rust, a type implements [`Worker`]: its
//! [`run`](Worker::run) is the child's entry point, [`process_task`](Worker::process_task)
//! handles one task, and [`start`](Worker::start) forks a child that calls `run` on the
//! child's own copy of the value.
//!
//! The value is *moved* into the child: as in Python, whatever `run` changes in its fields
//! (a `running` flag, a counter) changes in the child's copy only, never in the parent's.
//! Talk to a running worker through queues, as the demo does.
//!
//! [`Value`] is the note's kind of task: a Python value that is an int or a string.

use std::fmt;

use ipc_common::pyfmt::PyRepr;
use ipc_common::{Process, ProcessError};
use serde::{Deserialize, Serialize};

/// A process with its own entry point: Python's subclass of `multiprocessing.Process`.
///
/// # Example
///
/// ```
/// use custom_worker::Worker;
/// use queue::Queue;
///
/// /// Squares numbers until it gets `None`.
/// struct Squarer<'q> {
///     tasks: &'q Queue<Option<u64>>,
///     results: &'q Queue<u64>,
/// }
///
/// impl Worker for Squarer<'_> {
///     type Task = u64;
///     type Output = u64;
///
///     fn run(&mut self) -> anyhow::Result<()> {
///         while let Some(n) = self.tasks.get()? {
///             let square = self.process_task(&n)?;
///             self.results.put(&square)?;
///         }
///         Ok(())
///     }
///
///     fn process_task(&mut self, n: &u64) -> anyhow::Result<u64> {
///         n.checked_mul(*n).ok_or_else(|| anyhow::anyhow!("{n} squared overflows"))
///     }
/// }
///
/// # fn main() -> anyhow::Result<()> {
/// let (tasks, results) = (Queue::new(0)?, Queue::new(0)?);
/// let worker = Squarer { tasks: &tasks, results: &results }.start("squarer")?;
/// tasks.put(&Some(7))?;
/// tasks.put(&None)?;
/// assert_eq!(results.get()?, 49);
/// worker.join_ok()?;
/// # Ok(()) }
/// ```
pub trait Worker {
    /// One task the worker takes.
    type Task;
    /// What processing one task gives.
    type Output;

    /// The process's entry point (Python's overridden `run()`). It runs in the child; an
    /// `Err` is printed on stderr and ends the child with exit code 1.
    ///
    /// # Errors
    ///
    /// Whatever ends the worker unsuccessfully.
    fn run(&mut self) -> anyhow::Result<()>;

    /// Processes one task (called by [`run`](Worker::run)).
    ///
    /// # Errors
    ///
    /// A task that cannot be processed.
    fn process_task(&mut self, task: &Self::Task) -> anyhow::Result<Self::Output>;

    /// Starts a child process named `name` that runs [`run`](Worker::run) on its copy of
    /// `self` (Python's `start()`); returns the child's handle.
    ///
    /// # Errors
    ///
    /// As for [`Process::start`].
    fn start(mut self, name: impl Into<String>) -> Result<Process, ProcessError>
    where
        Self: Sized,
    {
        Process::start(name, move || self.run())
    }
}

/// An int or a string, as in the note's task list `[1, 2, 3, "hello", ...]`: in a text format
/// (JSON) it is written as a bare number or string, so the note's list decodes as it is; in
/// the binary format of queues it carries its variant, as binary formats need.
/// [`Display`](fmt::Display) shows it as Python's `str()` does, [`PyRepr`] as `repr()` does
/// (strings quoted).
///
/// ```
/// use custom_worker::Value;
/// use ipc_common::pyfmt::PyRepr;
///
/// let tasks: Vec<Value> = serde_json::from_str(r#"[1, "hello"]"#)?;
/// assert_eq!(tasks, [Value::Int(1), Value::Str("hello".into())]);
/// assert_eq!(format!("处理任务: {}", tasks[1]), "处理任务: hello");
/// assert_eq!((0, &tasks[1], "HELLO").py_repr(), "(0, 'hello', 'HELLO')");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A Python `int` (64 bits here).
    Int(i64),
    /// A Python `str`.
    Str(String),
}

/// How a [`Value`] is written: bare in text formats, tagged in binary ones.
mod wire {
    use serde::{Deserialize, Serialize};

    /// Text formats: a number or a string, told apart by what it looks like.
    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    pub(super) enum Bare {
        Int(i64),
        Str(String),
    }

    /// Binary formats (postcard), which cannot guess: the variant is written.
    #[derive(Serialize, Deserialize)]
    pub(super) enum Tagged {
        Int(i64),
        Str(String),
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self, serializer.is_human_readable()) {
            (Value::Int(n), true) => wire::Bare::Int(*n).serialize(serializer),
            (Value::Str(s), true) => wire::Bare::Str(s.clone()).serialize(serializer),
            (Value::Int(n), false) => wire::Tagged::Int(*n).serialize(serializer),
            (Value::Str(s), false) => wire::Tagged::Str(s.clone()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(if deserializer.is_human_readable() {
            match wire::Bare::deserialize(deserializer)? {
                wire::Bare::Int(n) => Value::Int(n),
                wire::Bare::Str(s) => Value::Str(s),
            }
        } else {
            match wire::Tagged::deserialize(deserializer)? {
                wire::Tagged::Int(n) => Value::Int(n),
                wire::Tagged::Str(s) => Value::Str(s),
            }
        })
    }
}

/// `str(value)`: `1`, `hello` (unquoted).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

/// `repr(value)`: `1`, `'hello'` (quoted).
impl PyRepr for Value {
    fn write_repr(&self, out: &mut String) {
        match self {
            Value::Int(n) => n.write_repr(out),
            Value::Str(s) => s.write_repr(out),
        }
    }
}
