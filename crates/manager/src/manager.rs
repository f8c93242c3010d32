//! The manager: starting its server (as a child, or in this process), connecting to one, and
//! making shared objects on it.

use std::fmt;
use std::io::{self, Read};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use ipc_common::auth::{self, AuthKey};
use ipc_common::share::SharedFd;
use ipc_common::{Process, StartMethod, codec, frame};
use serde::Serialize;
use serde::{Deserialize as DeriveDeserialize, Serialize as DeriveSerialize};

use crate::ManagerError;
use crate::address::{Address, Listener};
use crate::client::{self, Body, Client, Target, no_body};
use crate::protocol::{Kind, Op};
use crate::proxy::{
    ArrayProxy, BarrierProxy, ConditionLock, ConditionProxy, DictProxy, EventProxy, Handle,
    ListProxy, LockProxy, NamespaceProxy, ObjectProxy, Proxy, QueueProxy, RLockProxy,
    SemaphoreProxy, ValueProxy,
};
use crate::registry::{Registry, SharedType, Types};
use crate::server::{self, Admission};

/// How long dropping a [`Manager`] waits for the server to stop by itself.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// A running manager server (Python's `multiprocessing.Manager()`, or a `BaseManager` after
/// `start()` or `connect()`).
///
/// It makes shared objects through [`Factory`], which it dereferences to:
/// `manager.dict()`, `manager.queue(0)`, `manager.named("results").dict()`...
///
/// A manager that started its server ([`Manager::start`], [`ManagerBuilder::start`]) stops it
/// when dropped: the server is asked to shut down, given a second, then terminated, and always
/// reaped. One that connected to a server ([`Manager::connect`]) leaves it running. Proxies
/// outlive their manager only as handles: once the server is gone, their requests fail with
/// [`ManagerError::ServerGone`].
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let shared_dict = manager.dict::<i32, String>()?;
/// shared_dict.set(&0, &"数据来自进程0".to_string())?;
/// assert_eq!(shared_dict.len()?, 1);
/// drop(manager); // the end of Python's `with multiprocessing.Manager() as manager:`
/// assert!(matches!(shared_dict.len(), Err(manager::ManagerError::ServerGone)));
/// # Ok::<(), manager::ManagerError>(())
/// ```
pub struct Manager {
    /// The process that started the server (a forked child holds a copy of this handle).
    owner: u32,
    /// The server, when this manager started it.
    server: Option<Process>,
    /// The server's pid, as it said.
    pid: i32,
    factory: Factory,
}

/// What makes shared objects on a manager's server: Python's `manager.dict()`,
/// `manager.Queue()`, ... A [`Manager`] dereferences to one; [`Factory::named`] gives one
/// whose objects have a name, so that clients that share nothing but the manager's address
/// and key reach the same objects.
///
/// A factory is cheap to clone; it is `Send` and `Sync`.
///
/// # Example
///
/// ```
/// let manager = manager::Manager::start()?;
/// let results = manager.named("results").dict::<u32, String>()?;
/// results.set(&1, &"one".into())?;
/// // Elsewhere (another process that connected to the manager): the same dict.
/// let same = manager.named("results").dict::<u32, String>()?;
/// assert_eq!(same.get(&1)?, Some("one".into()));
/// assert!(manager.named("results").list::<u32>().is_err()); // a dict, not a list
/// # Ok::<(), manager::ManagerError>(())
/// ```
#[derive(Clone)]
pub struct Factory {
    client: Client,
    name: Option<String>,
}

impl fmt::Debug for Factory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factory")
            .field("address", &self.address())
            .field("name", &self.name)
            .finish()
    }
}

impl Factory {
    /// The server's address (Python's `manager.address`).
    pub fn address(&self) -> &Address {
        &self.client.target().address
    }

    /// A factory whose objects are named `name`: the first request of each name makes the
    /// object, with its arguments; every later one, from any client, gets the same object
    /// (Python's `register(typeid, callable)` on the server, with a callable that returns one
    /// shared object, and `register(typeid)` on the clients). A name already given to an
    /// object of another kind is refused ([`ManagerError::Refused`]).
    pub fn named(&self, name: &str) -> Factory {
        Factory {
            client: self.client.clone(),
            name: Some(name.to_owned()),
        }
    }

