//! Queues, locks, semaphores, conditions, events and barriers that live in the server, as
//! Python's `SyncManager` makes them: used by processes that share nothing with the manager's
//! creator but its address and key, blocking only their own client, keeping their timeouts,
//! and losing nothing when a waiting client dies; a lock whose holder dies is released.
//! Ordinary `#[test]`s: servers and children are started by spawn.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ipc_common::{StartMethod, get_context};
use manager::{
    Address, AuthKey, BarrierProxy, EventProxy, ListProxy, LockProxy, Manager, ManagerError,
    QueueProxy, SemaphoreProxy,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod common;
use common::{all_stopped, eventually, spawned_manager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;
type Outcome = std::result::Result<(), ManagerError>;

/// How long a timed operation of these tests waits.
const SHORT: Duration = Duration::from_millis(150);
/// The most a timed operation may overrun its timeout, however busy the machine.
const GENEROUS: Duration = Duration::from_secs(10);

/// A manager with a key of its own, to hand to processes that share nothing else.
fn keyed_manager() -> (Manager, AuthKey) {
    let key = AuthKey::random().expect("key");
    let manager = Manager::builder()
        .authkey(key.clone())
        .start_method(StartMethod::Spawn)
        .start()
        .expect("start");
    (manager, key)
}

/// Runs `f` on a thread; panics if it has not returned within 30 seconds (it blocked on
/// another client's wait, say).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} did not return"))
}

/// Asserts that `timed` took its timeout `SHORT`, and not much more.
fn took_its_timeout(started: Instant) {
    let took = started.elapsed();
    assert!(took >= SHORT, "returned after {took:?}, before its timeout");
    assert!(took < SHORT + GENEROUS, "returned after {took:?}");
}

#[test]
fn queue_operations_follow_python() -> Result {
    let manager = spawned_manager();
    let q = manager.queue::<u32>(2)?; // queue.Queue(maxsize=2)
    assert!(q.empty()? && !q.full()?);
    q.put(&1)?;
    q.put_nowait(&2)?;
    assert!(q.full()? && q.qsize()? == 2);
    assert!(matches!(q.put_nowait(&3), Err(ManagerError::Full)));
    let started = Instant::now();
    assert!(matches!(q.put_timeout(&3, SHORT), Err(ManagerError::Full)));
    took_its_timeout(started);
    assert_eq!((q.get()?, q.get_nowait()?), (1, 2)); // first in, first out
    assert!(matches!(q.get_nowait(), Err(ManagerError::Empty)));
    let started = Instant::now();
    assert!(matches!(q.get_timeout(SHORT), Err(ManagerError::Empty)));
    took_its_timeout(started);
    // A queue without a limit is never full.
    let unbounded = manager.queue::<u32>(0)?;
    for i in 0..1000 {
        unbounded.put_nowait(&i)?;
    }
    assert!(!unbounded.full()?);
    Ok(())
}

#[test]
fn joinable_queue_task_done_and_join_follow_python() -> Result {
    let manager = spawned_manager();
    let q = manager.joinable_queue::<String>(0)?;
    assert!(
        q.join_timeout(Duration::ZERO)?,
        "nothing put: nothing to wait for"
    );
    q.put(&"a".into())?;
    q.put(&"b".into())?;
    assert_eq!(q.get()?, "a");
    q.task_done()?;
    let started = Instant::now();
    assert!(!q.join_timeout(SHORT)?, "one item is not done");
    took_its_timeout(started);
    let waiter = {
        let q = q.clone();
        std::thread::spawn(move || q.join())
    };
    assert_eq!(q.get()?, "b");
    q.task_done()?;
    waiter.join().expect("join thread")?;
    assert!(matches!(
        q.task_done(),
        Err(ManagerError::TooManyReleases(_))
    ));
    Ok(())
}

/// A producer that shares nothing with the manager's creator: it connects with the address
/// and the key, finds the queue by name, and puts its items.
fn producer((address, key, who, n): (Address, Vec<u8>, u32, u32)) -> Outcome {
    let manager = Manager::connect(address, AuthKey::new(key))?;
    let jobs = manager.named("jobs").joinable_queue::<(u32, u32)>(8)?;
    for i in 0..n {
        jobs.put(&(who, i))?;
    }
    Ok(())
}

/// A consumer, as the producer: it takes items until a `u32::MAX`, recording each.
fn consumer((address, key): (Address, Vec<u8>)) -> Outcome {
    let manager = Manager::connect(address, AuthKey::new(key))?;
    let jobs = manager.named("jobs").joinable_queue::<(u32, u32)>(8)?;
    let taken = manager.named("taken").list::<(u32, u32)>()?;
    loop {
        let job = jobs.get()?;
        if job.0 != u32::MAX {
            taken.append(&job)?;
        }
        jobs.task_done()?;
        if job.0 == u32::MAX {
            return Ok(());
        }
    }
}

/// Producers and consumers in processes that know only the address and the key, through a
/// small bounded queue: every item is taken exactly once, and `join` returns once all are
/// done.
#[test]
fn a_queue_between_unrelated_processes_passes_every_item_once() -> Result {
    const PER_PRODUCER: u32 = 200;
    let (manager, key) = keyed_manager();
    let jobs = manager.named("jobs").joinable_queue::<(u32, u32)>(8)?;
    let spawn = get_context(StartMethod::Spawn);
    let address = manager.address().clone();
    let key = key.as_bytes().to_vec();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            spawn
                .process(consumer, (address.clone(), key.clone()))
                .start()
        })
        .collect::<std::result::Result<_, _>>()?;
    let producers: Vec<_> = (0..3)
        .map(|who| {
            let args = (address.clone(), key.clone(), who, PER_PRODUCER);
            spawn.process(producer, args).start()
        })
        .collect::<std::result::Result<_, _>>()?;
    for p in &producers {
        assert_eq!(p.join()?, 0);
    }
    jobs.join()?;
    for _ in &consumers {
        jobs.put(&(u32::MAX, 0))?;
    }
    for c in &consumers {
        assert_eq!(c.join()?, 0);
    }
    let taken = manager.named("taken").list::<(u32, u32)>()?.to_vec()?;
    let unique: BTreeSet<_> = taken.iter().copied().collect();
    assert_eq!(
        taken.len(),
        3 * PER_PRODUCER as usize,
        "items lost or doubled"
    );
    assert_eq!(unique.len(), taken.len(), "an item taken twice");
    Ok(())
}

