//! A manager and its proxies under every start method: the server started by spawn and
//! forkserver from a program with threads (libtest's), and proxies passed to spawned children
//! as arguments. Ordinary `#[test]`s.

use ipc_common::{StartMethod, get_context};
use manager::{DictProxy, ListProxy, Manager};

fn worker(
    (d, l, i): (DictProxy<u32, String>, ListProxy<u32>, u32),
) -> Result<(), manager::ManagerError> {
    d.set(&i, &format!("数据来自进程{i}"))?;
    l.append(&i)
}

#[test]
fn proxies_travel_to_spawned_children() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let manager = Manager::builder()
            .start_method(method)
            .start()
            .expect("start");
        let d = manager.dict::<u32, String>().expect("dict");
        let l = manager.list::<u32>().expect("list");
        let kids: Vec<_> = (0..3)
            .map(|i| {
                get_context(method)
                    .process(worker, (d.clone(), l.clone(), i))
                    .start()
                    .expect("start")
            })
            .collect();
        for k in &kids {
            assert_eq!(k.join().expect("join"), 0, "{method}");
        }
        let mut items = d.items().expect("items");
        items.sort();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], (2, "数据来自进程2".to_string()));
        let mut list = l.to_vec().expect("list");
        list.sort();
        assert_eq!(list, [0, 1, 2]);
        assert_eq!(manager.shutdown().expect("shutdown"), 0);
    }
}

#[test]
fn an_explicit_key_travels_with_its_proxies() {
    let key = manager::AuthKey::new(b"not the process key".to_vec());
    let manager = Manager::builder()
        .authkey(key)
        .start_method(StartMethod::Spawn)
        .start()
        .expect("start");
    let d = manager.dict::<u32, String>().expect("dict");
    let l = manager.list::<u32>().expect("list");
    let p = get_context(StartMethod::Spawn)
        .process(worker, (d.clone(), l.clone(), 7))
        .start()
        .expect("start");
    assert_eq!(p.join().expect("join"), 0);
    assert_eq!(l.to_vec().expect("list"), [7]);
}

#[test]
fn a_proxy_outside_a_process_start_carries_no_key() {
    let manager = Manager::builder()
        .start_method(StartMethod::Spawn)
        .start()
        .expect("start");
    let d = manager.dict::<u32, u32>().expect("dict");
    let mut bytes = Vec::new();
    ipc_common::codec::encode(&d, &mut bytes).expect("encode");
    let key = ipc_common::auth::authkey().expect("key");
    assert!(
        !bytes
            .windows(key.as_bytes().len())
            .any(|w| w == key.as_bytes()),
        "the key was written outside a process start"
    );
}
