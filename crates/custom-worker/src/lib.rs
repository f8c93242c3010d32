//! A custom process "class" in Rust: the [`Worker`] trait (note 8.1, 继承Process类).
//!
//! In Python, a class derived from `multiprocessing.Process` overrides `run()`, and
//! `start()` runs that method in a new process. In Rust, a type implements [`Worker`]: its
//! [`run`](Worker::run) is the child's entry point, and [`start`](Worker::start) starts a
//! child, with the program's [start method](ipc_common::StartMethod), that calls `run` on its
//! own copy of the value. Everything else (the note's `process_task` and `stop`) are the
//! type's own methods, as in Python.
//!
//! The copy is made as Python makes it: under fork the child gets a clone of the value, under
//! spawn and forkserver the value is serialized as the child's argument (Python pickles the
//! `Process` object), shared objects among its fields (queues, locks) travelling as handles to
//! the same shared memory. So, as in Python, whatever `run` changes in the worker's plain
//! fields (a `running` flag, a counter) changes in the child's copy only, and whatever the
//! parent changes in its own copy after the start never reaches the child. Talk to a running
//! worker through queues, as the demo does.
//!
//! [`Value`] is the note's kind of task: a Python value that is an int or a string.

use std::fmt;

use ipc_common::pyfmt::PyRepr;
use ipc_common::{Context, Process, ProcessError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A process with its own entry point: Python's subclass of `multiprocessing.Process`.
///
/// The worker value is the child's argument, so it must be [`Clone`] (the parent keeps its
/// own copy, as Python's parent keeps its object) and serde-serializable (it travels to a
/// spawned child): hold shared objects that travel, such as queues, and plain data.
///
/// # Example
///
/// ```
/// use custom_worker::Worker;
/// use queue::{Queue, QueueError};
/// use serde::{Deserialize, Serialize};
///
/// /// Squares numbers until it gets `None`.
/// #[derive(Clone, Serialize, Deserialize)]
/// struct Squarer {
///     tasks: Queue<Option<u64>>,
///     results: Queue<Option<u64>>,
/// }
///
/// impl Worker for Squarer {
///     type Error = QueueError;
///
///     fn run(&mut self) -> Result<(), QueueError> {
///         while let Some(n) = self.tasks.get()? {
///             self.results.put(&n.checked_mul(n))?; // None: the square overflows
///         }
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let squarer = Squarer { tasks: Queue::new(0)?, results: Queue::new(0)? };
/// let worker = squarer.start("squarer")?;
/// squarer.tasks.put(&Some(7))?;
/// squarer.tasks.put(&Some(u64::MAX))?;
/// squarer.tasks.put(&None)?;
/// assert_eq!(squarer.results.get()?, Some(49));
/// assert_eq!(squarer.results.get()?, None);
/// worker.join_ok()?;
/// # Ok(()) }
/// ```
pub trait Worker: Clone + Serialize + DeserializeOwned + 'static {
    /// Why [`run`](Worker::run) failed.
    type Error: fmt::Display + 'static;

    /// The process's entry point (Python's overridden `run()`). It runs in the child; an
    /// `Err` is printed on stderr (`process NAME (pid N) failed: ...`) and ends the child
    /// with exit code 1.
    ///
    /// # Errors
    ///
    /// Whatever ends the worker unsuccessfully.
    fn run(&mut self) -> Result<(), Self::Error>;

    /// Starts a child process named `name` that runs [`run`](Worker::run) on its own copy of
    /// `self` (Python's `start()`), with the program's start method; returns the child's
    /// handle. The parent keeps `self`.
    ///
    /// # Errors
    ///
    /// As for [`Builder::start`](ipc_common::process::Builder::start): among others,
    /// [`ProcessError::Arguments`] if a field cannot travel to a spawned child.
    fn start(&self, name: impl Into<String>) -> Result<Process, ProcessError> {
        self.start_with(Context::default_method(), name)
    }

    /// As [`start`](Worker::start), with `ctx`'s start method (Python: a class derived from
    /// `get_context(method).Process`).
    ///
    /// # Errors
    ///
    /// As for [`start`](Worker::start).
    fn start_with(&self, ctx: Context, name: impl Into<String>) -> Result<Process, ProcessError> {
        ctx.process(run_in_child::<Self>, self.clone())
            .name(name)
            .start()
    }
}

/// The target of every worker's child: runs the child's copy.
fn run_in_child<W: Worker>(mut worker: W) -> Result<(), W::Error> {
    worker.run()
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
