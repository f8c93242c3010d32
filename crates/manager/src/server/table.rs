//! The server's objects, by id and by name, and how a request reaches one.
//!
//! Ids are positions in a table that only grows: an object lives until the server stops.
//! (Python's manager counts the proxies of each object and frees it when the last one is
//! gone. Here a proxy may sit, encoded, inside a value the server never decodes, so the
//! server cannot count them.) The table is read under a read lock for as long as it takes to
//! clone the object's handle; the object itself is then used under its own mutex, so that
//! clients of different objects never wait for each other.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::Outcome;
use super::barrier::{self, Barrier};
use super::condition::{self, Condition};
use super::dict::{self, Dict};
use super::list::{self, List};
use super::queue::{self, Queue};
use super::reply::Reply;
use super::request::{End, Request};
use super::sync::{self, LockState, Semaphore};
use super::wait::{Cell, Peer};
use crate::protocol::{ErrorKind, Kind};
use crate::registry::{Call, CallError, Served, Types};

/// A handle of an object: its cell, by what it holds.
#[derive(Clone)]
enum Object {
    Dict(Arc<Cell<Dict>>),
    List(Arc<Cell<List>>),
    Queue(Arc<Cell<Queue>>),
    Lock(Arc<Cell<LockState>>),
    Semaphore(Arc<Cell<Semaphore>>),
    Condition(Arc<Cell<Condition>>),
    Event(Arc<Cell<bool>>),
    Barrier(Arc<Cell<Barrier>>),
    Custom(Arc<Cell<Box<dyn Served>>>),
}

/// An object, its kind, and for an object of a registered type its type's id.
#[derive(Clone)]
struct Entry {
    kind: Kind,
    typeid: Option<Arc<str>>,
    object: Object,
}

/// Every object of the server.
pub(super) struct Table {
    entries: RwLock<Vec<Entry>>,
    names: Mutex<HashMap<String, u32>>,
    types: Types,
}

impl Table {
    pub(super) fn new(types: Types) -> Table {
        Table {
            entries: RwLock::new(Vec::new()),
            names: Mutex::new(HashMap::new()),
            types,
        }
    }