    /// Makes (or, named, finds) an object of `kind` with `params` and the items `items`
    /// writes.
    fn make<P: Proxy>(
        &self,
        kind: Kind,
        params: &[u8],
        typeid: Option<&str>,
        items: impl FnOnce(&mut Body<'_>) -> Result<(), ManagerError>,
    ) -> Result<P, ManagerError> {
        let name = self.name.as_deref().unwrap_or_default();
        let id = self.client.call(
            Op::New,
            0,
            |body| {
                body.bytes("kind", &[kind as u8])?;
                body.bytes("name", name.as_bytes())?;
                body.bytes("parameters", params)?;
                body.sequence()?;
                items(body)
            },
            |reply| reply.number(),
        )?;
        let id = u32::try_from(id)
            .map_err(|_| ManagerError::BadReply(format!("an object id of {id}")))?;
        Ok(P::from_handle(Handle {
            client: self.client.clone(),
            id,
            kind,
            typeid: typeid.map(Arc::from),
        }))
    }

    /// An object of `kind` made from nothing but a number (or nothing).
    fn make_plain<P: Proxy>(&self, kind: Kind, number: Option<u64>) -> Result<P, ManagerError> {
        let params = number.map(u64::to_be_bytes);
        self.make(kind, params.as_ref().map_or(&[], |p| &p[..]), None, no_body)
    }

    /// An empty shared dict (Python's `manager.dict()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if the server has ended; [`ManagerError::Refused`] for a
    /// name taken by another kind of object.
    pub fn dict<K, V>(&self) -> Result<DictProxy<K, V>, ManagerError> {
        self.make_plain(Kind::Dict, None)
    }

    /// A shared dict of `entries` (Python's `manager.dict(mapping)`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict); [`ManagerError::Encode`] or
    /// [`ManagerError::TooLarge`] for an entry that cannot be sent.
    pub fn dict_from<K, V>(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>, ManagerError>
    where
        K: Serialize + 'static,
        V: Serialize + 'static,
    {
        self.make(Kind::Dict, &[], None, |body| {
            entries.into_iter().try_for_each(|(key, value)| {
                body.value("key", &key)?;
                body.value("value", &value)
            })
        })
    }

    /// An empty shared list (Python's `manager.list()`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn list<T>(&self) -> Result<ListProxy<T>, ManagerError> {
        self.make_plain(Kind::List, None)
    }

    /// A shared list of `items` (Python's `manager.list(sequence)`).
    ///
    /// # Errors
    ///
    /// As for [`dict_from`](Factory::dict_from).
    pub fn list_from<T: Serialize + 'static>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>, ManagerError> {
        self.make(Kind::List, &[], None, |body| {
            body.values::<T>("item", items)
        })
    }

