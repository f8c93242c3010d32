//! Named segments and shareable lists as arguments of spawned and forkserver children: the
//! descriptor travels, the child counts as a user, and the list keeps Python's layout.
//! Ordinary `#[test]`s: spawn and forkserver do not mind libtest's threads.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ipc_common::shared_memory::{Item, ShareableList, SharedMemory, SharedMemoryError};
use ipc_common::{Process, ShmBox, StartMethod};

mod dev_shm;
use dev_shm::{exists, wait_gone};

/// Waits until `go` is set (at most 10 s), then writes into the segment it was given.
fn write_when_told((shm, go): (SharedMemory, ShmBox<AtomicU32>)) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while go.load(SeqCst) == 0 {
        if Instant::now() > deadline {
            return Err("never told to go".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    shm.write_at(0, b"from a child").map_err(|e| e.to_string())
}

#[test]
fn a_segment_given_to_a_child_is_kept_alive_by_it() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let shm = SharedMemory::create(64).expect("create");
        let name = shm.name().to_string();
        let go = ShmBox::new(AtomicU32::new(0)).expect("box");
        // The segment moves into the arguments: once they are sent, only the child holds it.
        let child = Process::new(write_when_told, (shm, go.try_clone().expect("dup")))
            .start_method(method)
            .start()
            .expect("start");
        std::thread::sleep(Duration::from_millis(300));
        assert!(exists(&name), "{method}: removed while the child holds it");
        let again = SharedMemory::attach(&name).expect("attach");
        go.store(1, SeqCst);
        assert_eq!(child.join().expect("join"), 0, "{method}");
        let mut got = [0u8; 12];
        again.read_at(0, &mut got).expect("read");
        assert_eq!(&got, b"from a child", "{method}");
        drop(again);
        assert!(wait_gone(&name), "{method}: {name} left behind");
    }
}

fn fill_unlinked(shm: SharedMemory) -> Result<(), String> {
    if SharedMemory::attach(shm.name()).is_ok() {
        return Err("the name should be gone".into());
    }
    shm.write_at(1, b"still shared").map_err(|e| e.to_string())
}

#[test]
fn an_unlinked_segment_can_still_be_passed_on() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let shm = SharedMemory::create(16).expect("create");
        shm.unlink().expect("unlink");
        let child = Process::new(fill_unlinked, shm.try_clone().expect("clone"))
            .start_method(method)
            .start()
            .expect("start");
        assert_eq!(child.join().expect("join"), 0, "{method}");
        let mut got = [0u8; 12];
        shm.read_at(1, &mut got).expect("read");
        assert_eq!(&got, b"still shared", "{method}");
    }
}

fn edit_list(list: ShareableList) -> Result<(), String> {
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    check(list.len() == 4, "length")?;
    check(
        list.get(1).map_err(|e| e.to_string())? == Item::Float(0.5),
        "item 1",
    )?;
    list.set(0, "child").map_err(|e| e.to_string())?;
    list.set(3, 99).map_err(|e| e.to_string())?;
    match list.set(2, "far too long for eight") {
        Err(SharedMemoryError::TooLong { room: 8, .. }) => Ok(()),
        other => Err(format!("a long str in an 8-byte slot: {other:?}")),
    }
}

#[test]
fn a_shareable_list_travels_to_a_child() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let list = ShareableList::new(&["parent".into(), 0.5.into(), ().into(), true.into()])
            .expect("list");
        let name = list.shm().name().to_string();
        let copy = list.try_clone().expect("clone");
        let child = Process::new(edit_list, copy)
            .start_method(method)
            .start()
            .expect("start");
        assert_eq!(child.join().expect("join"), 0, "{method}");
        assert_eq!(
            list.to_vec().expect("items"),
            [
                Item::from("child"),
                Item::Float(0.5),
                Item::None,
                Item::Int(99)
            ],
            "{method}"
        );
        drop(list);
        assert!(wait_gone(&name), "{method}: {name} left behind");
    }
}