fn put_one((q, item): (QueueProxy<u32>, u32)) -> Outcome {
    q.put(&item)
}

/// A `get` that waits holds only its own client: the same manager serves other clients (other
/// threads) meanwhile, and the waiter is woken by a put from another process.
#[test]
fn a_waiting_get_holds_only_its_own_client() -> Result {
    let manager = spawned_manager();
    let q = manager.queue::<u32>(0)?;
    let d = manager.dict::<u32, u32>()?;
    let waiter = {
        let q = q.clone();
        std::thread::spawn(move || q.get())
    };
    // While it waits (or before: either way it must not stop the others).
    within("other clients' requests", move || -> Outcome {
        d.set(&1, &1)?;
        assert_eq!(d.get(&1)?, Some(1));
        Ok(())
    })?;
    let child = get_context(StartMethod::Spawn)
        .process(put_one, (q.clone(), 42))
        .start()?;
    assert_eq!(child.join()?, 0);
    assert_eq!(waiter.join().expect("waiter")?, 42);
    assert!(q.empty()?);
    Ok(())
}

/// Holds the lock until killed, after saying so on `held`.
fn hold_lock_until_killed((lock, held): (LockProxy, EventProxy)) -> Outcome {
    let _held = lock.lock()?;
    held.set()?;
    std::thread::sleep(Duration::from_secs(3600));
    Ok(())
}

/// A lock held by a client that dies is released by the server (Python's manager would keep
/// it held for ever, and every later `acquire` would hang): by a process killed while it holds
/// it, and by a thread that ends without releasing it.
#[test]
fn a_lock_whose_holder_dies_is_released() -> Result {
    let manager = spawned_manager();
    let lock = manager.lock()?;
    let held = manager.event()?;
    let child = get_context(StartMethod::Spawn)
        .process(hold_lock_until_killed, (lock.clone(), held.clone()))
        .start()?;
    assert!(
        held.wait_timeout(Duration::from_secs(30))?,
        "the child never held it"
    );
    assert!(!lock.try_acquire()?, "the child holds it");
    child.kill()?;
    child.join()?;
    assert!(
        lock.acquire_timeout(Duration::from_secs(30))?,
        "the dead child's lock was not released"
    );
    lock.release()?;

    let rlock = manager.rlock()?;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            rlock.acquire().expect("acquire");
            rlock.acquire().expect("again");
            // The thread ends holding it twice: its connection closes.
        });
    });
    assert!(rlock.acquire_timeout(Duration::from_secs(30))?);
    Ok(())
}