    /// An empty shared namespace (Python's `manager.Namespace()`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn namespace(&self) -> Result<NamespaceProxy, ManagerError> {
        self.make_plain(Kind::Namespace, None)
    }

    /// A shared queue of at most `maxsize` items, 0 for no limit (Python's
    /// `manager.Queue(maxsize)`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>, ManagerError> {
        self.make_plain(Kind::Queue, Some(maxsize as u64))
    }

    /// A shared queue with `task_done` and `join` (Python's `manager.JoinableQueue(maxsize)`;
    /// in Python, as here, every manager queue has them).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn joinable_queue<T>(&self, maxsize: usize) -> Result<QueueProxy<T>, ManagerError> {
        self.make_plain(Kind::JoinableQueue, Some(maxsize as u64))
    }

    /// A shared lock (Python's `manager.Lock()`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn lock(&self) -> Result<LockProxy, ManagerError> {
        self.make_plain(Kind::Lock, None)
    }

    /// A shared reentrant lock (Python's `manager.RLock()`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn rlock(&self) -> Result<RLockProxy, ManagerError> {
        self.make_plain(Kind::RLock, None)
    }

    /// A shared semaphore with `value` permits (Python's `manager.Semaphore(value)`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn semaphore(&self, value: u64) -> Result<SemaphoreProxy, ManagerError> {
        self.make_plain(Kind::Semaphore, Some(value))
    }

    /// A shared semaphore that may not be released above `value` (Python's
    /// `manager.BoundedSemaphore(value)`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn bounded_semaphore(&self, value: u64) -> Result<SemaphoreProxy, ManagerError> {
        self.make_plain(Kind::BoundedSemaphore, Some(value))
    }

    /// A shared condition over a reentrant lock of its own (Python's `manager.Condition()`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn condition(&self) -> Result<ConditionProxy, ManagerError> {
        self.make_plain(Kind::Condition, None)
    }

    /// A shared condition over `lock`, a lock of the same manager (Python's
    /// `manager.Condition(lock)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Refused`] for a lock of another manager; otherwise as for
    /// [`dict`](Factory::dict).
    pub fn condition_with(
        &self,
        lock: &impl ConditionLock,
    ) -> Result<ConditionProxy, ManagerError> {
        let (address, id) = lock.lock_ref();
        if address != self.address() {
            return Err(ManagerError::Refused(format!(
                "the lock belongs to the manager at {address}, not to this one"
            )));
        }
        self.make_plain(Kind::Condition, Some(id.into()))
    }

    /// A shared event (Python's `manager.Event()`).
    ///
    /// # Errors
    ///
    /// As for [`dict`](Factory::dict).
    pub fn event(&self) -> Result<EventProxy, ManagerError> {
        self.make_plain(Kind::Event, None)
    }

    /// A shared barrier for `parties` parties (Python's `manager.Barrier(parties)`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Refused`] for 0 parties; otherwise as for [`dict`](Factory::dict).
    pub fn barrier(&self, parties: usize) -> Result<BarrierProxy, ManagerError> {
        self.make_plain(Kind::Barrier, Some(parties as u64))
    }

    /// A shared value (Python's `manager.Value(typecode, value)`: the type is `T`).
    ///
    /// # Errors
    ///
    /// As for [`dict_from`](Factory::dict_from).
    pub fn value<T: Serialize + 'static>(&self, value: &T) -> Result<ValueProxy<T>, ManagerError> {
        self.make(Kind::Value, &[], None, |body| body.value("value", value))
    }

    /// A shared array of `items` (Python's `manager.Array(typecode, sequence)`: the type is
    /// `T`).
    ///
    /// # Errors
    ///
    /// As for [`dict_from`](Factory::dict_from).
    pub fn array<T: Serialize + 'static>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>, ManagerError> {
        self.make(Kind::Array, &[], None, |body| {
            body.values::<T>("item", items)
        })
    }

    /// An object of the registered type `T`, made in the server by `T::new(args)` (Python's
    /// `manager.typeid(*args)` for a type registered with `register(typeid, callable)`). The
    /// client needs `T` only for its id and its arguments' type: the server must have it
    /// registered ([`ManagerBuilder::register`]).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Refused`] if the server has no type of that id;
    /// [`ManagerError::Method`] if `T::new` failed; otherwise as for
    /// [`dict_from`](Factory::dict_from).
    pub fn create<T: SharedType>(&self, args: &T::Args) -> Result<ObjectProxy, ManagerError> {
        self.make(
            Kind::Object,
            T::TYPEID.as_bytes(),
            Some(T::TYPEID),
            |body| body.value("arguments", args),
        )
    }
}

/// How to start or serve a manager: its address, authkey, limit on values, start method and
/// registered types (Python's `BaseManager(address, authkey)` and `register`, before
/// `start()` or `get_server()`).
///
/// The registered types are part of the builder's type (`R`, a list built by
/// [`register`](ManagerBuilder::register)), so that a server started by spawn, another run of
/// the program, knows them too.
///
/// # Example
///
/// ```
/// use manager::{AuthKey, Manager, ManagerError};
///
/// let manager = Manager::builder()
///     .authkey(AuthKey::new(b"shared on purpose".to_vec()))
///     .max_message(1 << 20)
///     .start()?;
/// let list = manager.list::<Vec<u8>>()?;
/// list.append(&vec![0; 1000])?;
/// let refused = list.append(&vec![0; 2 << 20]);
/// assert!(matches!(refused, Err(ManagerError::TooLarge { what: "item", .. })));
/// assert_eq!(list.len()?, 1);
/// # Ok::<(), ManagerError>(())
/// ```
pub struct ManagerBuilder<R = ()> {
    authkey: Option<AuthKey>,
    max_message: usize,
    method: Option<StartMethod>,
    address: Option<Address>,
    _types: PhantomData<fn() -> R>,
}

impl<R: Registry> fmt::Debug for ManagerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("authkey", &self.authkey)
            .field("max_message", &self.max_message)
            .field("method", &self.method)
            .field("address", &self.address)
            .field("types", &Types::of::<R>())
            .finish()
    }
}

