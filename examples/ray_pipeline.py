#!/usr/bin/env python3
"""A small SAGE-like dataflow on Ray over SAGE Queues:

    source actor -> queue -> N map actors -> queue -> sink actor

The source emits records (an id and a sentence), each map actor tokenises
its records and counts words, and the sink checks that every record arrived
exactly once and totals the words. The queues are made by the driver and
passed to the actors as ordinary arguments; each actor keeps its queue in
its state. Prints the throughput and the queues' shared statistics.

    .venv/bin/python examples/ray_pipeline.py                 # after ./build.sh
    .venv/bin/python examples/ray_pipeline.py --records 500000 --mappers 3
    .venv/bin/python examples/ray_pipeline.py --two-nodes     # sink on a 2nd Ray node

``--two-nodes`` starts a local two-node Ray cluster and pins the sink to the
second node: its queue then comes through the proxy actor on the first node
(the path a multi-machine cluster takes), with prefetch and batched gets.

Run from the source tree, it uses build/ (the library and plugins) unless
SAGE_QUEUE_LIB / SAGE_PLUGIN_PATH say otherwise; an installed sage_queue
needs neither. The variables are set before Ray starts, so every actor
inherits them.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# build/'s environment (tools/sage_env.py reads the sage-env.sh configure
# wrote there), with the source tree's package first on the path.
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sage_env  # noqa: E402

sage_env.use(paths=[os.path.join(ROOT, "python")])
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from sage_queue import SageQueue  # noqa: E402

WORDS = ("stream", "operator", "queue", "actor", "shared", "memory", "batch", "node")
STOP = None  # end-of-stream marker, one per downstream consumer


@ray.remote(num_cpus=0)
class Source:
    def __init__(self, out):
        self.out = out

    def run(self, records, mappers, batch):
        for start in range(0, records, batch):
            chunk = [{"id": i, "text": " ".join(WORDS[(i + k) % len(WORDS)]
                                                for k in range(1 + i % 7))}
                     for i in range(start, min(start + batch, records))]
            self.out.put_many(chunk)
        self.out.put_many([STOP] * mappers)
        return records


@ray.remote(num_cpus=0)
class Mapper:
    def __init__(self, src, dst):
        self.src, self.dst = src, dst

    def run(self, batch):
        done = 0
        while True:
            items = self.src.get_many(batch)
            stops = items.count(STOP)
            out = []
            for rec in items:
                if rec is not STOP:
                    counts = {}
                    for word in rec["text"].split():
                        counts[word] = counts.get(word, 0) + 1
                    out.append((rec["id"], counts))
            if out:
                self.dst.put_many(out)
                done += len(out)
            if stops:
                for _ in range(stops - 1):  # another mapper's marker
                    self.src.put(STOP)
                self.dst.put(STOP)
                return done


@ray.remote(num_cpus=0)
class Sink:
    def __init__(self, src):
        self.src = src

    def run(self, mappers, batch, prefetch):
        src = self.src
        if getattr(src, "is_remote", False):
            src.prefetch = prefetch  # this sink is on another node: batch the proxy calls
        seen = bytearray()
        totals = {}
        stops = 0
        started = None
        while stops < mappers:
            for item in src.get_many(batch):
                if started is None:
                    started = time.perf_counter()
                if item is STOP:
                    stops += 1
                    continue
                rid, counts = item
                if rid >= len(seen):
                    seen.extend(bytes(rid + 1 - len(seen)))
                seen[rid] += 1
                for word, n in counts.items():
                    totals[word] = totals.get(word, 0) + n
        kind = type(src).__name__
        src.close()  # through the proxy: read-ahead still in flight goes back to the queue
        return {"records": sum(1 for c in seen if c), "dupes": sum(1 for c in seen if c > 1),
                "words": sum(totals.values()), "kind": kind,
                "node": ray.get_runtime_context().get_node_id()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--mappers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="items per put_many/get_many")
    parser.add_argument("--two-nodes", action="store_true",
                        help="local 2-node cluster, sink on node 2 (through the proxy)")
    args = parser.parse_args()

    cluster = None
    if args.two_nodes:
        from ray.cluster_utils import Cluster
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cluster = Cluster(initialize_head=True,
                          head_node_args=dict(num_cpus=2, include_dashboard=False,
                                              object_store_memory=100 << 20))
        node2 = cluster.add_node(num_cpus=1, object_store_memory=100 << 20)
        ray.init(address=cluster.address, logging_level="ERROR")
        cluster.wait_for_nodes()
        sink_options = {"scheduling_strategy":
                        NodeAffinitySchedulingStrategy(node2.node_id, soft=False)}
    else:
        ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False,
                 object_store_memory=100 << 20, logging_level="ERROR")
        sink_options = {}

    stage1 = SageQueue(maxsize=16 << 20)  # byte-bounded rings in /dev/shm
    stage2 = SageQueue(maxsize=16 << 20)
    try:
        source = Source.remote(stage1)
        mappers = [Mapper.remote(stage1, stage2) for _ in range(args.mappers)]
        sink = Sink.options(**sink_options).remote(stage2)
        # actors are up before the clock starts
        ray.get([source.__ray_ready__.remote(), sink.__ray_ready__.remote()]
                + [m.__ray_ready__.remote() for m in mappers])
        start = time.perf_counter()
        result = sink.run.remote(args.mappers, args.batch, 1024)
        mapped = [m.run.remote(args.batch) for m in mappers]
        ray.get(source.run.remote(args.records, args.mappers, args.batch))
        per_mapper = ray.get(mapped)
        report = ray.get(result)
        elapsed = time.perf_counter() - start
        s1, s2 = stage1.get_stats(), stage2.get_stats()
    finally:
        stage1.destroy()
        stage2.destroy()
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()

    ok = report["records"] == args.records and report["dupes"] == 0
    where = "on node 2 through the proxy" if args.two_nodes else "on the same node"
    print(f"source -> {args.mappers} mappers -> sink ({report['kind']}, {where})")
    print(f"{args.records} records in {elapsed:.2f} s: {args.records / elapsed:,.0f} records/s "
          f"end to end, {report['words']:,} words counted")
    print(f"per mapper: {per_mapper}; every record exactly once: {'yes' if ok else 'NO'}")
    for label, st in (("source->mappers", s1), ("mappers->sink", s2)):
        print(f"  {label:15s} messages {st['total_got']:>8}  bytes {st['bytes_got']:>11}  "
              f"high water {st['high_water']:>9} B  blocked puts {st['blocked_puts']}  "
              f"blocked gets {st['blocked_gets']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