fn add_under_lock((lock, total, n): (LockProxy, manager::ValueProxy<u32>, u32)) -> Outcome {
    for _ in 0..n {
        let _held = lock.lock()?;
        total.set(&(total.get()? + 1))?;
    }
    Ok(())
}

/// Read-modify-writes under a shared lock from four processes: none is lost.
#[test]
fn a_lock_excludes_across_processes() -> Result {
    let manager = spawned_manager();
    let lock = manager.lock()?;
    let total = manager.value(&0u32)?;
    let children: Vec<_> = (0..4)
        .map(|_| {
            get_context(StartMethod::Spawn)
                .process(add_under_lock, (lock.clone(), total.clone(), 50))
                .start()
        })
        .collect::<std::result::Result<_, _>>()?;
    for c in &children {
        assert_eq!(c.join()?, 0);
    }
    assert_eq!(total.get()?, 200);
    Ok(())
}

/// Python's rules: a `Lock` may be released by another client while held, never when free;
/// an `RLock` is its owner's, who may take it again and must release it as many times.
#[test]
fn lock_and_rlock_ownership_follow_python() -> Result {
    let manager = spawned_manager();
    let lock = manager.lock()?;
    assert!(
        matches!(lock.release(), Err(ManagerError::NotHeld(m)) if m == "release unlocked lock")
    );
    lock.acquire()?;
    assert!(!lock.try_acquire()?, "a Lock is not reentrant");
    std::thread::scope(|s| {
        s.spawn(|| lock.release().expect("another client releases a held Lock"));
    });
    assert!(lock.try_acquire()?);

    let rlock = manager.rlock()?;
    rlock.acquire()?;
    assert!(rlock.try_acquire()?, "its owner takes it again");
    let other = |expect_free: bool| {
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(rlock.try_acquire().expect("try"), expect_free);
                if expect_free {
                    rlock.release().expect("release");
                } else {
                    let released = rlock.release();
                    assert!(
                        matches!(released, Err(ManagerError::NotHeld(_))),
                        "{released:?}"
                    );
                }
            });
        });
    };
    other(false);
    rlock.release()?;
    other(false); // still held once
    rlock.release()?;
    other(true);
    Ok(())
}

#[test]
fn semaphores_follow_python() -> Result {
    let manager = spawned_manager();
    let s = manager.semaphore(2)?;
    assert!(s.try_acquire()? && s.try_acquire()?);
    assert!(!s.try_acquire()?);
    let started = Instant::now();
    assert!(!s.acquire_timeout(SHORT)?);
    took_its_timeout(started);
    for _ in 0..3 {
        s.release()?; // a plain semaphore may go above its start
    }
    assert!(s.try_acquire()? && s.try_acquire()? && s.try_acquire()?);
    let b = manager.bounded_semaphore(1)?;
    {
        let _held = b.lock()?;
        assert!(!b.try_acquire()?);
    }
    assert!(matches!(b.release(), Err(ManagerError::TooManyReleases(_))));
    Ok(())
}

/// Waits for an item and for a permit at once, after saying so; killed before it gets either.
fn wait_to_take((q, s, waiting): (QueueProxy<u32>, SemaphoreProxy, EventProxy)) -> Outcome {
    waiting.set()?;
    std::thread::scope(|scope| {
        scope.spawn(|| s.acquire());
        q.get()
    })?;
    Ok(())
}

/// Clients killed while they wait take nothing: the item put and the permit released
/// afterwards go to a live client.
#[test]
fn waiters_that_die_take_nothing() -> Result {
    let manager = spawned_manager();
    let q = manager.queue::<u32>(0)?;
    let s = manager.semaphore(0)?;
    let waiting = manager.event()?;
    let child = get_context(StartMethod::Spawn)
        .process(wait_to_take, (q.clone(), s.clone(), waiting.clone()))
        .start()?;
    assert!(waiting.wait_timeout(Duration::from_secs(30))?);
    std::thread::sleep(Duration::from_millis(200)); // most likely waiting in the server now
    child.kill()?;
    child.join()?;
    q.put(&7)?;
    s.release()?;
    assert_eq!(q.get_timeout(Duration::from_secs(30))?, 7);
    assert!(s.acquire_timeout(Duration::from_secs(30))?);
    Ok(())
}

fn set_and_notify((cond, ready): (manager::ConditionProxy, manager::ValueProxy<bool>)) -> Outcome {
    let _held = cond.lock()?;
    ready.set(&true)?;
    cond.notify_all()
}

