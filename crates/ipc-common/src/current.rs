//! Which process this is: Python's `current_process()` and `parent_process()`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A process's name and pid, as [`current_process`] and [`parent_process`] report them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its name: `"MainProcess"` for the program itself, the name given at start for a child.
    pub name: String,
    /// Its process id.
    pub pid: i32,
}

/// This process's name, and its parent's name and pid if it was started by this crate.
struct Me {
    name: Option<String>,
    parent: Option<ProcessInfo>,
}

static ME: Mutex<Me> = Mutex::new(Me {
    name: None,
    parent: None,
});

/// This process (Python's `multiprocessing.current_process()`): `MainProcess` in the program
/// itself, the name it was started with in a child.
///
/// ```
/// let me = ipc_common::current_process();
/// assert_eq!(me.pid, std::process::id() as i32);
/// assert_eq!(me.name, "MainProcess");
/// ```
pub fn current_process() -> ProcessInfo {
    let me = ME.lock().unwrap_or_else(|e| e.into_inner());
    ProcessInfo {
        name: me.name.clone().unwrap_or_else(|| "MainProcess".to_string()),
        pid: std::process::id() as i32,
    }
}

/// The process that started this one, if this one was started by this crate (Python's
/// `multiprocessing.parent_process()`, `None` in the main process).
pub fn parent_process() -> Option<ProcessInfo> {
    ME.lock().unwrap_or_else(|e| e.into_inner()).parent.clone()
}

/// Called first thing in a new child: it is now `name`, started by `parent`.
pub(crate) fn became_child_of(name: &str, parent: ProcessInfo) {
    let mut me = ME.lock().unwrap_or_else(|e| e.into_inner());
    me.name = Some(name.to_string());
    me.parent = Some(parent);
}

/// Whether this process is a daemon child.
static DAEMON: AtomicBool = AtomicBool::new(false);

/// Whether this process is a daemon child (Python's `current_process().daemon`).
pub fn is_daemon() -> bool {
    DAEMON.load(Ordering::Relaxed)
}

/// Called in a new child: whether it is a daemon.
pub(crate) fn set_daemon(daemon: bool) {
    DAEMON.store(daemon, Ordering::Relaxed);
}
