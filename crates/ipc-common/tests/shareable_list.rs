//! ShareableList on its own: Python's list behaviour (length, items, slots, count, index,
//! repr), and garbage segments that must give errors, never a panic or an access past the
//! segment. Ordinary `#[test]`s (no process is started but the segments' watchers).

use ipc_common::shared_memory::{Item, ShareableList, SharedMemory, SharedMemoryError};

#[test]
fn behaves_as_pythons_list() {
    let list = ShareableList::new(&[
        1.into(),
        1.0.into(),
        true.into(),
        "one".into(),
        ().into(),
        Some(2).into(),
    ])
    .expect("list");
    assert_eq!(list.len(), 6);
    assert!(!list.is_empty());
    // 1 == 1.0 == True in Python.
    assert_eq!(list.count(&Item::Int(1)).expect("count"), 3);
    assert_eq!(list.index(&Item::Bool(true)).expect("index"), Some(0));
    assert_eq!(list.index(&"one".into()).expect("index"), Some(3));
    assert_eq!(list.index(&Item::Int(3)).expect("index"), None);
    assert!(matches!(
        list.get(6),
        Err(SharedMemoryError::IndexOutOfRange { index: 6, len: 6 })
    ));
    assert!(matches!(
        list.set(9, 0),
        Err(SharedMemoryError::IndexOutOfRange { index: 9, len: 6 })
    ));
    assert_eq!(
        format!("{list:?}"),
        format!(
            "ShareableList([1, 1.0, True, 'one', None, 2], name='{}')",
            list.shm().name()
        )
    );
    // Python's size: 8 + 8 × 7 (length and offsets) + 48 (data) + 8 × 6 (formats) + 6 (codes).
    assert_eq!(list.shm().size(), 8 + 56 + 48 + 48 + 6);
}

#[test]
fn an_empty_list_is_sixteen_bytes() {
    let list = ShareableList::new(&[]).expect("list");
    assert!(list.is_empty());
    assert_eq!(list.shm().size(), 16);
    assert_eq!(list.to_vec().expect("items"), []);
    assert_eq!(list.format().expect("format"), "");
    let again = ShareableList::attach(list.shm().name()).expect("attach");
    assert_eq!(again.len(), 0);
}

#[test]
fn text_slots_are_sized_by_utf8_bytes() {
    // Seven characters, fourteen bytes: Python would cut it in an 8-byte slot.
    let text = "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}";
    let list = ShareableList::new(&[text.into()]).expect("list");
    assert_eq!(list.format().expect("format"), "16s");
    assert_eq!(list.get(0).expect("item"), Item::from(text));
    // Trailing NULs are lost, as in Python; inner ones stay.
    list.set(0, b"a\x00b\x00\x00".as_slice()).expect("set");
    assert_eq!(list.get(0).expect("item"), Item::from(b"a\x00b".as_slice()));
}

#[test]
fn a_value_too_long_for_any_slot_is_refused() {
    let long = "x".repeat(10_000_000);
    assert!(matches!(
        ShareableList::new(&[Item::from(long.as_str())]),
        Err(SharedMemoryError::TooLong { index: 0, .. })
    ));
}

/// xorshift64*: a small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Plausible-looking garbage: a small length, offsets that may or may not fit the size, and
/// formats and codes drawn from Python's and a few others, over random bytes.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(5);
    let size = 16 + rng.below(200) as usize;
    let mut bytes: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
    let mut put = |at: usize, word: [u8; 8]| {
        if at + 8 <= bytes.len() {
            bytes[at..at + 8].copy_from_slice(&word);
        }
    };
    if rng.below(4) != 0 {
        put(0, (n as i64).to_ne_bytes());
        let mut offset = 0i64;
        for i in 0..=n {
            put(8 * (i as usize + 1), offset.to_ne_bytes());
            offset += 8 * (1 + rng.below(3) as i64);
        }
        let data = 8 * (n as usize + 2) + offset as usize - 8;
        let formats: [&[u8]; 6] = [b"q", b"d", b"xxxxxxx?", b"xxxxxx?x", b"8s", b"99s"];
        for i in 0..n as usize {
            let mut f = [0u8; 8];
            let pick = formats[rng.below(6) as usize];
            f[..pick.len()].copy_from_slice(pick);
            put(data + 8 * i, f);
        }
        for i in 0..n as usize {
            let code = data + 8 * n as usize + i;
            if code < bytes.len() {
                bytes[code] = rng.below(5) as u8;
            }
        }
    }
    bytes
}

#[test]
fn garbage_segments_give_errors_not_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut lists, mut items) = (0, 0);
    for _ in 0..500 {
        let bytes = garbage(&mut rng);
        // Untracked and unlinked at once: no watcher, nothing left behind.
        let shm = SharedMemory::options()
            .track(false)
            .create(bytes.len())
            .expect("create");
        shm.unlink().expect("unlink");
        shm.write_at(0, &bytes).expect("write");
        let list = match ShareableList::from_shared_memory(shm) {
            Ok(list) => list,
            Err(SharedMemoryError::Corrupt { .. }) => continue,
            Err(e) => panic!("unexpected error: {e}"),
        };
        lists += 1;
        for i in 0..list.len() {
            match list.get(i) {
                Ok(_) => items += 1,
                Err(SharedMemoryError::Corrupt { .. } | SharedMemoryError::NotUtf8 { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
            list.set(i, "12345678").expect("eight bytes fit any slot");
            assert_eq!(list.get(i).expect("set item"), Item::from("12345678"));
        }
    }
    // The generator must have produced valid lists and items, or the test proves nothing.
    assert!(lists > 50 && items > 50, "{lists} lists, {items} items");
}