/// Python's rules: `wait` and `notify` need the lock; `wait` gives it up while it waits and
/// holds it again when it returns, notified or timed out. Across processes, `wait_for` sees
/// the predicate another process made true.
#[test]
fn condition_wait_and_notify_follow_python() -> Result {
    let manager = spawned_manager();
    let cond = manager.condition()?;
    assert!(
        matches!(cond.wait_timeout(SHORT), Err(ManagerError::NotHeld(m)) if m.contains("wait"))
    );
    assert!(matches!(cond.notify(), Err(ManagerError::NotHeld(m)) if m.contains("notify")));
    {
        let _held = cond.lock()?;
        let started = Instant::now();
        assert!(!cond.wait_timeout(SHORT)?, "nobody notified");
        took_its_timeout(started);
        std::thread::scope(|s| {
            s.spawn(|| assert!(!cond.try_acquire().expect("try"), "held again after wait"));
        });
    }

    let ready = manager.value(&false)?;
    let _held = cond.lock()?;
    let child = get_context(StartMethod::Spawn)
        .process(set_and_notify, (cond.clone(), ready.clone()))
        .start()?;
    cond.wait_for(|| ready.get())?;
    assert!(cond.wait_for_timeout(|| ready.get(), Duration::ZERO)?);
    drop(_held);
    assert_eq!(child.join()?, 0);
    Ok(())
}

/// `notify(n)` wakes exactly the `n` longest waiters; `notify_all` the rest. A condition may be
/// made over a lock of the manager.
#[test]
fn notify_wakes_as_many_waiters_as_asked() -> Result {
    let manager = spawned_manager();
    let lock = manager.lock()?;
    let cond = manager.condition_with(&lock)?;
    let (arrived, woken) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| -> Result {
        for _ in 0..3 {
            s.spawn(|| {
                let _held = cond.lock().expect("lock");
                arrived.fetch_add(1, Ordering::SeqCst);
                assert!(cond.wait_timeout(Duration::from_secs(60)).expect("wait"));
                woken.fetch_add(1, Ordering::SeqCst);
            });
        }
        eventually("three waiters arrive", || {
            arrived.load(Ordering::SeqCst) == 3
        });
        // Each arrived holding the lock, and gives it up only inside `wait`: once the lock is
        // ours, all three wait.
        let held = lock.lock()?;
        cond.notify_n(1)?;
        drop(held);
        eventually("one waiter wakes", || woken.load(Ordering::SeqCst) == 1);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            woken.load(Ordering::SeqCst),
            1,
            "notify(1) woke more than one"
        );
        let held = cond.lock()?;
        cond.notify_all()?;
        drop(held);
        eventually("the others wake", || woken.load(Ordering::SeqCst) == 3);
        Ok(())
    })?;
    // A lock of another manager cannot be a condition's lock here.
    let elsewhere = spawned_manager();
    let foreign = elsewhere.lock()?;
    assert!(matches!(
        manager.condition_with(&foreign),
        Err(ManagerError::Refused(_))
    ));
    Ok(())
}

fn set_event(event: EventProxy) -> Outcome {
    event.set()
}

#[test]
fn events_follow_python() -> Result {
    let manager = spawned_manager();
    let e = manager.event()?;
    assert!(!e.is_set()?);
    let started = Instant::now();
    assert!(!e.wait_timeout(SHORT)?);
    took_its_timeout(started);
    let waiter = {
        let e = e.clone();
        std::thread::spawn(move || e.wait())
    };
    let child = get_context(StartMethod::Spawn)
        .process(set_event, e.clone())
        .start()?;
    assert_eq!(child.join()?, 0);
    waiter.join().expect("waiter")?;
    assert!(e.is_set()? && e.wait_timeout(Duration::ZERO)?);
    e.clear()?;
    assert!(!e.is_set()?);
    Ok(())
}

fn wait_rounds((barrier, log, rounds): (BarrierProxy, ListProxy<(u32, usize)>, u32)) -> Outcome {
    for round in 0..rounds {
        let index = barrier.wait()?;
        log.append(&(round, index))?;
        // Nobody starts the next round before everyone logged this one.
        barrier.wait()?;
    }
    Ok(())
}

