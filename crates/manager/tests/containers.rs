//! Shared dicts, lists, namespaces, values and arrays behave as Python's: the examples of
//! Python's documentation, then random operations compared with a model of Python's list and
//! dict; a sort is atomic with respect to other clients; nested proxies (a dict of lists)
//! reach the same objects from every process. Ordinary `#[test]`s: the servers and children
//! are started by spawn.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use ipc_common::{StartMethod, get_context};
use manager::{AuthKey, DictProxy, ListProxy, Manager, ManagerError};

mod common;
use common::spawned_manager;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The seed of the random tests: `MANAGER_TEST_SEED`, or a new one (printed, to replay).
fn seed() -> u64 {
    let seed = std::env::var("MANAGER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("MANAGER_TEST_SEED={seed}");
    seed
}

#[test]
fn dict_operations_follow_python() -> Result {
    let manager = spawned_manager();
    // d = dict(a=1, b=2)
    let d = manager.dict_from([("a".to_string(), 1), ("b".into(), 2)])?;
    assert_eq!(d.len()?, 2);
    assert!(d.contains(&"a".into())? && !d.contains(&"z".into())?);
    d.set(&"c".into(), &3)?;
    assert_eq!(d.keys()?, ["a", "b", "c"]);
    assert_eq!(d.values()?, [1, 2, 3]);
    // del d["b"]; a second del is a KeyError.
    d.del_item(&"b".into())?;
    assert!(matches!(
        d.del_item(&"b".into()),
        Err(ManagerError::KeyNotFound(_))
    ));
    // d.pop("a"), d.pop("a") raises, d.pop("a", 0) gives the default.
    assert_eq!(d.pop(&"a".into())?, 1);
    assert!(matches!(
        d.pop(&"a".into()),
        Err(ManagerError::KeyNotFound(_))
    ));
    assert_eq!(d.pop_or(&"a".into(), 0)?, 0);
    // setdefault: an existing key keeps its value; a new one gets the default, last.
    assert_eq!(d.setdefault(&"c".into(), &100)?, 3);
    assert_eq!(d.setdefault(&"d".into(), &4)?, 4);
    // update: a known key keeps its place, a new one goes last.
    d.update([("x".to_string(), 9), ("c".to_string(), 30)])?;
    let k = ("e".to_string(), 5);
    d.update([(&k.0, &k.1)])?; // pairs of references do too
    assert_eq!(
        d.items()?,
        [
            ("c".to_string(), 30),
            ("d".into(), 4),
            ("x".into(), 9),
            ("e".into(), 5)
        ]
    );
    // popitem is LIFO.
    assert_eq!(d.popitem()?, ("e".to_string(), 5));
    assert_eq!(d.popitem()?, ("x".to_string(), 9));
    assert_eq!(d.copy()?, d.items()?);
    let iterated: Vec<(String, i32)> = d.iter()?.collect();
    assert_eq!(iterated, [("c".to_string(), 30), ("d".into(), 4)]);
    d.clear()?;
    assert!(d.is_empty()?);
    assert!(matches!(d.popitem(), Err(ManagerError::KeyNotFound(_))));
    Ok(())
}

#[test]
fn list_indexing_and_slicing_follow_python() -> Result {
    let manager = spawned_manager();
    let l = manager.list_from(0..5)?; // [0, 1, 2, 3, 4]
    assert_eq!(l.get(-1)?, 4);
    assert_eq!(l.get(-5)?, 0);
    for bad in [5, -6, i64::MAX, i64::MIN] {
        match l.get(bad) {
            Err(ManagerError::IndexOutOfRange(m)) => assert_eq!(m, "list index out of range"),
            other => panic!("l[{bad}]: {other:?}"),
        }
    }
    assert_eq!(l.get_slice(1..3)?, [1, 2]); // l[1:3]
    assert_eq!(l.get_slice(-2..)?, [3, 4]); // l[-2:]
    assert_eq!(l.get_slice(..=-1)?, [0, 1, 2, 3, 4]); // l[:] (inclusive -1: to the end)
    assert_eq!(l.get_slice(..=-2)?, [0, 1, 2, 3]); // l[:-1]
    assert_eq!(l.get_slice(..-10)?, [] as [i32; 0]); // l[:-10]
    #[allow(clippy::reversed_empty_ranges)] // Python's l[3:1], empty as in Python
    let backwards = 3..1;
    assert_eq!(l.get_slice(backwards)?, [] as [i32; 0]);
    assert_eq!(l.get_slice(-100..100)?, [0, 1, 2, 3, 4]);
    l.set(-1, &40)?;
    assert!(
        matches!(l.set(5, &0), Err(ManagerError::IndexOutOfRange(m)) if m == "list assignment index out of range")
    );
    // l[1:3] = [10, 20, 30]: a slice takes any number of items.
    l.set_slice(1..3, [10, 20, 30])?;
    assert_eq!(l.to_vec()?, [0, 10, 20, 30, 3, 40]);
    l.del_slice(..2)?; // del l[:2]
    l.set_slice(2..2, [7])?; // l[2:2] = [7]: inserts
    assert_eq!(l.to_vec()?, [20, 30, 7, 3, 40]);
    // insert clamps: before the start, past the end, before the last.
    l.insert(-100, &-1)?;
    l.insert(100, &99)?;
    l.insert(-1, &5)?;
    assert_eq!(l.to_vec()?, [-1, 20, 30, 7, 3, 40, 5, 99]);
    assert_eq!(l.pop()?, 99);
    assert_eq!(l.pop_at(0)?, -1);
    assert_eq!(l.pop_at(-2)?, 40);
    assert!(
        matches!(l.pop_at(100), Err(ManagerError::IndexOutOfRange(m)) if m == "pop index out of range")
    );
    // remove and index: the first equal item, else ValueError.
    l.extend([7, 8])?;
    let more = vec![9];
    l.extend(&more)?; // references do too
    assert_eq!(l.index(&7)?, 2);
    l.remove(&7)?;
    assert_eq!(l.to_vec()?, [20, 30, 3, 5, 7, 8, 9]);
    assert!(matches!(l.index(&1000), Err(ManagerError::NotInList(_))));
    assert!(matches!(l.remove(&1000), Err(ManagerError::NotInList(_))));
    assert_eq!((l.count(&7)?, l.count(&1000)?), (1, 0));
    assert!(l.contains(&30)? && !l.contains(&31)?);
    l.reverse()?;
    assert_eq!(l.to_vec()?, [9, 8, 7, 5, 3, 30, 20]);
    l.sort()?;
    assert_eq!(l.to_vec()?, [3, 5, 7, 8, 9, 20, 30]);
    l.sort_by(|a, b| b.cmp(a))?; // l.sort(reverse=True)
    assert_eq!(l.iter()?.next(), Some(30));
    // l *= 2, l *= 0
    l.del_slice(2..)?;
    l.repeat_in_place(2)?;
    assert_eq!(l.to_vec()?, [30, 20, 30, 20]);
    assert!(matches!(
        l.repeat_in_place(i64::MAX),
        Err(ManagerError::NoMemory(_))
    ));
    assert_eq!(l.len()?, 4, "a MemoryError leaves the list as it was");
    l.repeat_in_place(0)?;
    assert!(l.is_empty()?);
    assert!(matches!(l.pop(), Err(ManagerError::IndexOutOfRange(m)) if m == "pop from empty list"));
    Ok(())
}

#[test]
fn sort_is_stable_and_by_any_key() -> Result {
    let manager = spawned_manager();
    let l = manager.list_from([(1, 'a'), (0, 'b'), (1, 'c'), (0, 'd')])?;
    l.sort_by_key(|pair| pair.0)?;
    assert_eq!(l.to_vec()?, [(0, 'b'), (0, 'd'), (1, 'a'), (1, 'c')]);
    l.sort_by_key(|pair| std::cmp::Reverse(pair.0))?;
    assert_eq!(l.to_vec()?, [(1, 'a'), (1, 'c'), (0, 'b'), (0, 'd')]);
    Ok(())
}

/// A sort is done by the client on a snapshot, then applied only if nobody changed the list
/// meanwhile: items appended by other clients during the sorts are never lost nor doubled.
/// (Replacing the list with a sorted snapshot would lose the ones appended in between.)
#[test]
fn sort_is_atomic_with_respect_to_other_clients() -> Result {
    const PER_CLIENT: u32 = 300;
    let manager = spawned_manager();
    let l = manager.list::<u32>()?;
    let running = AtomicUsize::new(3);
    let mut sorts = 0;
    std::thread::scope(|scope| -> Result {
        for client in 0..3 {
            let (l, running) = (&l, &running);
            // Each thread is a client of its own (its own connection).
            scope.spawn(move || {
                for i in 0..PER_CLIENT {
                    l.append(&(client * 1000 + PER_CLIENT - i)).expect("append");
                }
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        while running.load(Ordering::SeqCst) > 0 {
            l.sort()?;
            sorts += 1;
        }
        Ok(())
    })?;
    l.sort()?;
    let mut expected: Vec<u32> = (0..3)
        .flat_map(|c| (1..=PER_CLIENT).map(move |i| c * 1000 + i))
        .collect();
    expected.sort();
    assert_eq!(l.to_vec()?, expected, "after {sorts} sorts");
    Ok(())
}

/// Python's rules for an index (negative: from the end), as the model uses them.
fn position(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// Python's clamping of a slice bound or an insertion point.
fn clamp(len: usize, i: i64) -> usize {
    let len = len as i64;
    (if i < 0 { (i + len).max(0) } else { i.min(len) }) as usize
}

/// A random Python slice `[start:end]` and the range that stands for it.
fn random_slice(rng: &mut fastrand::Rng, len: usize) -> (usize, usize, (Bound<i64>, Bound<i64>)) {
    let mut bound = || {
        let n = len as i64 + 3;
        rng.bool().then(|| rng.i64(-n..=n))
    };
    let (start, end) = (bound(), bound());
    let from = start.map_or(0, |s| clamp(len, s));
    let to = end.map_or(len, |e| clamp(len, e)).max(from);
    let range = (
        start.map_or(Bound::Unbounded, Bound::Included),
        end.map_or(Bound::Unbounded, Bound::Excluded),
    );
    (from, to, range)
}

/// Random operations on a shared list and on a `Vec` that follows Python's rules: the two
/// always agree, results and errors alike.
#[test]
fn a_list_agrees_with_a_model_of_pythons_under_random_operations() -> Result {
    let mut rng = fastrand::Rng::with_seed(seed());
    let manager = spawned_manager();
    let l = manager.list::<u8>()?;
    let mut model: Vec<u8> = Vec::new();
    for step in 0..1500 {
        let len = model.len();
        let i = rng.i64(-(len as i64) - 3..=len as i64 + 3);
        let x = rng.u8(0..8);
        match rng.u8(0..14) {
            0 => {
                l.append(&x)?;
                model.push(x);
            }
            1 => {
                l.insert(i, &x)?;
                model.insert(clamp(len, i), x);
            }
            2 => match (l.get(i), position(len, i)) {
                (Ok(got), Some(at)) => assert_eq!(got, model[at]),
                (Err(ManagerError::IndexOutOfRange(_)), None) => {}
                (got, at) => panic!("l[{i}] of {model:?}: {got:?} vs {at:?}"),
            },
            3 => match (l.set(i, &x), position(len, i)) {
                (Ok(()), Some(at)) => model[at] = x,
                (Err(ManagerError::IndexOutOfRange(_)), None) => {}
                (got, at) => panic!("l[{i}] = x in {model:?}: {got:?} vs {at:?}"),
            },
            4 => {
                let (got, at) = match rng.bool() {
                    true => (l.pop(), len.checked_sub(1)),
                    false => (l.pop_at(i), position(len, i)),
                };
                match (got, at) {
                    (Ok(got), Some(at)) => assert_eq!(got, model.remove(at)),
                    (Err(ManagerError::IndexOutOfRange(_)), None) => {}
                    (got, at) => panic!("pop({i}) of {model:?}: {got:?} vs {at:?}"),
                }
            }
            5 => match (l.remove(&x), model.iter().position(|y| *y == x)) {
                (Ok(()), Some(at)) => drop(model.remove(at)),
                (Err(ManagerError::NotInList(_)), None) => {}
                (got, at) => panic!("remove({x}) of {model:?}: {got:?} vs {at:?}"),
            },
            6 => match (l.index(&x), model.iter().position(|y| *y == x)) {
                (Ok(got), Some(at)) => assert_eq!(got, at),
                (Err(ManagerError::NotInList(_)), None) => {}
                (got, at) => panic!("index({x}) of {model:?}: {got:?} vs {at:?}"),
            },
            7 => {
                assert_eq!(l.count(&x)?, model.iter().filter(|y| **y == x).count());
                assert_eq!(l.contains(&x)?, model.contains(&x));
            }
            8 => {
                let (from, to, range) = random_slice(&mut rng, len);
                assert_eq!(
                    l.get_slice(range)?,
                    model[from..to],
                    "{range:?} of {model:?}"
                );
            }
            9 => {
                let (from, to, range) = random_slice(&mut rng, len);
                let items: Vec<u8> = (0..rng.usize(0..4)).map(|_| rng.u8(0..8)).collect();
                l.set_slice(range, &items)?;
                model.splice(from..to, items);
            }
            10 => {
                let items: Vec<u8> = (0..rng.usize(0..4)).map(|_| rng.u8(0..8)).collect();
                l.extend(&items)?;
                model.extend(items);
            }
            11 => {
                l.reverse()?;
                model.reverse();
            }
            12 => {
                l.sort()?;
                model.sort();
            }
            _ => {
                // l *= n, kept small.
                let n = if len < 20 { rng.i64(-1..=2) } else { 1 };
                l.repeat_in_place(n)?;
                model = model.repeat(n.max(0) as usize);
            }
        }
        if step % 50 == 0 {
            assert_eq!(l.to_vec()?, model, "step {step}");
        }
    }
    assert_eq!(l.to_vec()?, model);
    assert_eq!(l.len()?, model.len());
    Ok(())
}

/// Random operations on a shared dict and on a model of Python's (insertion order kept, a
/// known key keeping its place, `popitem` taking the newest entry).
#[test]
fn a_dict_agrees_with_a_model_of_pythons_under_random_operations() -> Result {
    let mut rng = fastrand::Rng::with_seed(seed());
    let manager = spawned_manager();
    let d = manager.dict::<u8, u32>()?;
    let mut model: Vec<(u8, u32)> = Vec::new();
    let at = |model: &Vec<(u8, u32)>, k: u8| model.iter().position(|e| e.0 == k);
    for step in 0..3000u32 {
        let (k, v) = (rng.u8(0..40), step);
        match rng.u8(0..8) {
            0 | 1 => {
                d.set(&k, &v)?;
                match at(&model, k) {
                    Some(i) => model[i].1 = v,
                    None => model.push((k, v)),
                }
            }
            2 => assert_eq!(d.get(&k)?, at(&model, k).map(|i| model[i].1)),
            3 => match (d.del_item(&k), at(&model, k)) {
                (Ok(()), Some(i)) => drop(model.remove(i)),
                (Err(ManagerError::KeyNotFound(_)), None) => {}
                (got, i) => panic!("del d[{k}]: {got:?} vs {i:?}"),
            },
            4 => match (d.pop(&k), at(&model, k)) {
                (Ok(got), Some(i)) => assert_eq!(got, model.remove(i).1),
                (Err(ManagerError::KeyNotFound(_)), None) => {}
                (got, i) => panic!("d.pop({k}): {got:?} vs {i:?}"),
            },
            5 => match (d.popitem(), model.pop()) {
                (Ok(got), Some(newest)) => assert_eq!(got, newest),
                (Err(ManagerError::KeyNotFound(_)), None) => {}
                (got, newest) => panic!("d.popitem(): {got:?} vs {newest:?}"),
            },
            6 => {
                let got = d.setdefault(&k, &v)?;
                match at(&model, k) {
                    Some(i) => assert_eq!(got, model[i].1),
                    None => {
                        assert_eq!(got, v);
                        model.push((k, v));
                    }
                }
            }
            _ => {
                let entries: Vec<(u8, u32)> = (0..rng.usize(0..4))
                    .map(|j| (rng.u8(0..40), v + j as u32))
                    .collect();
                d.update(entries.iter().map(|(k, v)| (k, v)))?;
                for (k, v) in entries {
                    match at(&model, k) {
                        Some(i) => model[i].1 = v,
                        None => model.push((k, v)),
                    }
                }
            }
        }
        assert_eq!(d.contains(&k)?, at(&model, k).is_some());
        if step % 100 == 0 {
            assert_eq!(d.items()?, model, "step {step}");
        }
    }
    assert_eq!(d.items()?, model);
    assert_eq!(d.len()?, model.len());
    Ok(())
}

#[test]
fn namespace_attributes_follow_python() -> Result {
    let manager = spawned_manager();
    let ns = manager.namespace()?;
    ns.set("x", &10)?; // ns.x = 10
    ns.set("y", &"hello".to_string())?;
    ns.set("x", &vec![1.5f64])?; // an attribute may change type
    assert_eq!(ns.get::<Vec<f64>>("x")?, [1.5]);
    assert_eq!(ns.get::<String>("y")?, "hello");
    assert!(matches!(ns.get::<u32>("y"), Err(ManagerError::Decode(_))));
    assert_eq!(ns.names()?, ["x", "y"]);
    assert!(ns.has("y")? && !ns.has("z")?);
    ns.del("y")?; // del ns.y
    match ns.get::<String>("y") {
        Err(ManagerError::NoAttribute(m)) => assert!(m.contains("\"y\""), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(ns.del("y"), Err(ManagerError::NoAttribute(_))));
    Ok(())
}

#[test]
fn value_and_array_follow_python() -> Result {
    let manager = spawned_manager();
    let v = manager.value(&'a')?; // manager.Value('u', 'a')
    v.set(&'b')?;
    assert_eq!(v.get()?, 'b');
    let a = manager.array([1.0f64, 2.0, 3.0])?; // manager.Array('d', [1.0, 2.0, 3.0])
    assert_eq!(a.len()?, 3);
    a.set(-1, &30.0)?;
    assert_eq!(a.get(0)?, 1.0);
    assert!(matches!(a.get(3), Err(ManagerError::IndexOutOfRange(_))));
    assert_eq!(a.get_slice(1..)?, [2.0, 30.0]);
    a.set_slice(..2, [10.0, 20.0])?;
    assert_eq!(a.to_vec()?, [10.0, 20.0, 30.0]);
    Ok(())
}

/// The child's half of the nesting test: it gets only the dict, finds the list in it, and
/// appends through that list.
fn append_through_the_dict(
    d: DictProxy<String, ListProxy<u32>>,
) -> std::result::Result<(), ManagerError> {
    let list = d
        .get(&"a".into())?
        .ok_or(ManagerError::KeyNotFound("a".into()))?;
    list.append(&2)
}

/// Python 3.6's nested proxies: a proxy stored in a dict or list is a reference to its object,
/// so that a change through the proxy read back, in any process, is seen by all.
#[test]
fn a_dict_of_lists_holds_the_lists_themselves() -> Result {
    let manager = spawned_manager();
    let d = manager.dict::<String, ListProxy<u32>>()?;
    let inner = manager.list::<u32>()?;
    d.set(&"a".into(), &inner)?;
    inner.append(&1)?;
    let read_back = d.get(&"a".into())?.expect("set above");
    assert_eq!(read_back.to_vec()?, [1]);
    let child = get_context(StartMethod::Spawn)
        .process(append_through_the_dict, d.clone())
        .start()?;
    assert_eq!(child.join()?, 0);
    assert_eq!(inner.to_vec()?, [1, 2]);

    // Python's own example: a = manager.list(); b = manager.list(); a.append(b)
    let a = manager.list::<ListProxy<String>>()?;
    let b = manager.list::<String>()?;
    a.append(&b)?;
    b.append(&"hello".into())?;
    assert_eq!(a.get(0)?.to_vec()?, ["hello"]);

    // A reference read as a proxy of another kind is an error, not a proxy of the wrong
    // object: the same dict, seen as holding dicts.
    let nest = manager.named("nest").dict::<u8, ListProxy<u32>>()?;
    nest.set(&0, &inner)?;
    let as_dicts = manager.named("nest").dict::<u8, DictProxy<u8, u8>>()?;
    assert!(matches!(as_dicts.get(&0), Err(ManagerError::Decode(_))));
    Ok(())
}

/// The nested proxy of a manager whose key was set explicitly works in a process whose own
/// key is another (Python would use that process's key for it, and fail).
#[test]
fn a_nested_proxy_of_a_manager_with_its_own_key_works_anywhere() -> Result {
    let manager = Manager::builder()
        .authkey(AuthKey::new(b"not the process key".to_vec()))
        .start_method(StartMethod::Spawn)
        .start()?;
    let d = manager.dict::<String, ListProxy<u32>>()?;
    let inner = manager.list::<u32>()?;
    d.set(&"a".into(), &inner)?;
    let read_back = d.get(&"a".into())?.expect("set above");
    read_back.append(&1)?;
    let child = get_context(StartMethod::Spawn)
        .process(append_through_the_dict, d.clone())
        .start()?;
    assert_eq!(child.join()?, 0);
    assert_eq!(inner.to_vec()?, [1, 2]);
    Ok(())
}
