#![allow(unsafe_code)] // Only to open pidfds of the orphans a test watches.
//! The three start methods: a target with arguments, shared memory passed as an argument,
//! exit codes, and starting from a program with threads. Ordinary `#[test]`s: libtest's
//! threads are no obstacle to spawn and forkserver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_common::{Process, ShmBox, StartMethod, get_context};

fn add_into((total, a, b): (ShmBox<AtomicU64>, u64, u64)) {
    total.fetch_add(a + b, Ordering::SeqCst);
}

fn fail_with(code: i32) {
    std::process::exit(code)
}

fn who_am_i(expected: String) -> Result<(), String> {
    let me = ipc_common::current_process();
    let parent = ipc_common::parent_process().ok_or("no parent")?;
    if me.name != expected {
        return Err(format!("named {} not {expected}", me.name));
    }
    if parent.name != "MainProcess" {
        return Err(format!("parent named {}", parent.name));
    }
    Ok(())
}

fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn each_threaded_method(test: impl Fn(StartMethod)) {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        test(method);
    }
}

#[test]
fn shared_memory_travels_as_an_argument() {
    each_threaded_method(|method| {
        let total = ShmBox::new(AtomicU64::new(0)).expect("shm");
        let ctx = get_context(method);
        let kids: Vec<Process> = (0..4)
            .map(|i| {
                let args = (total.try_clone().expect("dup"), i, 10);
                ctx.process(add_into, args).start().expect("start")
            })
            .collect();
        for k in &kids {
            assert_eq!(k.join().expect("join"), 0, "{method}");
        }
        assert_eq!(total.load(Ordering::SeqCst), 46, "{method}");
    });
}

#[test]
fn exit_codes_and_names() {
    each_threaded_method(|method| {
        let ctx = get_context(method);
        let p = ctx.process(fail_with, 7).start().expect("start");
        assert_eq!(p.join().expect("join"), 7, "{method}");
        let p = ctx
            .process(who_am_i, "Worker-A".to_string())
            .name("Worker-A")
            .start()
            .expect("start");
        assert_eq!(p.join().expect("join"), 0, "{method}");
        let p = ctx.process(nap, 10_000).start().expect("start");
        assert!(p.is_alive());
        p.kill().expect("kill");
        assert_eq!(p.join().expect("join"), -9, "{method}");
    });
}

/// Allocates and prints on a few threads until told to stop.
fn busy_threads(
    n: usize,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads = (0..n)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    kept.push(vec![i as u8; 4096]);
                    if kept.len() > 64 {
                        kept.clear();
                        eprint!("");
                        println!("thread {i} allocating");
                    }
                }
            })
        })
        .collect();
    (stop, threads)
}

#[test]
fn a_program_with_busy_threads_starts_fifty_children() {
    let (stop, threads) = busy_threads(4);
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let total = ShmBox::new(AtomicU64::new(0)).expect("shm");
        let ctx = get_context(method);
        let kids: Vec<Process> = (0..50)
            .map(|i| {
                let args = (total.try_clone().expect("dup"), i, 1);
                ctx.process(add_into, args).start().expect("start")
            })
            .collect();
        for k in &kids {
            assert_eq!(k.join().expect("join"), 0, "{method}");
        }
        // 0 + 1 + ... + 49, plus 1 each.
        assert_eq!(total.load(Ordering::SeqCst), 1225 + 50, "{method}");
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("thread");
    }
}

#[test]
fn fork_with_threads_is_refused_naming_the_fix() {
    let (stop, threads) = busy_threads(1);
    let err = get_context(StartMethod::Fork)
        .process(nap, 0)
        .start()
        .expect_err("fork with threads");
    let text = err.to_string();
    assert!(
        matches!(err, ipc_common::ProcessError::Threaded { .. }),
        "{text}"
    );
    assert!(
        text.contains("spawn") && text.contains("forkserver"),
        "{text}"
    );
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("thread");
    }
}

/// Fails unless this process holds exactly `expected` descriptors besides 0, 1 and 2.
fn count_descriptors((expected, _keep): (usize, ShmBox<AtomicU64>)) -> Result<(), String> {
    let listing: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // One of them is read_dir's own directory descriptor.
    let extra = listing.len().saturating_sub(4);
    if extra == expected {
        Ok(())
    } else {
        Err(format!(
            "expected {expected} descriptors past stdio, found {listing:?}"
        ))
    }
}