/// Four parties in three processes and this one, three rounds: each round every party gets
/// its own index, 0 to 3.
#[test]
fn a_barrier_releases_every_party_with_its_own_index() -> Result {
    const ROUNDS: u32 = 3;
    let manager = spawned_manager();
    let barrier = manager.barrier(4)?;
    let log = manager.list::<(u32, usize)>()?;
    let children: Vec<_> = (0..3)
        .map(|_| {
            get_context(StartMethod::Spawn)
                .process(wait_rounds, (barrier.clone(), log.clone(), ROUNDS))
                .start()
        })
        .collect::<std::result::Result<_, _>>()?;
    wait_rounds((barrier.clone(), log.clone(), ROUNDS))?;
    for c in &children {
        assert_eq!(c.join()?, 0);
    }
    let log = log.to_vec()?;
    for round in 0..ROUNDS {
        let mut indices: Vec<usize> = log.iter().filter(|e| e.0 == round).map(|e| e.1).collect();
        indices.sort();
        assert_eq!(indices, [0, 1, 2, 3], "round {round}");
    }
    assert_eq!(barrier.parties()?, 4);
    Ok(())
}

/// Python's rules: a waiter that times out breaks the barrier for all; so does `abort`;
/// `reset` breaks the waiting round and starts a fresh one.
#[test]
fn a_broken_barrier_follows_python() -> Result {
    let manager = spawned_manager();
    let barrier = manager.barrier(2)?;
    let started = Instant::now();
    assert!(matches!(
        barrier.wait_timeout(SHORT),
        Err(ManagerError::BrokenBarrier)
    ));
    took_its_timeout(started);
    assert!(barrier.broken()?);
    assert!(
        matches!(barrier.wait(), Err(ManagerError::BrokenBarrier)),
        "broken until reset"
    );
    barrier.reset()?;
    assert!(!barrier.broken()?);

    // A waiter, then a reset: it gets BrokenBarrierError; the barrier works again.
    let waiter = {
        let b = barrier.clone();
        std::thread::spawn(move || b.wait())
    };
    eventually("one waiter", || {
        barrier.n_waiting().expect("n_waiting") == 1
    });
    barrier.reset()?;
    assert!(matches!(
        waiter.join().expect("waiter"),
        Err(ManagerError::BrokenBarrier)
    ));
    let other = {
        let b = barrier.clone();
        std::thread::spawn(move || b.wait())
    };
    let mine = barrier.wait()?;
    let theirs = other.join().expect("other")?;
    assert_eq!(mine + theirs, 1, "indices 0 and 1");

    // abort breaks it for a waiter.
    let waiter = {
        let b = barrier.clone();
        std::thread::spawn(move || b.wait())
    };
    eventually("one waiter", || {
        barrier.n_waiting().expect("n_waiting") == 1
    });
    barrier.abort()?;
    assert!(matches!(
        waiter.join().expect("waiter"),
        Err(ManagerError::BrokenBarrier)
    ));
    assert_eq!(barrier.n_waiting()?, 0);
    Ok(())
}

fn wait_at_barrier(barrier: BarrierProxy) -> Outcome {
    barrier.wait().map(|_| ())
}

/// A party killed while it waits breaks the barrier: the others are told at once rather than
/// wait for ever for it.
#[test]
fn a_barrier_party_that_dies_breaks_the_barrier() -> Result {
    let manager = spawned_manager();
    let barrier = manager.barrier(3)?;
    let child = get_context(StartMethod::Spawn)
        .process(wait_at_barrier, barrier.clone())
        .start()?;
    eventually("the child waits", || {
        barrier.n_waiting().expect("n_waiting") == 1
    });
    child.kill()?;
    child.join()?;
    eventually("the barrier breaks", || barrier.broken().expect("broken"));
    assert!(matches!(barrier.wait(), Err(ManagerError::BrokenBarrier)));
    Ok(())
}

/// A stopped server cannot answer: a timed request fails (10 s past its timeout) instead of
/// waiting for ever; once the server runs again, the next request is served.
#[test]
fn a_timed_request_to_a_stopped_server_gives_up() -> Result {
    let manager = spawned_manager();
    let q = manager.queue::<u32>(0)?;
    q.put(&1)?; // connected
    let server = Pid::from_raw(manager.pid());
    kill(server, Signal::SIGSTOP)?;
    eventually("the server stops", || all_stopped(manager.pid()));
    let started = Instant::now();
    let got = q.get_timeout(SHORT);
    let took = started.elapsed();
    kill(server, Signal::SIGCONT)?;
    assert!(matches!(got, Err(ManagerError::Unresponsive(_))), "{got:?}");
    assert!(took >= SHORT + Duration::from_secs(10), "{took:?}");
    assert!(
        took < SHORT + Duration::from_secs(10) + GENEROUS,
        "{took:?}"
    );
    // The item stayed in the queue (the stopped server never took it), or went back when its
    // reply could not be sent: either way it is there.
    assert_eq!(q.get_timeout(Duration::from_secs(30))?, 1);
    Ok(())
}
