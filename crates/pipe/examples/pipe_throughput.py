#!/usr/bin/env python3
"""Python's side of `cargo run --release -p pipe --example pipe_throughput`.

Measures multiprocessing.Pipe() (the `fork` start method) the way the Rust side measures
pipe::pipe(), in one of two modes:
  echo    the parent sends a message, a child sends it back: MB/s = size / round trip
  stream  a child sends `count` messages, the parent receives them: MB/s = size * count / time
(MB = 10**6 bytes). Each size is measured REPS times and the best run kept. One line per size:
"<size> <send> <send_bytes>", the MB/s of send(bytes)/recv() (pickled, as Rust's typed send)
and of send_bytes()/recv_bytes() (raw).

Usage: pipe_throughput.py MODE REPS SIZE:COUNT ...
"""
import multiprocessing as mp
import sys
import time

ctx = mp.get_context("fork")


def echo_child(conn, raw):
    recv, send = (conn.recv_bytes, conn.send_bytes) if raw else (conn.recv, conn.send)
    while True:
        message = recv()
        if not message:
            break
        send(message)


def stream_child(conn, raw, size, count):
    send = conn.send_bytes if raw else conn.send
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for _ in range(count + 1):  # one more: the first is the warm-up
        send(data)
    conn.close()


def measure(mode, size, count, raw):
    a, b = ctx.Pipe()
    recv, send = (a.recv_bytes, a.send_bytes) if raw else (a.recv, a.send)
    if mode == "echo":
        p = ctx.Process(target=echo_child, args=(b, raw))
        p.start()
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        send(data)
        assert recv() == data  # warm-up, and the bytes come back intact
        t0 = time.perf_counter()
        for _ in range(count):
            send(data)
            assert len(recv()) == size
        dt = time.perf_counter() - t0
        send(b"")
    else:
        p = ctx.Process(target=stream_child, args=(b, raw, size, count))
        p.start()
        assert len(recv()) == size
        t0 = time.perf_counter()
        for _ in range(count):
            assert len(recv()) == size
        dt = time.perf_counter() - t0
    p.join()
    assert p.exitcode == 0
    return size * count / dt / 1e6


def main():
    mode, reps = sys.argv[1], int(sys.argv[2])
    for arg in sys.argv[3:]:
        size, count = map(int, arg.split(":"))
        best = [max(measure(mode, size, count, raw) for _ in range(reps)) for raw in (False, True)]
        print(size, f"{best[0]:.0f}", f"{best[1]:.0f}", flush=True)


if __name__ == "__main__":
    main()
