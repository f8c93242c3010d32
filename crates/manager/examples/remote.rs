//! Python's "Using a remote manager" example: a queue served at a TCP address, reached by
//! clients that know only the address and the key.
//!
//! ```text
//! cargo run -p manager --example remote -- serve 127.0.0.1:50000   # the server (Ctrl-C ends it)
//! cargo run -p manager --example remote -- put 127.0.0.1:50000 hello
//! cargo run -p manager --example remote -- get 127.0.0.1:50000     # prints hello
//! cargo run -p manager --example remote -- stop 127.0.0.1:50000
//! cargo run -p manager --example remote                            # all of it, in one run
//! ```
//!
//! The key is Python's example's, `abracadabra`, unless `MANAGER_KEY` gives another: over TCP
//! the key alone guards the manager (see SECURITY.md), so use a strong one beyond a demo.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use manager::{AuthKey, Manager};

/// The shared queue, by name: Python's `register('get_queue', callable=lambda: queue)`.
const QUEUE: &str = "get_queue";

fn key() -> AuthKey {
    let key = std::env::var("MANAGER_KEY").unwrap_or_else(|_| "abracadabra".into());
    AuthKey::new(key.into_bytes())
}

/// `m = QueueManager(address=(host, port), authkey=key); m.get_server().serve_forever()`
fn serve(address: SocketAddr) -> anyhow::Result<()> {
    let server = Manager::builder()
        .address(address)
        .authkey(key())
        .server()?;
    println!("serving at {}", server.address());
    server.serve_forever()?;
    Ok(())
}

/// `m.connect(); queue = m.get_queue()`
fn queue(address: SocketAddr) -> anyhow::Result<manager::QueueProxy<String>> {
    let manager = Manager::connect(address, key()).context("connect")?;
    Ok(manager.named(QUEUE).queue(0)?)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = |i: usize| -> anyhow::Result<SocketAddr> {
        let text = args.get(i).context("an address, host:port")?;
        text.parse()
            .with_context(|| format!("{text:?} is not host:port"))
    };
    match args.first().map(String::as_str) {
        Some("serve") => serve(address(1)?),
        Some("put") => {
            let item = args.get(2).context("what to put")?;
            queue(address(1)?)?.put(item)?;
            Ok(())
        }
        Some("get") => {
            println!("{}", queue(address(1)?)?.get()?);
            Ok(())
        }
        Some("stop") => {
            Manager::connect(address(1)?, key())?.shutdown()?;
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}: serve, put, get or stop"),
        None => {
            // All of it in one run: the server on a thread, on a free port.
            let server = Manager::builder()
                .address(SocketAddr::from(([127, 0, 0, 1], 0)))
                .authkey(key())
                .server()?;
            let manager::Address::Tcp(address) = server.address().clone() else {
                bail!("not a TCP address");
            };
            let serving = std::thread::spawn(move || server.serve_forever());
            queue(address)?.put(&"hello".to_string())?;
            println!("{}", queue(address)?.get()?);
            Manager::connect(address, key())?.shutdown()?;
            serving
                .join()
                .map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
            Ok(())
        }
    }
}