#[test]
fn a_child_gets_only_the_descriptors_its_arguments_carry() {
    // Descriptors of the parent's own that a child must not inherit.
    let (_r, _w) = std::io::pipe().expect("pipe");
    let _file = std::fs::File::open("/dev/null").expect("open");
    each_threaded_method(|method| {
        let shm = ShmBox::new(AtomicU64::new(0)).expect("shm");
        let p = get_context(method)
            .process(count_descriptors, (1, shm))
            .start()
            .expect("start");
        assert_eq!(p.join().expect("join"), 0, "{method}");
    });
}

#[test]
fn a_stray_spawn_variable_is_a_clear_error() {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("IPC_COMMON_SPAWN_FD", "not-a-descriptor")
        .arg("--list")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not started as a spawned child"), "{err}");
    assert!(out.stdout.is_empty(), "main must not run: {:?}", out.stdout);
}

fn panics(_: ()) {
    panic!("on purpose")
}

fn fails(_: ()) -> Result<(), String> {
    Err("on purpose".into())
}

#[test]
fn panics_and_errors_end_the_child_with_1() {
    each_threaded_method(|method| {
        let ctx = get_context(method);
        assert_eq!(
            ctx.process(panics, ())
                .start()
                .expect("s")
                .join()
                .expect("j"),
            1
        );
        assert_eq!(
            ctx.process(fails, ())
                .start()
                .expect("s")
                .join()
                .expect("j"),
            1
        );
        let p = ctx.process(nap, 20).start().expect("start");
        assert_eq!(p.join_timeout(Duration::MAX).expect("join"), Some(0));
    });
}

/// The middle process of the orphan tests: starts `child_method`'s child, which sleeps, and
/// reports its pid and (under forkserver) the server's pid, then sleeps.
fn middle((pids, child_method): (ShmBox<[std::sync::atomic::AtomicI32; 2]>, String)) {
    let method: StartMethod = child_method.parse().expect("method");
    let child = get_context(method)
        .process(nap, 60_000)
        .start()
        .expect("start");
    let server = server_pid();
    pids[1].store(server, Ordering::SeqCst);
    pids[0].store(child.pid(), Ordering::SeqCst);
    nap(60_000);
}

/// The pid of this process's child named "forkserver", or 0.
fn server_pid() -> i32 {
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).unwrap_or("");
        if comm.ends_with("(forkserver") && ppid == me {
            return pid;
        }
    }
    0
}

/// A pidfd for `pid`: it names that very process, even once its number is reused.
fn pidfd(pid: i32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(
        fd >= 0,
        "pidfd_open({pid}): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the kernel just returned this descriptor to us.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }
}

/// Waits (up to 10 s) for the process behind `fd` to end; then, if it has become our orphan
/// (we are a subreaper), reaps it and returns how it ended; `None` if another reaped it.
fn reap_orphan(fd: &std::os::fd::OwnedFd) -> Option<nix::sys::wait::WaitStatus> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ended = poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll") == 1;
    assert!(ended, "the process did not end within 10 s");
    // Reparenting to us happens as its parent ends: it may take a moment.
    for _ in 0..1000 {
        match waitid(
            Id::PIDFd(fd.as_fd()),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
        ) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => nap(10),
            Ok(status) => return Some(status),
            Err(e) => panic!("waitid: {e}"),
        }
    }
    None
}

#[test]
fn children_and_the_forkserver_end_when_their_program_is_killed() {
    use nix::sys::wait::WaitStatus;
    nix::sys::prctl::set_child_subreaper(true).expect("subreaper");
    for child_method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let pids = ShmBox::<[std::sync::atomic::AtomicI32; 2]>::zeroed().expect("shm");
        let args = (pids.try_clone().expect("dup"), child_method.to_string());
        let p = get_context(StartMethod::Spawn)
            .process(middle, args)
            .start()
            .expect("start");
        while pids[0].load(Ordering::SeqCst) == 0 {
            nap(5);
        }
        let child = pidfd(pids[0].load(Ordering::SeqCst));
        let server = (child_method == StartMethod::Forkserver).then(|| {
            let server = pids[1].load(Ordering::SeqCst);
            assert!(server > 0, "the forkserver was found");
            pidfd(server)
        });
        p.kill().expect("kill");
        assert_eq!(p.join().expect("join"), -9);
        // The orphans come to us (subreaper): each must end, and is reaped here.
        let status = reap_orphan(&child);
        assert!(
            matches!(
                status,
                Some(WaitStatus::Signaled(
                    _,
                    nix::sys::signal::Signal::SIGKILL,
                    _
                ))
            ),
            "{child_method}: child {status:?}"
        );
        if let Some(server) = server {
            let status = reap_orphan(&server);
            assert!(
                matches!(status, Some(WaitStatus::Exited(_, 0))),
                "server {status:?}"
            );
        }
    }
}

