"""pgqueuer 1.6 batch enqueue with several producers at once, each on its own connection:
the peer's side of `scripts/bench queue`'s concurrent enqueue row (the shared harness,
../shared/bench/queue/pgq_bench.py, enqueues from one connection only).

  pgq_enqueue_concurrent.py --jobs 50000 --batch 1000 --producers 4

Connection: libpq env vars. Prints one JSON line.
"""
import argparse
import asyncio
import json
import time

import asyncpg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries


async def main(args):
    connections = [await asyncpg.connect() for _ in range(args.producers)]
    queries = [Queries(AsyncpgDriver(c)) for c in connections]
    await queries[0].clear_queue()
    batches = args.jobs // args.batch

    async def produce(index):
        for b in range(index, batches, args.producers):
            await queries[index].enqueue(["noop"] * args.batch, [None] * args.batch, [0] * args.batch)

    t0 = time.perf_counter()
    await asyncio.gather(*(produce(i) for i in range(args.producers)))
    dt = time.perf_counter() - t0
    size = sum(x.count for x in await queries[0].queue_size())
    await queries[0].clear_queue()
    for c in connections:
        await c.close()
    print(json.dumps({"tool": "pgqueuer", "what": "enqueue-batch-concurrent", "producers": args.producers,
                      "jobs": batches * args.batch, "batch": args.batch, "queued": size, "seconds": round(dt, 4),
                      "jobs_per_s": round(batches * args.batch / dt, 1)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=50000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--producers", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
