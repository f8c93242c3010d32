//! Python's `multiprocessing.managers` in Rust: a server process that owns shared objects
//! (dicts, lists, namespaces, queues, locks, conditions, events, barriers, values, arrays, and
//! objects of your own types), and proxies that reach them from any process, on this host or
//! another.
//!
//! [`Manager::start`] starts the server (with the process's start method, or the one
//! [`ManagerBuilder::start_method`] names). By default it listens on a Unix socket in Linux's
//! *abstract* namespace (a name with no file behind it, so nothing is left to clean up), named
//! with 128 random bits so that nobody can guess it and take it first; or at a TCP address
//! ([`ManagerBuilder::address`]). A [`Manager`] makes objects on the server through
//! [`Factory`] (`manager.dict()`, `manager.queue(0)`...) and returns proxies: every operation
//! on a proxy is one request and one reply, as in Python. The server answers each connection on
//! a thread of its own, as Python's does, and applies each request to its object under that
//! object's own lock, so every operation is atomic.
//!
//! # Python and Rust
//!
//! | Python | Rust |
//! |---|---|
//! | `with multiprocessing.Manager() as m:` | `let m = Manager::start()?;` (dropped: stopped) |
//! | `ctx.Manager()` | `Manager::builder().start_method(m).start()?` |
//! | `BaseManager(address, authkey)` | `Manager::builder().address(a).authkey(k)` |
//! | `m.start()` / `m.shutdown()` | [`ManagerBuilder::start`] / [`Manager::shutdown`] |
//! | `m.get_server().serve_forever()` | `builder.server()?.serve_forever()?` ([`Server`]) |
//! | `m.connect()` | [`Manager::connect`]`(address, key)` |
//! | `m.address` | [`Factory::address`] (an [`Address`]: `@name` or `host:port`) |
//! | `m.dict()`, `m.dict(mapping)` | [`Factory::dict`], [`Factory::dict_from`] → [`DictProxy`] |
//! | `d[k] = v`, `d[k]`, `d.get(k)` | `d.set(&k, &v)`, `d.get(&k)?` (an `Option`) |
//! | `k in d`, `del d[k]`, `len(d)` | `d.contains(&k)`, `d.del_item(&k)` (`KeyError`: [`ManagerError::KeyNotFound`]), `d.len()` |
//! | `d.pop(k)`, `d.pop(k, default)` | `d.pop(&k)`, `d.pop_or(&k, default)` |
//! | `d.popitem()`, `d.setdefault(k, v)` | `d.popitem()` (newest first), `d.setdefault(&k, &v)` |
//! | `d.update(e)`, `d.clear()`, `d.copy()` | `d.update(e)`, `d.clear()`, `d.copy()` (a `Vec` of entries) |
//! | `d.keys()`, `d.values()`, `d.items()` | `d.keys()`, `d.values()`, `d.items()` (snapshots) |
//! | `for k, v in d.items():` | `for (k, v) in d.iter()? {` (a snapshot) |
//! | `m.list()`, `m.list(seq)` | [`Factory::list`], [`Factory::list_from`] → [`ListProxy`] |
//! | `l[i]`, `l[i] = x` (`i` may be negative) | `l.get(i)`, `l.set(i, &x)` (`IndexError`: [`ManagerError::IndexOutOfRange`]) |
//! | `l[a:b]`, `l[a:b] = xs`, `del l[a:b]` | `l.get_slice(a..b)`, `l.set_slice(a..b, xs)`, `l.del_slice(a..b)` |
//! | `l.append(x)`, `l.extend(xs)`, `l.insert(i, x)` | `l.append(&x)`, `l.extend(xs)`, `l.insert(i, &x)` |
//! | `l.pop()`, `l.pop(i)` | `l.pop()`, `l.pop_at(i)` |
//! | `l.remove(x)`, `l.index(x)` | `l.remove(&x)`, `l.index(&x)` (`ValueError`: [`ManagerError::NotInList`]) |
//! | `l.count(x)`, `x in l`, `len(l)` | `l.count(&x)`, `l.contains(&x)`, `l.len()` |
//! | `l.reverse()`, `l.sort()`, `l.sort(key=f)` | `l.reverse()`, `l.sort()`, `l.sort_by_key(f)`, `l.sort_by(cmp)` |
//! | `l *= n`, `list(l)`, `for x in l:` | `l.repeat_in_place(n)`, `l.to_vec()`, `for x in l.iter()? {` |
//! | `m.Namespace()`; `ns.x = v`, `ns.x`, `del ns.x` | [`Factory::namespace`] → [`NamespaceProxy`]: `ns.set("x", &v)`, `ns.get::<T>("x")`, `ns.del("x")` (`AttributeError`: [`ManagerError::NoAttribute`]) |
//! | `m.Queue(maxsize)`, `m.JoinableQueue(maxsize)` | [`Factory::queue`], [`Factory::joinable_queue`] → [`QueueProxy`] |
//! | `q.put(x)`, `q.put(x, timeout=t)`, `q.put_nowait(x)` | `q.put(&x)`, `q.put_timeout(&x, t)`, `q.put_nowait(&x)` (`queue.Full`: [`ManagerError::Full`]) |
//! | `q.get()`, `q.get(timeout=t)`, `q.get_nowait()` | `q.get()`, `q.get_timeout(t)`, `q.get_nowait()` (`queue.Empty`: [`ManagerError::Empty`]) |
//! | `q.qsize()`, `q.empty()`, `q.full()` | `q.qsize()`, `q.empty()`, `q.full()` |
//! | `q.task_done()`, `q.join()` | `q.task_done()`, `q.join()`, `q.join_timeout(t)` |
//! | `m.Lock()`, `m.RLock()` | [`Factory::lock`], [`Factory::rlock`] → [`LockProxy`], [`RLockProxy`] |
//! | `m.Semaphore(n)`, `m.BoundedSemaphore(n)` | [`Factory::semaphore`], [`Factory::bounded_semaphore`] → [`SemaphoreProxy`] |
//! | `x.acquire()`, `x.acquire(timeout=t)`, `x.acquire(False)` | `x.acquire()`, `x.acquire_timeout(t)`, `x.try_acquire()` (a `bool`) |
//! | `x.release()`, `with x:` | `x.release()`, `let _held = x.lock()?;` ([`Acquired`]) |
//! | `m.Condition()`, `m.Condition(lock)` | [`Factory::condition`], [`Factory::condition_with`] → [`ConditionProxy`] |
//! | `c.wait()`, `c.wait(t)`, `c.wait_for(p, t)` | `c.wait()`, `c.wait_timeout(t)`, `c.wait_for(p)`, `c.wait_for_timeout(p, t)` |
//! | `c.notify()`, `c.notify(n)`, `c.notify_all()` | `c.notify()`, `c.notify_n(n)`, `c.notify_all()` |
//! | `m.Event()`: `set`, `clear`, `is_set`, `wait(t)` | [`Factory::event`] → [`EventProxy`]: `set()`, `clear()`, `is_set()`, `wait()`, `wait_timeout(t)` |
//! | `m.Barrier(n)`: `wait(t)`, `reset`, `abort` | [`Factory::barrier`] → [`BarrierProxy`]: `wait()`, `wait_timeout(t)`, `reset()`, `abort()` ([`ManagerError::BrokenBarrier`]) |
//! | `b.parties`, `b.n_waiting`, `b.broken` | `b.parties()`, `b.n_waiting()`, `b.broken()` |
//! | `m.Value(typecode, v)`: `v.value` | [`Factory::value`] → [`ValueProxy`]: `v.get()`, `v.set(&x)` |
//! | `m.Array(typecode, seq)`: `len(a)`, `a[i]`, `a[a:b]` | [`Factory::array`] → [`ArrayProxy`]: `a.len()`, `a.get(i)`, `a.set(i, &x)`, `a.get_slice(a..b)` |
//! | `d[k] = m.list()`; `d[k].append(x)` (nested proxies) | `d.set(&k, &m.list()?)`; `d.get(&k)?` is an `Option<ListProxy<T>>` of that same list |
//! | `BaseManager.register(typeid, callable)` | `Manager::builder().register::<T>()` with `T:` [`SharedType`] |
//! | `m.typeid(args)`, `proxy._callmethod(name, args)` | `m.create::<T>(&args)?` → [`ObjectProxy`]: `p.call(name, &args)` |
//! | `register(typeid)` + `connect()` on a client | [`Manager::connect`], then `m.named(name)` ([`Factory::named`]) to reach shared objects by name |
//! | exceptions | [`ManagerError`] variants, each naming the exception |
//! | `m.Pool()`; `register(..., proxytype=, exposed=, method_to_typeid=)` | not provided (the `pool` crate is Python's `Pool`; wrap an [`ObjectProxy`] in a type of your own for a proxy type) |
//!
//! # Who may connect
//!
//! As in Python, a connection is served only after both ends have proved that they know the
//! manager's *authkey* ([`ipc_common::auth`], Python's HMAC challenge). By default that is
//! the authkey of the process that starts the manager ([`auth::authkey`]), which its children
//! inherit; only processes of the server's own user may then try it at all. A key set
//! explicitly ([`Manager::with_authkey`], [`ManagerBuilder::authkey`], Python's
//! `BaseManager(authkey=...)`) is meant to be shared: whoever knows it may connect, whatever
//! their user. Over TCP the server cannot know the peer's user: the key alone guards it, as in
//! Python. A refused client gets nothing; the server reports it on its stderr (at most once a
//! second, counting the others) and goes on. Since the client challenges the server too, a
//! proxy never takes the answers of an impostor that took the address of a dead server.
//! Nothing is encrypted, as in Python. See `SECURITY.md`.
//!
//! # Values
//!
//! Keys, values and items are any serde types with `'static` lifetime, encoded with
//! [`ipc_common::codec`] (postcard, with raw fast paths for bytes, strings and numeric
//! vectors). The server keeps the encoded bytes without decoding them, so two keys (or two
//! items, for `remove`, `index`, `count`, `contains`) are equal when their encodings are the
//! same bytes (`0.0` and `-0.0` differ, unlike Python). Ordering needs the type, so a list is
//! sorted by the client, atomically with respect to other clients (see
//! [`ListProxy::sort_by`]). Each key, value or item may be up to a limit, 1 GiB by default
//! ([`frame::DEFAULT_MAX_MESSAGE`]) and set with [`ManagerBuilder::max_message`]: a larger one
//! is refused whole by the sending proxy, with nothing sent. Snapshots
//! ([`DictProxy::items`], [`ListProxy::to_vec`]) and sequences (`extend`, `update`) stream item
//! by item and may be of any size.
//!
//! A value may be a proxy: a proxy stored in a dict or list is stored as a reference to its
//! object, and getting it back yields a proxy of that object, so a change made through it is
//! seen by all (Python's nested proxies). Objects live until the server stops: unlike Python's
//! manager, which frees an object when its last proxy is gone, the server cannot count proxies
//! that hide, encoded, in values it never decodes.
//!
//! # Clients, waiting, and clients that go away
//!
//! Every proxy of one manager used on one thread shares one connection, and each thread has
//! its own, as in Python: a connection is a *client*. The owner of an [`RLockProxy`], the
//! holder of a [`LockProxy`], is the client that acquired it. A blocking operation (a queue's
//! `get`, a lock's `acquire`, a condition's `wait`, a barrier's `wait`) waits in the server
//! and holds up only its own client; each has a timed form, whose timeout the server keeps.
//! When a client's connection closes (its thread ended, its process exited or was killed), the
//! server notices within 50 ms even while the client waits, and:
//!
//! - releases every lock the client held, waking their waiters (**better than Python**, whose
//!   manager keeps such a lock held for ever and every later `acquire` hangs);
//! - stops its waits: an item, permit or notification is never handed to a client that is
//!   gone (an item taken at the last moment goes back to the head of its queue, a permit back
//!   to its semaphore, a notification to the next waiter), and a barrier it waited at breaks,
//!   so that the other parties do not wait for it for ever.
//!
//! A timed request whose reply does not come within 10 s past its timeout (a stopped server)
//! fails with [`ManagerError::Unresponsive`]; an untimed one waits, as in Python.
//!
//! # Proxies in other processes
//!
//! A child made by [`Process::start`] (fork) may use the parent's proxies directly (borrow
//! them in the closure): each process opens its own connections. Proxies serialize, so they
//! travel to children started by spawn or forkserver as arguments of `Process::new`, with the
//! manager's key (only there: a proxy serialized anywhere else carries no key, and its
//! receiver uses its own process's key, as in Python). A process that shares nothing with the
//! manager's creator needs only the address and the key ([`Manager::connect`]); named objects
//! ([`Factory::named`]) let it reach the objects others use.
//!
//! # When the server is gone
//!
//! Dropping a [`Manager`] that started its server (the end of Python's `with` block) stops the
//! server and reaps it. A request to a server that has ended, however it ended, fails at once
//! with [`ManagerError::ServerGone`]: the kernel closes a dead server's sockets.
//!
//! # Example
//!
//! ```
//! use ipc_common::Process;
//! use manager::{ListProxy, Manager};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = Manager::start()?;
//! let squares = manager.dict::<u32, u64>()?;
//! let log = manager.list::<String>()?;
//! let jobs = manager.queue::<u32>(0)?;
//! let child = Process::start("worker", || -> Result<(), manager::ManagerError> {
//!     let n = jobs.get()?; // waits in the server for the parent's put
//!     squares.set(&n, &u64::from(n * n))?;
//!     log.append(&format!("squared {n}"))
//! })?;
//! jobs.put(&3)?;
//! assert_eq!(child.join()?, 0);
//! assert_eq!(squares.items()?, vec![(3, 9)]);
//! assert_eq!(log.to_vec()?, ["squared 3"]);
//!
//! // A dict of lists: the dict holds a reference, and every proxy reaches the same list.
//! let groups = manager.dict::<String, ListProxy<u32>>()?;
//! groups.set(&"odd".into(), &manager.list::<u32>()?)?;
//! let odd = groups.get(&"odd".into())?.expect("set above");
//! odd.append(&1)?;
//! assert_eq!(groups.get(&"odd".into())?.expect("set above").to_vec()?, [1]);
//! # Ok(()) }
//! ```