impl<R> Clone for ManagerBuilder<R> {
    fn clone(&self) -> Self {
        ManagerBuilder {
            authkey: self.authkey.clone(),
            max_message: self.max_message,
            method: self.method,
            address: self.address.clone(),
            _types: PhantomData,
        }
    }
}

impl<R: Registry> ManagerBuilder<R> {
    /// Sets the authkey explicitly (Python's `BaseManager(authkey=...)`). The key is then
    /// meant to be shared: any process that knows it may connect, whatever its user.
    /// Without it, the manager uses the process's key ([`auth::authkey`]) and, on a Unix
    /// socket, admits only processes of its own user.
    pub fn authkey(mut self, key: AuthKey) -> Self {
        self.authkey = Some(key);
        self
    }

    /// Sets the largest key, value or item, encoded, in bytes; 1 GiB by default
    /// ([`frame::DEFAULT_MAX_MESSAGE`]). Snapshots are not limited: they stream item by item.
    pub fn max_message(mut self, max: usize) -> Self {
        self.max_message = max;
        self
    }

    /// Starts the server with `method` rather than the process's default (Python's
    /// `ctx.Manager()` for a context `ctx`).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// Listens at `address` (Python's `BaseManager(address=...)`): a TCP address to be
    /// reached from other hosts (port 0 takes a free port; see [`Factory::address`]), or a
    /// name of your choosing in the abstract namespace. By default, a name with 128 random
    /// bits in it, which nobody can take before the server.
    ///
    /// Over TCP the authkey alone guards the manager (the peer has no user the server could
    /// check) and nothing is encrypted, as in Python: set a strong key
    /// ([`AuthKey::random`]), and do not expose the port to a network you do not trust.
    pub fn address(mut self, address: impl Into<Address>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Registers the type `T` (Python's `BaseManager.register(typeid, callable)`): clients
    /// may then make objects of it ([`Factory::create`]).
    pub fn register<T: SharedType>(self) -> ManagerBuilder<(T, R)> {
        ManagerBuilder {
            authkey: self.authkey,
            max_message: self.max_message,
            method: self.method,
            address: self.address,
            _types: PhantomData,
        }
    }

    /// The key, whether other users may try it, and the address to listen at.
    fn settings(&self) -> Result<(AuthKey, bool, Address), ManagerError> {
        let (key, any_user) = match &self.authkey {
            Some(key) => (key.clone(), true),
            None => (auth::authkey()?, false),
        };
        let address = match &self.address {
            Some(address) => address.clone(),
            None => Address::Unix(random_name()?),
        };
        Ok((key, any_user, address))
    }

    /// Starts the server process and waits until it listens (Python's `manager.start()`).
    ///
    /// The server holds no copy of its parent's descriptors (under fork they are pointed at
    /// `/dev/null`, see [`Builder::isolated`](ipc_common::process::Builder::isolated)): a pipe
    /// made before the manager still ends when its other holders close it.
    ///
    /// # Errors
    ///
    /// [`ManagerError::Start`] if the server cannot be started (for example under fork while
    /// other threads exist), [`ManagerError::Listen`] if it cannot listen at its address,
    /// [`ManagerError::ServerGone`] if it ended before listening, [`ManagerError::Auth`] if no
    /// key was set and the process's key cannot be made.
    pub fn start(self) -> Result<Manager, ManagerError> {
        let (key, any_user, address) = self.settings()?;
        let (mut ready, ready_writer) = io::pipe()?;
        let args = ServerArgs {
            address,
            key: key.as_bytes().to_vec(),
            any_user,
            max: self.max_message as u64,
            ready: SharedFd(ready_writer.into()),
        };
        let builder = Process::new(run_server::<R>, args)
            .name("Manager")
            .isolated();
        let builder = match self.method {
            Some(method) => builder.start_method(method),
            None => builder,
        };
        // `ready`'s write end moved into the arguments: once the server has it, ours is closed,
        // so the read below ends if the server dies before listening.
        let server = builder.start()?;
        let listening = read_ready(&mut ready);
        let address = match listening {
            Ok(address) => address,
            Err(e) => {
                let _ = stop_process(&server);
                return Err(e);
            }
        };
        Ok(Manager {
            owner: std::process::id(),
            pid: server.pid(),
            server: Some(server),
            factory: Factory {
                client: Client::new(Arc::new(Target {
                    address,
                    key,
                    max: self.max_message,
                })),
                name: None,
            },
        })
    }

    /// Listens in this process, to serve with [`Server::serve_forever`] (Python's
    /// `manager.get_server()`).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Listen`] if it cannot listen at its address; [`ManagerError::Auth`] if
    /// no key was set and the process's key cannot be made.
    pub fn server(self) -> Result<Server, ManagerError> {
        let (key, any_user, address) = self.settings()?;
        let listen = |e: io::Error| ManagerError::Listen(format!("{address}: {e}"));
        let listener = Listener::bind(&address).map_err(listen)?;
        let address = listener.address().map_err(listen)?;
        Ok(Server {
            listener,
            address,
            admission: Admission { key, any_user },
            max: self.max_message,
            types: Types::of::<R>(),
        })
    }
}

/// A server listening in this process (Python's `manager.get_server()`): serve it with
/// [`serve_forever`](Server::serve_forever).
///
/// # Example
///
/// ```
/// use manager::{AuthKey, Manager};
///
/// let key = AuthKey::random()?;
/// let server = Manager::builder()
///     .address("127.0.0.1:0".parse::<std::net::SocketAddr>()?)
///     .authkey(key.clone())
///     .server()?;
/// let address = server.address().clone(); // the port the system chose
/// let serving = std::thread::spawn(move || server.serve_forever());
///
/// // A client, here or on another host (Python's `manager.connect()`).
/// let client = Manager::connect(address, key)?;
/// let jobs = client.named("jobs").queue::<u32>(0)?;
/// jobs.put(&7)?;
/// assert_eq!(jobs.get()?, 7);
/// client.shutdown()?; // asks the server to stop
/// serving.join().expect("the serving thread")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    listener: Listener,
    address: Address,
    admission: Admission,
    max: usize,
    types: Types,
}

impl Server {
    /// The address it listens at (with the port the system chose for a TCP port 0).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Serves clients until one asks the server to shut down ([`Manager::shutdown`] on a
    /// connected manager); then closes every connection and returns (Python's
    /// `serve_forever()`, which exits the process instead).
    ///
    /// # Errors
    ///
    /// [`ManagerError::Io`] if the listening socket fails.
    pub fn serve_forever(self) -> Result<(), ManagerError> {
        server::serve(self.listener, self.admission, self.max, self.types)?;
        Ok(())
    }
}

/// What the server process is started with.
#[derive(DeriveSerialize, DeriveDeserialize)]
struct ServerArgs {
    /// Where to listen.
    address: Address,
    /// The authkey.
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    /// Whether peers of another user may connect (the key was set on purpose).
    any_user: bool,
    /// The largest key, value or item.
    max: u64,
    /// Where the server says that it listens, and where (or why not).
    ready: SharedFd,
}

/// The most a ready message may be: an address, or why there is none.
const MAX_READY: usize = 64 * 1024;

/// The server process: listens, says so (and where) on `ready`, and serves until asked to
/// stop. `R` are its registered types: this function, made for them, is what travels to a
/// spawned server, which therefore knows them.
///
/// The listener is made in the server only: a child started later must not hold a copy of
/// it, or connections would still be accepted (and never answered) after the server died.
fn run_server<R: Registry>(args: ServerArgs) -> io::Result<()> {
    let mut ready = std::fs::File::from(args.ready.0);
    let bound = Listener::bind(&args.address).and_then(|l| Ok((l.address()?, l)));
    let said: Result<Address, String> = match &bound {
        Ok((address, _)) => Ok(address.clone()),
        Err(e) => Err(format!("{}: {e}", args.address)),
    };
    let mut message = Vec::new();
    codec::encode(&said, &mut message).map_err(io::Error::other)?;
    frame::write(&mut ready, &message, MAX_READY).map_err(io::Error::other)?;
    drop(ready);
    let (_, listener) = bound?;
    let admission = Admission {
        key: AuthKey::new(args.key),
        any_user: args.any_user,
    };
    let max = usize::try_from(args.max).unwrap_or(usize::MAX);
    server::serve(listener, admission, max, Types::of::<R>())
}

/// Reads the server's ready message: the address it listens at.
fn read_ready(ready: &mut impl Read) -> Result<Address, ManagerError> {
    let mut message = Vec::new();
    frame::read(ready, &mut message, MAX_READY).map_err(|_| ManagerError::ServerGone)?;
    let said: Result<Address, String> = codec::decode(&message).map_err(ManagerError::Decode)?;
    said.map_err(ManagerError::Listen)
}

/// `ipc-manager-` and 128 random bits in hex: a name nobody can guess, so nobody can take it
/// before the server or after it.
fn random_name() -> Result<String, ManagerError> {
    let mut bits = [0u8; 16];
    auth::random_bytes(&mut bits)?;
    let hex: String = bits.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("ipc-manager-{hex}"))
}

