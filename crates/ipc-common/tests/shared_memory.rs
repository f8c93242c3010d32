//! Named shared memory across real processes: attach by name, sizes and errors, and above all
//! that a segment is removed exactly when its last user is gone (killed or not), never
//! earlier, with the races around attach and removal. A `harness = false` program, since
//! most tests fork (see `ipc_common::testing`).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use ipc_common::fault::{self, Fault, wait_stopped};
use ipc_common::shared_memory::{Item, ShareableList, SharedMemory, SharedMemoryError};
use ipc_common::{Process, ShmBox, StartMethod};
use nix::sys::signal::{Signal, kill, killpg, raise};
use nix::unistd::{Pid, getsid, setpgid};

mod dev_shm;
use dev_shm::{exists, wait_gone};

/// Every name this program used, checked gone at the end.
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A name of our own for test `tag`, remembered for the final check.
fn unique(tag: &str) -> String {
    let name = format!("ipc_test_{tag}_{}", std::process::id());
    remember(&name);
    name
}

fn remember(name: &str) {
    NAMES.lock().expect("names").push(name.to_string());
}

/// Long enough for a watcher that wrongly believed the segment unused to have removed it.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

fn stop_self() {
    raise(Signal::SIGSTOP).expect("SIGSTOP");
}

fn stopped(p: &Process) {
    assert!(
        wait_stopped(p.pid(), Duration::from_secs(10)),
        "{} did not stop",
        p.name()
    );
}

