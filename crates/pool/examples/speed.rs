//! Per-task cost of the pool, as §B(f) of the Python reference measures it:
//! `Pool(2).map(x*2, range(100_000))` with the default chunk size, and
//! `imap_unordered(x*2, range(10_000), chunksize=1)`. Median of 5.
//!
//! `cargo run --release -p pool --example speed`

use std::time::Instant;

use pool::Pool;

fn double(x: u64) -> u64 {
    x * 2
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let (mut create, mut map, mut imap) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let pool = Pool::new(2)?;
        create.push(t.elapsed().as_secs_f64() * 1e3);

        let t = Instant::now();
        let r = pool.map(double, 0..100_000u64)?;
        map.push(t.elapsed().as_secs_f64() * 1e6 / 100_000.0);
        anyhow::ensure!(r.len() == 100_000 && r[99_999] == 199_998);

        let t = Instant::now();
        let mut sum = 0;
        for x in pool.imap_unordered(double, 0..10_000u64, 1)? {
            sum += x?;
        }
        imap.push(t.elapsed().as_secs_f64() * 1e6 / 10_000.0);
        anyhow::ensure!(sum == 2 * (0..10_000u64).sum::<u64>());
        pool.close();
        pool.join()?;
    }
    println!("Pool(2) creation: {:.2} ms", median(create));
    println!("map, 100000 tiny tasks: {:.3} µs/task", median(map));
    println!(
        "imap_unordered chunksize 1, 10000 tasks: {:.2} µs/task",
        median(imap)
    );
    Ok(())
}