/// Waits for a server that was asked to stop, then terminates it, then kills it; reaps it.
fn stop_process(server: &Process) -> Result<i32, ManagerError> {
    if let Some(code) = server.join_timeout(STOP_GRACE)? {
        return Ok(code);
    }
    server.terminate()?;
    if let Some(code) = server.join_timeout(STOP_GRACE)? {
        return Ok(code);
    }
    server.kill()?;
    Ok(server.join()?)
}

impl Manager {
    /// Starts the server process with the process's authkey, the default limit and start
    /// method, and waits until it listens (Python's `multiprocessing.Manager()`). See
    /// [`ManagerBuilder::start`].
    ///
    /// # Errors
    ///
    /// As for [`ManagerBuilder::start`].
    pub fn start() -> Result<Manager, ManagerError> {
        Manager::builder().start()
    }

    /// Starts the server process with an explicit authkey (Python's
    /// `BaseManager(authkey=key).start()`): any process that knows the key may connect,
    /// whatever its user.
    ///
    /// # Errors
    ///
    /// As for [`ManagerBuilder::start`].
    pub fn with_authkey(key: AuthKey) -> Result<Manager, ManagerError> {
        Manager::builder().authkey(key).start()
    }

    /// The default settings: the process's authkey, values up to 1 GiB, a random abstract
    /// address, no registered types.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder {
            authkey: None,
            max_message: frame::DEFAULT_MAX_MESSAGE,
            method: None,
            address: None,
            _types: PhantomData,
        }
    }

    /// Connects to a server that is already running, here or on another host (Python's
    /// `BaseManager(address, authkey).connect()`): the process needs nothing but the address
    /// and the key. Dropping the manager leaves the server running.
    ///
    /// # Errors
    ///
    /// [`ManagerError::ServerGone`] if nothing listens there; [`ManagerError::Auth`] if the
    /// server does not take the key (or does not know it).
    pub fn connect(address: impl Into<Address>, key: AuthKey) -> Result<Manager, ManagerError> {
        let address = address.into();
        let probe = Client::new(Arc::new(Target {
            address: address.clone(),
            key: key.clone(),
            max: frame::DEFAULT_MAX_MESSAGE,
        }));
        let [pid, max] = probe.call(Op::Ping, 0, no_body, |reply| reply.numbers::<2>())?;
        Ok(Manager {
            owner: std::process::id(),
            server: None,
            pid: i32::try_from(pid).map_err(|_| ManagerError::BadReply(format!("pid {pid}")))?,
            factory: Factory {
                client: Client::new(Arc::new(Target {
                    address,
                    key,
                    max: usize::try_from(max).unwrap_or(usize::MAX),
                })),
                name: None,
            },
        })
    }

    /// The server process's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Stops the server (Python's `manager.shutdown()`). A manager that started it reaps it
    /// and returns its exit code. A manager that connected to it asks it to stop (any client
    /// with the key may, as in Python) and returns 0 once it has agreed.
    ///
    /// # Errors
    ///
    /// A started server: only if it cannot be waited for. A connected one: as any request.
    pub fn shutdown(mut self) -> Result<i32, ManagerError> {
        match self.server.take() {
            Some(server) => self.stop(&server),
            None => {
                self.factory
                    .client
                    .call(Op::Shutdown, 0, no_body, |reply| reply.done())?;
                Ok(0)
            }
        }
    }

    fn stop(&self, server: &Process) -> Result<i32, ManagerError> {
        // Ask politely; a server that is already gone needs no asking.
        let _ = self
            .factory
            .client
            .call(Op::Shutdown, 0, no_body, |reply| reply.done());
        client::forget(self.address());
        stop_process(server)
    }
}

impl Deref for Manager {
    type Target = Factory;

    fn deref(&self) -> &Factory {
        &self.factory
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Only the process that started the server stops it (a child may hold a copy).
        if let Some(server) = self.server.take()
            && std::process::id() == self.owner
        {
            let _ = self.stop(&server);
        }
    }
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("address", self.address())
            .field("pid", &self.pid)
            .field("started", &self.server.is_some())
            .finish()
    }
}
