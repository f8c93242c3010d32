//! Start and join an empty child with each start method; prints µs per child.

use std::time::Instant;

use ipc_common::{StartMethod, get_context};

fn nothing(_: ()) {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let ctx = get_context(method);
        ctx.process(nothing, ()).start()?.join()?; // warm up (starts the forkserver)
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            ctx.process(nothing, ()).start()?.join()?;
        }
        println!(
            "{method:>10}: {:8.1} µs",
            t.elapsed().as_secs_f64() / n as f64 * 1e6
        );
    }
    Ok(())
}