#[cfg(doc)]
use ipc_common::{Process, auth, frame};

mod address;
mod client;
mod error;
mod manager;
mod protocol;
mod proxy;
mod registry;
mod server;

pub use address::{Address, BadAddress};
pub use error::ManagerError;
pub use ipc_common::auth::AuthKey;
pub use manager::{Factory, Manager, ManagerBuilder, Server};
pub use proxy::{
    Acquired, ArrayProxy, BarrierProxy, ConditionLock, ConditionProxy, DictProxy, EventProxy,
    ListProxy, LockProxy, NamespaceProxy, ObjectProxy, QueueProxy, RLockProxy, SemaphoreProxy,
    ValueProxy,
};
pub use registry::{Call, CallError, Registry, SharedType, Types};

#[cfg(test)]
mod tests {
    use super::*;

    /// Proxies and factories may be shared between threads (each thread talks to the server
    /// over its own connection); a manager may be moved to another thread.
    #[test]
    fn proxies_are_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        fn sent<T: Send>() {}
        shared::<Factory>();
        sent::<Manager>(); // its server's `Process` handle is not `Sync`
        shared::<DictProxy<String, Vec<u8>>>();
        shared::<ListProxy<std::rc::Rc<u8>>>(); // whatever the items are: only bytes travel
        shared::<NamespaceProxy>();
        shared::<QueueProxy<u8>>();
        shared::<LockProxy>();
        shared::<RLockProxy>();
        shared::<SemaphoreProxy>();
        shared::<ConditionProxy>();
        shared::<EventProxy>();
        shared::<BarrierProxy>();
        shared::<ValueProxy<u8>>();
        shared::<ArrayProxy<u8>>();
        shared::<ObjectProxy>();
        shared::<Acquired<'static>>();
    }
}