    fn get(&self, id: u32) -> Option<Entry> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.get(id as usize).cloned()
    }

    fn push(&self, entry: Entry) -> Result<u32, Reply> {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let id = u32::try_from(entries.len())
            .map_err(|_| Reply::Refused("too many shared objects".into()))?;
        entries.push(entry);
        Ok(id)
    }

    /// `New`: makes an object, or for a name that is taken returns that object if it is of
    /// the kind asked for (the first to ask makes it with its arguments; the others get it as
    /// it is, as Python's `register(typeid, callable)` callables that return one shared
    /// object).
    pub(super) fn create(&self, request: &Request<'_>) -> Result<Reply, End> {
        let kind = match request.field(0)? {
            [byte] => Kind::from_byte(*byte).ok_or(End)?,
            _ => return Err(End),
        };
        let name = request.text(1)?;
        let params = request.field(2)?;
        let typeid = match kind {
            Kind::Object => Some(std::str::from_utf8(params).map_err(|_| End)?),
            _ => None,
        };
        let new_id = |entry: Result<Entry, Reply>| -> Reply {
            match entry.and_then(|entry| self.push(entry)) {
                Ok(id) => Reply::Number(id.into()),
                Err(reply) => reply,
            }
        };
        if name.is_empty() {
            return Ok(new_id(self.make(kind, params, request)?));
        }
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = names.get(name) {
            let entry = self.get(id).ok_or(End)?;
            return Ok(
                match entry.kind == kind && entry.typeid.as_deref() == typeid {
                    true => Reply::Number(id.into()),
                    false => Reply::Refused(format!(
                        "the shared object named {name:?} is a {}, not a {}",
                        describe(entry.kind, entry.typeid.as_deref()),
                        describe(kind, typeid),
                    )),
                },
            );
        }
        let reply = new_id(self.make(kind, params, request)?);
        if let Reply::Number(id) = reply {
            names.insert(name.to_owned(), id as u32);
        }
        Ok(reply)
    }

    /// Makes an object of `kind` from its parameters and items.
    fn make(
        &self,
        kind: Kind,
        params: &[u8],
        request: &Request<'_>,
    ) -> Result<Result<Entry, Reply>, End> {
        let items = &request.items;
        let number =
            || -> Result<u64, End> { Ok(u64::from_be_bytes(params.try_into().map_err(|_| End)?)) };
        let mut typeid = None;
        let object = match kind {
            Kind::Dict | Kind::Namespace if items.len().is_multiple_of(2) => {
                Object::Dict(Cell::new(Dict::from_items(items)))
            }
            Kind::List | Kind::Array => Object::List(Cell::new(List::new(items.clone()))),
            Kind::Value if items.len() == 1 => Object::List(Cell::new(List::new(items.clone()))),
            Kind::Queue | Kind::JoinableQueue => {
                let maxsize = usize::try_from(number()?).unwrap_or(usize::MAX);
                Object::Queue(Cell::new(Queue::new(maxsize)))
            }
            Kind::Lock | Kind::RLock => {
                Object::Lock(Cell::new(LockState::new(kind == Kind::RLock)))
            }
            Kind::Semaphore | Kind::BoundedSemaphore => Object::Semaphore(Cell::new(
                Semaphore::new(number()?, kind == Kind::BoundedSemaphore),
            )),
            Kind::Condition => {
                let lock = match params {
                    [] => Cell::new(LockState::new(true)),
                    _ => {
                        let id = u32::try_from(number()?).unwrap_or(u32::MAX);
                        match self.get(id).map(|e| e.object) {
                            Some(Object::Lock(lock)) => lock,
                            _ => {
                                return Ok(Err(Reply::Refused(format!(
                                    "shared object {id} is not a Lock or an RLock"
                                ))));
                            }
                        }
                    }
                };
                Object::Condition(Cell::new(Condition::new(lock)))
            }
            Kind::Event => Object::Event(Cell::new(false)),
            Kind::Barrier => match number()? {
                0 => {
                    return Ok(Err(Reply::Refused(
                        "a barrier needs at least one party".into(),
                    )));
                }
                parties => Object::Barrier(Cell::new(Barrier::new(parties))),
            },
            Kind::Object if items.len() == 1 => {
                let id = std::str::from_utf8(params).map_err(|_| End)?;
                match self.types.make(id, &items[0]) {
                    None => {
                        return Ok(Err(Reply::Refused(format!(
                            "no type {id:?} was registered with this manager"
                        ))));
                    }
                    Some(Err(e)) => return Ok(Err(method_error(e))),
                    Some(Ok(made)) => {
                        typeid = Some(Arc::from(id));
                        Object::Custom(Cell::new(made))
                    }
                }
            }
            _ => return Err(End),
        };
        Ok(Ok(Entry {
            kind,
            typeid,
            object,
        }))
    }

    /// Applies a request to its object.
    pub(super) fn apply(&self, peer: &Peer<'_>, request: &Request<'_>) -> Result<Outcome, End> {
        let Some(entry) = self.get(request.id) else {
            return Ok(Reply::Refused(format!("no shared object {}", request.id)).into());
        };
        match entry.object {
            Object::Dict(cell) => dict::apply(&cell, request).map(Outcome::from),
            Object::List(cell) => list::apply(&cell, request).map(Outcome::from),
            Object::Queue(cell) => queue::apply(&cell, peer, request),
            Object::Lock(cell) => sync::apply_lock(&cell, peer, request),
            Object::Semaphore(cell) => sync::apply_semaphore(&cell, peer, request),
            Object::Condition(cell) => condition::apply(&cell, peer, request),
            Object::Event(cell) => sync::apply_event(&cell, peer, request),
            Object::Barrier(cell) => barrier::apply(&cell, peer, request),
            Object::Custom(cell) => call(&cell, request).map(Outcome::from),
        }
    }
}

/// How a kind is named in a message.
fn describe(kind: Kind, typeid: Option<&str>) -> String {
    match typeid {
        Some(id) => format!("{id:?}"),
        None => format!("{kind:?}"),
    }
}

/// The reply of a failed method or constructor.
fn method_error(e: CallError) -> Reply {
    match e {
        CallError::NoMethod(name) => Reply::Error(
            ErrorKind::NoAttribute,
            format!("the shared object has no method {name:?}"),
        ),
        other => Reply::Error(ErrorKind::Method, other.to_string()),
    }
}

/// Calls a method of an object of a registered type.
fn call(cell: &Cell<Box<dyn Served>>, request: &Request<'_>) -> Result<Reply, End> {
    if request.op != crate::protocol::Op::Call {
        return Ok(super::reply::unsupported(request.op));
    }
    let mut call = Call::new(request.text(0)?, request.field(1)?);
    // A method that panics fails this call only (the default hook reports it on stderr).
    let result = panic::catch_unwind(AssertUnwindSafe(|| cell.lock().call(&mut call)));
    Ok(match result {
        Ok(Ok(())) => Reply::Found(Some(call.into_result().into())),
        Ok(Err(e)) => method_error(e),
        Err(_) => Reply::Error(ErrorKind::Method, "the method panicked".into()),
    })
}
