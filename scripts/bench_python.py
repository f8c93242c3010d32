#!/usr/bin/env python3
"""Python multiprocessing side of `cargo run --release -p benchmark -- ipc`.

Measures the same operations as the Rust benchmark, with CPython's multiprocessing and the
`fork` start method, and prints one JSON object per line on stdout:
    {"op": "<name>", "unit": "<unit>", "median": <float>, "runs": [<float>, ...]}
Progress goes to stderr. Usage: bench_python.py [--quick] [op ...]
The message-size ops (`sizes`) print one line per cell, `size_<primitive>_<payload>_<bytes>`
in MB/s (10^6 bytes per second), or `{"op": ..., "error": "..."}` for a cell that failed.
Each operation is timed as the Rust side times it: repeated runs, fresh processes per run,
the median reported; the Manager child connects (one `len(d)`) before its timed loop, and
the wake-up tests let the waiter sleep 1 ms before each firing.
"""
import array
import json
import multiprocessing as mp
import statistics
import sys
import time

ctx = mp.get_context("fork")
pc = time.perf_counter
QUICK = "--quick" in sys.argv
REPS = 3 if QUICK else 5


def scale(n):
    return max(1, n // 10) if QUICK else n


def report(op, unit, runs):
    print(json.dumps({"op": op, "unit": unit, "median": statistics.median(runs), "fastest": min(runs), "runs": runs}), flush=True)


def _empty():
    pass


def start_join(c, n):
    """Starts and joins `n` empty children of context `c`: us per child."""
    t0 = pc()
    for _ in range(n):
        p = c.Process(target=_empty)
        p.start()
        p.join()
    return (pc() - t0) / n * 1e6


def bench_spawn():
    report("spawn", "us/process", [start_join(ctx, scale(200)) for _ in range(REPS)])


def _q_prod(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def _q_cons(q, cnt):
    c = 0
    while True:
        x = q.get()
        if x is None:
            break
        c += 1
    with cnt.get_lock():
        cnt.value += c


def bench_queue(nprod, ncons, op):
    total = scale(100_000)
    runs = []
    for _ in range(REPS):
        q = ctx.Queue()
        cnt = ctx.Value("q", 0)
        ps = [ctx.Process(target=_q_prod, args=(q, total // nprod)) for _ in range(nprod)]
        cs = [ctx.Process(target=_q_cons, args=(q, cnt)) for _ in range(ncons)]
        t0 = pc()
        for p in cs + ps:
            p.start()
        for p in ps + cs:
            p.join()
        dt = pc() - t0
        assert cnt.value == total, cnt.value
        runs.append(total / dt)
    report(op, "msgs/s", runs)


def _echo(conn):
    while True:
        x = conn.recv()
        if x is None:
            break
        conn.send(x)


def bench_pipe():
    n = scale(20_000)
    runs = []
    for _ in range(REPS):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_echo, args=(b,))
        p.start()
        a.send(0)
        a.recv()
        t0 = pc()
        for i in range(n):
            a.send(i)
            a.recv()
        dt = pc() - t0
        a.send(None)
        p.join()
        runs.append(dt / n * 1e6)
    report("pipe_rtt", "us/round-trip", runs)


def _inc(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def bench_value():
    n = scale(1_000_000)
    runs = []
    for _ in range(REPS):
        v = ctx.Value("i", 0)
        ps = [ctx.Process(target=_inc, args=(v, n)) for _ in range(2)]
        t0 = pc()
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        dt = pc() - t0
        assert v.value == 2 * n, v.value
        runs.append(dt / (2 * n) * 1e9)
    report("value_inc", "ns/increment", runs)


def _mset(d, n, conn):
    len(d)  # connect first (the Rust side does too): the timed loop is sets only
    t0 = pc()
    for i in range(n):
        d[i] = i
    conn.send(pc() - t0)


def bench_manager():
    n = scale(10_000)
    runs = []
    for _ in range(REPS):
        with ctx.Manager() as m:
            d = m.dict()
            a, b = ctx.Pipe()
            p = ctx.Process(target=_mset, args=(d, n, b))
            p.start()
            dt = a.recv()
            p.join()
            assert len(d) == n
        runs.append(dt / n * 1e6)
    report("manager_set", "us/op", runs)


def _dbl(x):
    return x * 2


def bench_pool():
    n_map, n_imap = scale(100_000), scale(10_000)
    map_runs, imap_runs = [], []
    for _ in range(REPS):
        with ctx.Pool(2) as pool:
            t0 = pc()
            r = pool.map(_dbl, range(n_map))
            map_runs.append((pc() - t0) / n_map * 1e6)
            assert r[-1] == 2 * (n_map - 1)
            t0 = pc()
            s = sum(pool.imap_unordered(_dbl, range(n_imap), chunksize=1))
            imap_runs.append((pc() - t0) / n_imap * 1e6)
            assert s == 2 * sum(range(n_imap))
    report("pool_map", "us/task", map_runs)
    report("pool_imap_unordered", "us/task", imap_runs)


def _ev_child(go, conn, n):
    for _ in range(n):
        go.wait()
        conn.send(pc())
        conn.recv()


def _sem_child(sem, conn, n):
    for _ in range(n):
        sem.acquire()
        conn.send(pc())
        conn.recv()


def wake_latency(make, child, fire, reset):
    n = scale(200)
    runs = []
    for _ in range(REPS):
        obj = make()
        a, b = ctx.Pipe()
        p = ctx.Process(target=child, args=(obj, b, n))
        p.start()
        lat = []
        for _ in range(n):
            time.sleep(0.001)  # let the child fall asleep (the Rust side waits 1 ms too)
            t0 = pc()
            fire(obj)
            t1 = a.recv()
            reset(obj)
            a.send(1)
            lat.append((t1 - t0) * 1e6)
        p.join()
        runs.append(statistics.median(lat))
    return runs


def bench_event():
    runs = wake_latency(ctx.Event, _ev_child, lambda e: e.set(), lambda e: e.clear())
    report("event_wake", "us", runs)


def bench_semaphore():
    runs = wake_latency(lambda: ctx.Semaphore(0), _sem_child, lambda s: s.release(), lambda s: None)
    report("semaphore_wake", "us", runs)


def cpu_bound_task(n):
    return sum(i * i for i in range(n))


def bench_cpu():
    runs = []
    for _ in range(REPS):
        t0 = pc()
        assert cpu_bound_task(1_000_000) == 333332833333500000
        runs.append((pc() - t0) * 1e3)
    report("cpu_task", "ms/task", runs)


def bench_start(method):
    # The same empty child under `spawn` or `forkserver`; for forkserver, one start before the
    # timing launches the server (the Rust side does the same).
    c = mp.get_context(method)
    runs = []
    for _ in range(REPS):
        if method == "forkserver":
            start_join(c, 1)
        runs.append(start_join(c, scale(20)))
    report(f"start_{method}", "us/process", runs)


# The message-size table. A `Vec<u8>` is sent as `bytes`; a `Vec<f64>` as `array.array('d')`,
# which pickles as one buffer: Python's best case for floats (a `list` of floats, the naive
# form, pickles every float on its own and is several times slower), so the fair comparison.
SIZES = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]
SIZE_REPS = 3


def size_count(size):
    """Messages per cell: a fixed volume (64 MiB, 8 MiB with --quick), at least 2 messages and at
    most 16 384 (2 048), so that small messages do not take the whole run. The Rust side uses
    the same counts."""
    volume, most = (8 << 20, 2048) if QUICK else (64 << 20, 16384)
    return max(2, min(most, volume // size))


def payload(kind, size):
    if kind == "u8":
        return bytes(size)
    return array.array("d", bytes(size))


def _size_consumer(get, n, size, ctl):
    ctl.send(0)  # ready: the timing starts when the consumer waits
    for _ in range(n):
        x = get()
        assert len(x) * x.itemsize == size if isinstance(x, array.array) else len(x) == size
    ctl.send(pc())


def _q_size_consumer(q, n, size, ctl):
    _size_consumer(q.get, n, size, ctl)


def _p_size_consumer(r, n, size, ctl):
    _size_consumer(r.recv, n, size, ctl)


def _ident(x):
    return x


def size_cell(prim, kind, size):
    n = size_count(size)
    msg = payload(kind, size)
    if prim == "pool":
        # Distinct objects, as the Rust side's: n references to one object would be pickled
        # once per chunk (pickle's memo), not n times.
        items = [payload(kind, size) for _ in range(n)]
        with ctx.Pool(2) as pool:
            t0 = pc()
            out = pool.map(_ident, items)
            dt = pc() - t0
        assert len(out) == n
        return n * size / dt / 1e6
    ctl_r, ctl_w = ctx.Pipe(duplex=False)
    if prim == "queue":
        chan = ctx.Queue()
        p = ctx.Process(target=_q_size_consumer, args=(chan, n, size, ctl_w))
        put = chan.put
    else:
        r, chan = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_p_size_consumer, args=(r, n, size, ctl_w))
        put = chan.send
    p.start()
    ctl_r.recv()
    t0 = pc()
    for _ in range(n):
        put(msg)
    t1 = ctl_r.recv()
    p.join()
    return n * size / (t1 - t0) / 1e6


def bench_sizes():
    for prim in ("queue", "pipe", "pool"):
        for kind in ("u8", "f64"):
            for size in SIZES:
                op = f"size_{prim}_{kind}_{size}"
                print(f"python: {prim} {size >> 10} KiB {kind} ...", file=sys.stderr, flush=True)
                try:
                    runs = [size_cell(prim, kind, size) for _ in range(SIZE_REPS)]
                except Exception as e:  # reported as a failing cell, as the Rust side does
                    print(json.dumps({"op": op, "error": f"{type(e).__name__}: {e}"}), flush=True)
                    continue
                report(op, "MB/s", runs)


BENCHES = {
    "spawn": bench_spawn,
    "start_spawn": lambda: bench_start("spawn"),
    "start_forkserver": lambda: bench_start("forkserver"),
    "queue_1_1": lambda: bench_queue(1, 1, "queue_1_1"),
    "queue_2_2": lambda: bench_queue(2, 2, "queue_2_2"),
    "pipe_rtt": bench_pipe,
    "value_inc": bench_value,
    "manager_set": bench_manager,
    "pool": bench_pool,
    "event_wake": bench_event,
    "semaphore_wake": bench_semaphore,
    "cpu_task": bench_cpu,
    "sizes": bench_sizes,
}

if __name__ == "__main__":
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")] or list(BENCHES)
    for name in chosen:
        print(f"python: {name} ...", file=sys.stderr, flush=True)
        BENCHES[name]()
