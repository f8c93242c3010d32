//! Pipe ends passed to children started by spawn and forkserver (as arguments): Python's
//! `Process(target=f, args=(child_conn,))`. Ordinary `#[test]`s.

use ipc_common::{StartMethod, get_context};
use pipe::{Connection, PipeError, Sender};

fn echo(conn: Connection<String>) -> Result<(), PipeError> {
    let mut conn = conn;
    while let Ok(text) = conn.recv() {
        conn.send(&text.to_uppercase())?;
    }
    Ok(())
}

fn say(sender: Sender<Vec<u8>>) -> Result<(), PipeError> {
    let mut sender = sender;
    sender.send(&vec![7u8; 3 << 20])
}

#[test]
fn connections_and_one_way_ends_travel() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let (mut parent_conn, child_conn) = pipe::pipe::<String>().expect("pipe");
        let child = get_context(method)
            .process(echo, child_conn)
            .start()
            .expect("start");
        parent_conn.send(&"hello".to_string()).expect("send");
        assert_eq!(parent_conn.recv().expect("recv"), "HELLO", "{method}");
        drop(parent_conn); // the child's recv ends: our copy of its end went with the args
        assert_eq!(child.join().expect("join"), 0, "{method}");

        let (mut receiver, sender) = pipe::pipe_oneway::<Vec<u8>>().expect("pipe");
        let child = get_context(method)
            .process(say, sender)
            .start()
            .expect("start");
        assert_eq!(
            receiver.recv().expect("recv"),
            vec![7u8; 3 << 20],
            "{method}"
        );
        assert!(
            matches!(receiver.recv(), Err(PipeError::Closed)),
            "{method}"
        );
        assert_eq!(child.join().expect("join"), 0);
    }
}