fn has_authkey(expected: Vec<u8>) -> Result<(), String> {
    let key = ipc_common::auth::authkey().map_err(|e| e.to_string())?;
    if key.as_bytes() == expected.as_slice() {
        Ok(())
    } else {
        Err("the child's authkey is not its parent's".into())
    }
}

#[test]
fn children_inherit_the_authkey() {
    let key = ipc_common::auth::authkey()
        .expect("authkey")
        .as_bytes()
        .to_vec();
    assert_eq!(key.len(), 32);
    each_threaded_method(|method| {
        let p = get_context(method)
            .process(has_authkey, key.clone())
            .start()
            .expect("start");
        assert_eq!(p.join().expect("join"), 0, "{method}");
    });
}

/// Everything a child may be given: it uses each, and the parent checks what it did.
type Objects = (
    ipc_common::Lock,
    ipc_common::RLock,
    ipc_common::Semaphore,
    ipc_common::BoundedSemaphore,
    ipc_common::Event,
    ipc_common::Mutex<u64>,
    ipc_common::MutexSlice<u32>,
    ipc_common::Barrier,
    ipc_common::ring::Ring,
    ipc_common::Condition<'static>,
);

fn use_everything(objects: Objects) -> Result<(), ipc_common::SyncError> {
    let (lock, rlock, sem, bounded, event, mutex, slice, barrier, ring, cond) = objects;
    drop(lock.acquire()?);
    {
        let _outer = rlock.acquire()?;
        let _inner = rlock.acquire()?;
    }
    sem.release()?;
    bounded.acquire()?.forget();
    *mutex.lock()? += 40;
    slice.lock()?[1] = 7;
    ring.push(b"from the child", None)
        .map_err(|e| ipc_common::SyncError::Os {
            call: "push",
            source: std::io::Error::other(e),
        })?;
    {
        let guard = cond.acquire()?;
        event.set();
        cond.notify_all();
        drop(guard);
    }
    barrier.wait()?;
    Ok(())
}

#[test]
fn every_shared_object_travels_as_an_argument() {
    use ipc_common::{
        Barrier, BoundedSemaphore, Condition, Event, Lock, Mutex, MutexSlice, RLock, Semaphore,
    };
    each_threaded_method(|method| {
        let objects: Objects = (
            Lock::new().expect("lock"),
            RLock::new().expect("rlock"),
            Semaphore::new(0).expect("sem"),
            BoundedSemaphore::new(1).expect("bounded"),
            Event::new().expect("event"),
            Mutex::new(2).expect("mutex"),
            MutexSlice::zeroed(3).expect("slice"),
            Barrier::new(2).expect("barrier"),
            ipc_common::ring::Ring::new(4096, 0).expect("ring"),
            Condition::new().expect("cond"),
        );
        let child = get_context(method)
            .process(use_everything, objects.clone())
            .start()
            .expect("start");
        let (_lock, _rlock, sem, bounded, event, mutex, slice, barrier, ring, cond) = objects;
        {
            let guard = cond.acquire().expect("acquire");
            let (_guard, set) = cond
                .wait_for(guard, || event.is_set(), Some(Duration::from_secs(30)))
                .expect("wait");
            assert!(set, "{method}: the child's set() was not seen");
        }
        barrier.wait().expect("barrier");
        assert_eq!(child.join().expect("join"), 0, "{method}");
        assert!(
            sem.try_acquire().expect("sem").is_some(),
            "{method}: released permit"
        );
        assert!(
            bounded.try_acquire().expect("bounded").is_none(),
            "{method}: permit kept"
        );
        assert_eq!(*mutex.lock().expect("mutex"), 42);
        assert_eq!(&slice.lock().expect("slice")[..], &[0, 7, 0]);
        let mut got = Vec::new();
        ring.pop(&mut got, None, |_| {}).expect("pop");
        assert_eq!(got, b"from the child");
    });
}