fn create_attach_and_share_bytes_across_fork() {
    let shm = SharedMemory::create(4096 + 3).expect("create");
    let name = shm.name().to_string();
    remember(&name);
    assert!(name.starts_with("psm_") && name.len() == 12, "{name}");
    assert_eq!(shm.size(), 4099, "Linux does not round the size up");
    assert!(exists(&name));
    let child = Process::start("attacher", || {
        let other = SharedMemory::attach(&name).expect("attach");
        assert_eq!(other.size(), 4099);
        other.write_at(4096, b"abc").expect("write");
        other.buf()[0].store(7, SeqCst);
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    let mut tail = [0u8; 3];
    shm.read_at(4096, &mut tail).expect("read");
    assert_eq!(&tail, b"abc");
    assert_eq!(shm.buf()[0].load(SeqCst), 7);
    let all = shm.to_vec();
    assert_eq!(all.len(), 4099);
    assert_eq!(
        all.iter().map(|&b| u32::from(b)).sum::<u32>(),
        7 + 97 + 98 + 99
    );
    // A second handle keeps the segment when the first closes.
    let copy = shm.try_clone().expect("clone");
    shm.close().expect("close");
    settle();
    assert!(exists(&name), "a live handle must keep the name");
    assert_eq!(copy.buf()[4097].load(SeqCst), b'b');
    drop(copy);
    assert!(wait_gone(&name), "the last handle closed, yet {name} stays");
}

fn names_sizes_and_errors_are_pythons() {
    let name = unique("names");
    let shm = SharedMemory::create_named(&format!("/{name}"), 10).expect("create");
    assert_eq!(
        shm.name(),
        name,
        "the leading slash is dropped, as shm_open does"
    );
    assert_eq!(
        format!("{shm:?}"),
        format!("SharedMemory({name:?}, size=10)")
    );
    assert!(matches!(
        SharedMemory::create_named(&name, 10),
        Err(SharedMemoryError::Exists { .. })
    ));
    assert!(matches!(
        SharedMemory::attach(&format!("{name}_missing")),
        Err(SharedMemoryError::NotFound { .. })
    ));
    assert!(matches!(
        SharedMemory::create(0),
        Err(SharedMemoryError::InvalidSize)
    ));
    assert!(matches!(
        SharedMemory::attach("a/b"),
        Err(SharedMemoryError::InvalidName { .. })
    ));
    assert!(matches!(
        shm.read_at(8, &mut [0u8; 3]),
        Err(SharedMemoryError::OutOfRange {
            offset: 8,
            len: 3,
            size: 10
        })
    ));
    assert!(shm.write_at(usize::MAX, b"x").is_err());
    // An empty file (another program's half-made segment) cannot be mapped.
    let empty = unique("empty");
    std::fs::File::create(Path::new("/dev/shm").join(&empty)).expect("file");
    assert!(matches!(
        SharedMemory::attach(&empty),
        Err(SharedMemoryError::Empty { .. })
    ));
    std::fs::remove_file(Path::new("/dev/shm").join(&empty)).expect("rm");
    // unlink removes the name at once; the handle keeps working; a second unlink is an error.
    shm.write_at(0, b"kept").expect("write");
    shm.unlink().expect("unlink");
    assert!(!exists(&name));
    let mut got = [0u8; 4];
    shm.read_at(0, &mut got).expect("read");
    assert_eq!(&got, b"kept");
    assert!(matches!(
        shm.unlink(),
        Err(SharedMemoryError::NotFound { .. })
    ));
}

fn an_unlinked_name_reused_is_left_to_its_new_segment() {
    let name = unique("reuse");
    let old = SharedMemory::create_named(&name, 8).expect("create");
    old.unlink().expect("unlink");
    let new = SharedMemory::create_named(&name, 16).expect("create again");
    // The old handle's unlink and its watcher must both leave the new segment alone.
    assert!(matches!(
        old.unlink(),
        Err(SharedMemoryError::NotFound { .. })
    ));
    drop(old);
    settle();
    assert!(
        exists(&name),
        "the old segment's watcher removed the new one"
    );
    assert_eq!(SharedMemory::attach(&name).expect("attach").size(), 16);
    drop(new);
    assert!(wait_gone(&name));
}

fn a_forked_child_keeps_the_segment_while_it_lives() {
    let shm = SharedMemory::create(8).expect("create");
    let name = shm.name().to_string();
    remember(&name);
    let child = Process::start("holder", || {
        stop_self();
        shm.write_at(0, b"late").expect("write"); // the inherited handle still works
    })
    .expect("start");
    stopped(&child);
    drop(shm);
    settle();
    assert!(exists(&name), "a stopped child still holds the segment");
    child.signal(Signal::SIGCONT).expect("cont");
    assert_eq!(child.join().expect("join"), 0);
    assert!(wait_gone(&name));
}

fn killed_creator_and_attacher_leave_nothing() {
    let name = unique("killed");
    let creator = Process::start("creator", || {
        let shm = SharedMemory::create_named(&name, 64).expect("create");
        shm.write_at(0, b"from the creator").expect("write");
        stop_self();
    })
    .expect("start");
    stopped(&creator);
    let attacher = Process::start("attacher", || {
        let shm = SharedMemory::attach(&name).expect("attach");
        let mut got = [0u8; 16];
        shm.read_at(0, &mut got).expect("read");
        assert_eq!(&got, b"from the creator");
        stop_self();
    })
    .expect("start");
    stopped(&attacher);
    creator.kill().expect("kill");
    assert_eq!(creator.join().expect("join"), -9);
    settle();
    assert!(exists(&name), "removed while the attacher still uses it");
    attacher.kill().expect("kill");
    assert_eq!(attacher.join().expect("join"), -9);
    assert!(wait_gone(&name), "both users were killed, yet {name} stays");
}

fn a_killed_process_group_does_not_take_the_watcher_with_it() {
    let name = unique("group");
    let watcher = ShmBox::new(AtomicU32::new(0)).expect("box");
    let creator = Process::start("leader", || {
        setpgid(Pid::from_raw(0), Pid::from_raw(0)).expect("setpgid");
        let shm = SharedMemory::create_named(&name, 8).expect("create");
        watcher.store(shm.watcher_pid().expect("watched"), SeqCst);
        stop_self();
    })
    .expect("start");
    stopped(&creator);
    let watcher = Pid::from_raw(watcher.load(SeqCst) as i32);
    let creator_pid = Pid::from_raw(creator.pid());
    assert_ne!(
        getsid(Some(watcher)).expect("sid"),
        getsid(Some(creator_pid)).expect("sid")
    );
    assert_ne!(
        getsid(Some(watcher)).expect("sid"),
        getsid(None).expect("sid")
    );
    // What a Ctrl-C (or a supervisor) does to the program: signal its whole process group.
    killpg(creator_pid, Signal::SIGKILL).expect("killpg");
    assert_eq!(creator.join().expect("join"), -9);
    assert!(wait_gone(&name), "the watcher died with the group");
}

fn killed_while_creating_leaves_nothing() {
    // Killed before the name is given: the unnamed file simply vanishes.
    let name = unique("half_made");
    let child = Process::start("creator", || {
        fault::arm("shared_memory.create.watched", Fault::Kill, 1);
        let _ = SharedMemory::create_named(&name, 8);
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), -9);
    settle();
    assert!(!exists(&name));
    // Killed right after the name is given: the watcher removes it.
    let child = Process::start("creator", || {
        fault::arm("shared_memory.create.linked", Fault::Kill, 1);
        let _ = SharedMemory::create_named(&name, 8);
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), -9);
    assert!(wait_gone(&name));
}

fn attach_to_a_segment_being_removed_is_refused() {
    let name = unique("removing");
    // The watcher of the next segment stops once it holds its exclusive lock, before unlink.
    fault::arm("shared_memory.watcher.stop", Fault::Fail, 1);
    let shm = SharedMemory::create_named(&name, 8).expect("create");
    let watcher = shm.watcher_pid().expect("watched") as i32;
    drop(shm);
    assert!(
        wait_stopped(watcher, Duration::from_secs(10)),
        "watcher not stopped"
    );
    assert!(exists(&name));
    assert!(matches!(
        SharedMemory::attach(&name),
        Err(SharedMemoryError::Removed { .. })
    ));
    kill(Pid::from_raw(watcher), Signal::SIGCONT).expect("cont");
    assert!(wait_gone(&name));
}

/// Attaches to `name`, stopping between the open and the lock; succeeds only if told the
/// segment was removed meanwhile.
fn attach_across_the_removal(name: String) -> Result<(), String> {
    fault::arm("shared_memory.attach.opened", Fault::Stop, 1);
    match SharedMemory::attach(&name) {
        Err(SharedMemoryError::Removed { .. }) => Ok(()),
        Err(e) => Err(format!("wrong error: {e}")),
        Ok(shm) => Err(format!("attached to a removed segment: {shm:?}")),
    }
}

fn attach_that_loses_the_race_with_the_watcher_is_told() {
    let name = unique("race");
    let shm = SharedMemory::create_named(&name, 8).expect("create");
    // Spawned, so the child inherits nothing of ours (a forked child would hold the mapping).
    let child = Process::new(attach_across_the_removal, name.clone())
        .start_method(StartMethod::Spawn)
        .start()
        .expect("start");
    stopped(&child);
    // The child has the file open, but holds no lock yet: the segment has no other user.
    drop(shm);
    assert!(wait_gone(&name), "the watcher did not remove the segment");
    child.signal(Signal::SIGCONT).expect("cont");
    assert_eq!(child.join().expect("join"), 0);
}

fn a_killed_watcher_leaves_the_name_as_documented() {
    let name = unique("orphan");
    let shm = SharedMemory::create_named(&name, 8).expect("create");
    let watcher = Pid::from_raw(shm.watcher_pid().expect("watched") as i32);
    kill(watcher, Signal::SIGKILL).expect("kill");
    drop(shm);
    settle();
    assert!(
        exists(&name),
        "documented: without its watcher, a segment stays"
    );
    SharedMemory::attach(&name)
        .expect("attach")
        .unlink()
        .expect("unlink");
    assert!(!exists(&name));
}

fn untracked_segments_stay_until_unlinked() {
    let name = unique("untracked");
    let shm = SharedMemory::options()
        .name(&name)
        .track(false)
        .create(8)
        .expect("create");
    assert_eq!(shm.watcher_pid(), None);
    shm.write_at(0, b"stays").expect("write");
    drop(shm);
    settle();
    assert!(exists(&name));
    let again = SharedMemory::attach(&name).expect("attach");
    let mut got = [0u8; 5];
    again.read_at(0, &mut got).expect("read");
    assert_eq!(&got, b"stays");
    again.unlink().expect("unlink");
    assert!(!exists(&name));
}

fn foreign_segments_are_never_removed_by_attachers() {
    // Made the way Python's SharedMemory makes one: shm_open(O_CREAT | O_EXCL) and ftruncate.
    let name = unique("foreign");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(Path::new("/dev/shm").join(&name))
        .expect("create");
    file.set_len(32).expect("size");
    drop(file);
    let child = Process::start("attacher", || {
        let shm = SharedMemory::attach(&name).expect("attach");
        assert_eq!(shm.size(), 32);
        shm.write_at(0, b"ours").expect("write");
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    settle();
    assert!(
        exists(&name),
        "an attacher removed a segment it did not create"
    );
    let shm = SharedMemory::attach(&name).expect("attach");
    let mut got = [0u8; 4];
    shm.read_at(0, &mut got).expect("read");
    assert_eq!(&got, b"ours");
    shm.unlink().expect("unlink");
}

fn a_list_is_complete_when_its_name_appears() {
    let name = unique("complete");
    let items: Vec<Item> = (0..64).map(|i| Item::from(format!("item {i}"))).collect();
    // The creator stops right after the name appears, before it returns.
    let creator = Process::start("creator", || {
        fault::arm("shared_memory.create.linked", Fault::Stop, 1);
        let _list = ShareableList::create_named(&name, &items).expect("list");
    })
    .expect("start");
    stopped(&creator);
    let list = ShareableList::attach(&name).expect("attach");
    assert_eq!(list.to_vec().expect("items"), items, "a half-written list");
    creator.signal(Signal::SIGCONT).expect("cont");
    assert_eq!(creator.join().expect("join"), 0);
    drop(list);
    assert!(wait_gone(&name));
}

fn a_stray_watcher_variable_does_not_hijack_a_program() {
    // This very test program, started with the variable set but no segment on stdin.
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("IPC_COMMON_SHM_WATCHER", "psm_00000000")
        .arg("no test has this name")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unset it"));
    assert!(out.stdout.is_empty(), "main ran: {out:?}");
}

fn nothing_is_left_in_dev_shm() {
    for name in NAMES.lock().expect("names").iter() {
        assert!(wait_gone(name), "{name} was left in /dev/shm");
    }
}

fn main() {
    ipc_common::testing::run(&[
        (
            "create_attach_and_share_bytes_across_fork",
            create_attach_and_share_bytes_across_fork,
        ),
        (
            "names_sizes_and_errors_are_pythons",
            names_sizes_and_errors_are_pythons,
        ),
        (
            "an_unlinked_name_reused_is_left_to_its_new_segment",
            an_unlinked_name_reused_is_left_to_its_new_segment,
        ),
        (
            "a_forked_child_keeps_the_segment_while_it_lives",
            a_forked_child_keeps_the_segment_while_it_lives,
        ),
        (
            "killed_creator_and_attacher_leave_nothing",
            killed_creator_and_attacher_leave_nothing,
        ),
        (
            "a_killed_process_group_does_not_take_the_watcher_with_it",
            a_killed_process_group_does_not_take_the_watcher_with_it,
        ),
        (
            "killed_while_creating_leaves_nothing",
            killed_while_creating_leaves_nothing,
        ),
        (
            "attach_to_a_segment_being_removed_is_refused",
            attach_to_a_segment_being_removed_is_refused,
        ),
        (
            "attach_that_loses_the_race_with_the_watcher_is_told",
            attach_that_loses_the_race_with_the_watcher_is_told,
        ),
        (
            "a_killed_watcher_leaves_the_name_as_documented",
            a_killed_watcher_leaves_the_name_as_documented,
        ),
        (
            "untracked_segments_stay_until_unlinked",
            untracked_segments_stay_until_unlinked,
        ),
        (
            "foreign_segments_are_never_removed_by_attachers",
            foreign_segments_are_never_removed_by_attachers,
        ),
        (
            "a_list_is_complete_when_its_name_appears",
            a_list_is_complete_when_its_name_appears,
        ),
        (
            "a_stray_watcher_variable_does_not_hijack_a_program",
            a_stray_watcher_variable_does_not_hijack_a_program,
        ),
        ("nothing_is_left_in_dev_shm", nothing_is_left_in_dev_shm),
    ]);
}
