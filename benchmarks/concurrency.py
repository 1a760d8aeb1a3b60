"""Run N copies of a benchmark's stream in their own processes, as Celery worker processes would be."""
from __future__ import annotations

import multiprocessing


def run_streams(target, args, count: int) -> dict[int, dict]:
    """Start `target(index, args, barrier, results)` in `count` spawned processes and collect what each
    puts on `results` as (index, row). Each calls `barrier.wait()` once it has warmed up, so all are
    timed together. Spawned, not forked: CUDA cannot be shared with forked children."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(count), ctx.Queue()
    procs = [ctx.Process(target=target, args=(i, args, barrier, results)) for i in range(count)]
    for proc in procs:
        proc.start()
    rows = dict(results.get() for _ in procs)
    for proc in procs:
        proc.join()
    return rows
