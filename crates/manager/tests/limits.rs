//! Sizes and garbage: values up to the limit and no further, snapshots larger than the limit,
//! large values, requests that are not of the protocol. Each test forks, so this is a
//! `harness = false` program (see `ipc_common::testing`).

use std::io::Write;

use ipc_common::Process;
use ipc_common::auth;
use manager::{Manager, ManagerError};

mod common;
use common::{authenticated, field, name_of, read_to_end, request};

/// A snapshot is not limited: a list and a dict whose items add up to many times the limit
/// come back whole, and the proxy goes on. (A reply over the limit used to be refused with
/// its bytes left in the socket, and every later call on that proxy failed.)
fn a_snapshot_larger_than_the_limit_streams_and_the_proxy_goes_on() {
    const ITEM: usize = 60 * 1024;
    let manager = Manager::builder()
        .max_message(64 * 1024)
        .start()
        .expect("start");
    let list = manager.list::<String>().expect("list");
    let dict = manager.dict::<u32, String>().expect("dict");
    let item = |i: u32| format!("{i:>width$}", width = ITEM);
    for i in 0..40 {
        list.append(&item(i)).expect("append");
        dict.set(&i, &item(i)).expect("set");
    }
    let items = list.to_vec().expect("a snapshot of 40 times the limit");
    assert_eq!(items, (0..40).map(item).collect::<Vec<_>>());
    assert_eq!(list.len().expect("the proxy goes on"), 40);
    let entries = dict.items().expect("items");
    assert_eq!(entries, (0..40).map(|i| (i, item(i))).collect::<Vec<_>>());
    assert_eq!(dict.get(&39).expect("get"), Some(item(39)));
}

/// A key, value or item over the limit is refused by the proxy that would send it, with an
/// error naming both sizes; nothing reaches the server, and the proxy goes on. One of exactly
/// the limit is taken.
fn a_value_over_the_limit_is_refused_whole_naming_both_sizes() {
    let manager = Manager::builder().max_message(1000).start().expect("start");
    let list = manager.list::<Vec<u8>>().expect("list");
    // A `Vec<u8>` is encoded as a tag byte and its bytes.
    list.append(&vec![1; 999]).expect("exactly the limit");
    let refused = list.append(&vec![2; 1000]);
    match &refused {
        Err(
            e @ ManagerError::TooLarge {
                what: "item",
                len: 1001,
                max: 1000,
            },
        ) => {
            let message = e.to_string();
            assert!(
                message.contains("1001") && message.contains("1000"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let dict = manager.dict::<String, Vec<u8>>().expect("dict");
    let big_key = dict.set(&"k".repeat(1000), &vec![]);
    assert!(
        matches!(big_key, Err(ManagerError::TooLarge { what: "key", .. })),
        "{big_key:?}"
    );
    let big_value = dict.set(&"k".into(), &vec![0; 5000]);
    assert!(
        matches!(
            big_value,
            Err(ManagerError::TooLarge {
                what: "value",
                len: 5001,
                ..
            })
        ),
        "{big_value:?}"
    );
    assert_eq!(list.to_vec().expect("to_vec"), [vec![1; 999]]);
    assert!(dict.is_empty().expect("nothing reached the server"));
    dict.set(&"k".into(), &vec![3; 10])
        .expect("the proxy goes on");
    assert_eq!(dict.get(&"k".into()).expect("get"), Some(vec![3; 10]));
}

/// A value larger than the old 256 MiB frame limit travels whole, from a child to the parent.
fn a_large_value_travels_whole() {
    const LEN: usize = 300 << 20;
    let manager = Manager::start().expect("start");
    let dict = manager.dict::<u8, Vec<u8>>().expect("dict");
    // Every 4 KiB block starts with its own number, so that a block lost, doubled or moved
    // is seen.
    let child = Process::start("sender", || {
        let mut value = vec![0u8; LEN];
        for (n, block) in value.chunks_mut(4096).enumerate() {
            block[..8].copy_from_slice(&(n as u64).to_le_bytes());
        }
        dict.set(&1, &value).expect("set");
    })
    .expect("start");
    assert_eq!(child.join().expect("join"), 0);
    let value = dict.get(&1).expect("get").expect("present");
    assert_eq!(value.len(), LEN);
    for (n, block) in value.chunks(4096).enumerate() {
        assert_eq!(block[..8], (n as u64).to_le_bytes(), "block {n}");
    }
}

/// Requests that are not of the protocol, from an authenticated client, or cut short by its
/// end: the server drops that connection without a reply and without a change, and serves
/// everyone else.
fn a_malformed_request_drops_only_its_connection() {
    let manager = Manager::builder().max_message(1000).start().expect("start");
    let list = manager.list::<u32>().expect("list");
    list.append(&1).expect("append");
    let key = auth::authkey().expect("key");
    let dict_set = |key_len: u64, rest: &[u8]| {
        let mut body = key_len.to_be_bytes().to_vec();
        body.extend_from_slice(rest);
        request(3, 0, &body)
    };
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("an unknown op", request(0xee, 0, &[])),
        ("a short request", vec![0, 0, 0, 2, 7, 0]),
        ("a length with a body", request(8, 0, &[1])),
        ("a key longer than the request", dict_set(100, b"ab")),
        ("a key length of 2^64 - 1", dict_set(u64::MAX, b"ab")),
        ("an item over the limit", request(7, 0, &field(&[0; 1001]))),
        ("an item without its length", request(7, 0, &[0; 10])),
        (
            "a frame over the limit",
            0x7fff_ffffu32.to_be_bytes().to_vec(),
        ),
        ("a negative length", (-5i32).to_be_bytes().to_vec()),
        (
            "a request cut short",
            request(7, 0, &field(&[9; 100]))[..50].to_vec(),
        ),
    ];
    for (what, bytes) in malformed {
        let raw = authenticated(&name_of(&manager), &key);
        (&raw).write_all(&bytes).expect("request");
        // Nothing more (the server may have closed already, which is as good).
        let _ = raw.shutdown(std::net::Shutdown::Write);
        assert_eq!(read_to_end(&raw), b"", "{what} was answered");
        assert_eq!(list.to_vec().expect("still served"), [1], "after {what}");
    }
    assert_eq!(manager.shutdown().expect("shutdown"), 0);
}

fn main() {
    ipc_common::testing::run(&[
        (
            "a_snapshot_larger_than_the_limit_streams_and_the_proxy_goes_on",
            a_snapshot_larger_than_the_limit_streams_and_the_proxy_goes_on,
        ),
        (
            "a_value_over_the_limit_is_refused_whole_naming_both_sizes",
            a_value_over_the_limit_is_refused_whole_naming_both_sizes,
        ),
        ("a_large_value_travels_whole", a_large_value_travels_whole),
        (
            "a_malformed_request_drops_only_its_connection",
            a_malformed_request_drops_only_its_connection,
        ),
    ]);
}
