//! Objects of registered types (Python's `BaseManager.register(typeid, callable)`): made in
//! a server started by spawn or forkserver, which knows the types because the function it
//! runs was made for them; methods called by name from several processes, one at a time on
//! each object; their failures typed. Ordinary `#[test]`s.

use ipc_common::{StartMethod, get_context};
use manager::{Manager, ManagerError, ObjectProxy};

mod common;
use common::types::{Counter, Log};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn add_many(
    (counter, log, n): (ObjectProxy, ObjectProxy, u32),
) -> std::result::Result<(), ManagerError> {
    for _ in 0..n {
        counter.call::<i64, i64>("add", &1)?;
    }
    log.call::<String, ()>("push", &format!("added {n}"))
}

/// Four children add to one counter: no addition is lost (each method runs alone on its
/// object), whichever start method started the server.
#[test]
fn registered_types_live_in_a_server_started_by_spawn_or_forkserver() -> Result {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let manager = Manager::builder()
            .register::<Counter>()
            .register::<Log>()
            .start_method(method)
            .start()?;
        let counter = manager.create::<Counter>(&10)?;
        let log = manager.create::<Log>(&())?;
        assert_eq!(counter.typeid(), "Counter");
        let children: Vec<_> = (0..4)
            .map(|_| {
                get_context(method)
                    .process(add_many, (counter.clone(), log.clone(), 100))
                    .start()
            })
            .collect::<std::result::Result<_, _>>()?;
        for c in &children {
            assert_eq!(c.join()?, 0, "{method}");
        }
        assert_eq!(counter.call::<(), i64>("get", &())?, 410, "{method}");
        assert_eq!(log.call::<(), Vec<String>>("lines", &())?, ["added 100"; 4]);
        counter.call::<(), ()>("reset", &())?; // a method without a result returns ()
        assert_eq!(counter.call::<(), i64>("get", &())?, 0);
    }
    Ok(())
}

/// Each failure as its own error, and the object (and server) go on.
#[test]
fn method_failures_are_typed_and_leave_the_object_usable() -> Result {
    let manager = Manager::builder()
        .register::<Counter>()
        .start_method(StartMethod::Spawn)
        .start()?;
    let counter = manager.create::<Counter>(&i64::MAX)?;
    // No such method: Python's AttributeError.
    assert!(matches!(
        counter.call::<(), ()>("launch", &()),
        Err(ManagerError::NoAttribute(m)) if m.contains("launch")
    ));
    // The method's own failure, and arguments of another type.
    assert!(matches!(
        counter.call::<i64, i64>("add", &1),
        Err(ManagerError::Method(m)) if m == "overflow"
    ));
    assert!(matches!(
        counter.call::<String, i64>("add", &"one".into()),
        Err(ManagerError::Method(m)) if m.contains("bad arguments")
    ));
    // A result of another type than asked.
    assert!(matches!(
        counter.call::<(), String>("get", &()),
        Err(ManagerError::Decode(_))
    ));
    // A method that panics fails its call only.
    assert!(matches!(
        counter.call::<(), ()>("panic", &()),
        Err(ManagerError::Method(m)) if m.contains("panicked")
    ));
    assert_eq!(counter.call::<(), i64>("get", &())?, i64::MAX);
    // A constructor that fails.
    assert!(matches!(
        manager.create::<Counter>(&i64::MIN),
        Err(ManagerError::Method(m)) if m.contains("i64::MIN")
    ));
    Ok(())
}

/// A server without the type refuses to make it.
#[test]
fn a_type_the_server_does_not_know_is_refused() -> Result {
    let manager = Manager::builder()
        .register::<Log>()
        .start_method(StartMethod::Spawn)
        .start()?;
    match manager.create::<Counter>(&0) {
        Err(ManagerError::Refused(m)) => assert!(m.contains("\"Counter\""), "{m}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// Named objects of a registered type: the first request makes it, later ones get it as it
/// is; the name of an object of another type is refused. A proxy of one stored in a dict is
/// the object itself.
#[test]
fn named_objects_of_registered_types_are_shared() -> Result {
    let manager = Manager::builder()
        .register::<Counter>()
        .register::<Log>()
        .start_method(StartMethod::Spawn)
        .start()?;
    let first = manager.named("total").create::<Counter>(&5)?;
    let second = manager.named("total").create::<Counter>(&1000)?;
    first.call::<i64, i64>("add", &1)?;
    assert_eq!(second.call::<(), i64>("get", &())?, 6, "the same counter");
    assert!(matches!(
        manager.named("total").create::<Log>(&()),
        Err(ManagerError::Refused(_))
    ));
    assert!(matches!(
        manager.named("total").dict::<u8, u8>(),
        Err(ManagerError::Refused(_))
    ));
    let holders = manager.dict::<String, ObjectProxy>()?;
    holders.set(&"total".into(), &first)?;
    let read_back = holders.get(&"total".into())?.expect("set above");
    assert_eq!(read_back.typeid(), "Counter");
    assert_eq!(read_back.call::<i64, i64>("add", &1)?, 7);
    Ok(())
}
