#!/usr/bin/env python3
"""SageQueue between Ray actors against ray.util.queue.Queue, in one run.

    .venv/bin/python bench/ray/bench_ray.py --out docs/bench

Same node (ray.init(num_cpus=2)): one producer actor pinned to core 0 and
one consumer actor pinned to core 1; 64 B and 64 KiB bytes messages; single
put/get, and batched (SageQueue put_many/get_many; ray.util.queue.Queue
put_nowait_batch/get_nowait_batch). ray.util.queue.Queue keeps its items in
a third actor (unpinned), which is how it works.

Across nodes (a two-node ray.cluster_utils.Cluster on this machine): the
queue and its owner on node 1, the other end on node 2. "remote consumer":
producer actor on node 1, consumer actor on node 2 reading through the
SageQueue proxy actor; "remote producer": the reverse. ray.util.queue.Queue's
actor is pinned to node 1 as well. SageQueue modes: single (one proxy call
per get or put: exact queue.Queue semantics), prefetch / write-behind
(per-item get()/put() with prefetch=B or batch=B), and batched
(get_many/put_many of B).

Each point: min / median / max messages per second over --reps runs (default
5) after a warm-up run, peers interleaved inside each repetition. The
consumer times from a common start instant (both actors sleep until it) to
its last message. Ratios are medians over ray.util.queue.Queue's median in
the same part, shape and mode ("× ray single" against its single put/get).
A Python ping-pong probe runs before and after (see docs/DESIGN.md, "Performance").

Writes <out>/ray_bench.md, .json (every run, the machine) and .png.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# build/'s environment (tools/sage_env.py reads the sage-env.sh configure
# wrote there), with the source tree's package and this directory on the
# path of every Ray worker too.
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sage_env  # noqa: E402

sage_env.use(paths=[os.path.join(ROOT, "python"), HERE])
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray.util.queue import Empty as RayEmpty  # noqa: E402
from ray.util.queue import Queue as RayQueue  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

import sage_queue  # noqa: E402
from sage_queue import SageQueue, SageQueueRef  # noqa: E402


def _python_bench():
    """bench/python/bench_queues.py, for its ping-pong probe and machine
    description (it imports numpy; faster-fifo and pyzmq are optional)."""
    spec = importlib.util.spec_from_file_location(
        "bench_queues", os.path.join(ROOT, "bench", "python", "bench_queues.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KiB = 1 << 10
RING = 64 << 20
# (part, shape, mode) -> (messages per run for SageQueue, for ray.util.queue, batch)
SAME_NODE = {
    ("same node", "64 B", "single"): (200_000, 1_500, 1),
    ("same node", "64 B", "batched"): (400_000, 40_000, 256),
    ("same node", "64 KiB", "single"): (20_000, 600, 1),
    ("same node", "64 KiB", "batched"): (20_000, 3_000, 16),
}
CROSS_NODE = {
    ("remote consumer", "64 B", "single"): (2_000, 1_000, 1),
    ("remote consumer", "64 B", "prefetch"): (200_000, 0, 1024),
    ("remote consumer", "64 B", "batched"): (200_000, 40_000, 1024),
    ("remote consumer", "64 B", "batched+prefetch"): (200_000, 0, 1024),
    ("remote producer", "64 B", "single"): (2_000, 1_000, 1),
    ("remote producer", "64 B", "write-behind"): (200_000, 0, 1024),
    ("remote producer", "64 B", "batched"): (200_000, 40_000, 1024),
    ("remote consumer", "64 KiB", "batched"): (10_000, 2_000, 16),
    ("remote consumer", "64 KiB", "batched+prefetch"): (10_000, 0, 16),
    ("remote producer", "64 KiB", "batched"): (10_000, 2_000, 16),
}


@ray.remote(num_cpus=0)
class Endpoint:
    """One end of a channel. attach() opens it before the clock starts."""

    def __init__(self):
        self.q = None

    def pin(self, core: int) -> int:
        try:
            os.sched_setaffinity(0, {core % os.cpu_count()})
        except OSError:
            pass
        return os.getpid()

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def attach(self, chan: Any, options: Dict[str, Any]) -> str:
        self.q = chan.get_queue(**options) if isinstance(chan, SageQueueRef) else chan
        return type(self.q).__name__

    def detach(self) -> None:
        if isinstance(self.q, SageQueue) or getattr(self.q, "is_remote", False):
            self.q.close()
        self.q = None

    def produce(self, peer: str, size: int, n: int, batch: int, mode: str, start_at: float):
        q, item = self.q, b"x" * size
        time.sleep(max(0.0, start_at - time.time()))
        if mode.startswith("batched") and batch > 1:
            chunk = [item] * batch
            put = q.put_many if peer == "sage" else q.put_nowait_batch
            for _ in range(n // batch):
                put(chunk)
        else:
            put = q.put
            for _ in range(n):
                put(item)
            if peer == "sage" and hasattr(q, "flush"):
                q.flush()  # write-behind: what is still buffered
        return True

    def consume(self, peer: str, n: int, batch: int, mode: str, start_at: float) -> float:
        q = self.q
        got = 0
        if mode.startswith("batched") and batch > 1:
            if peer == "sage":
                while got < n:
                    got += len(q.get_many(batch))
            else:
                # get_nowait_batch(k) raises Empty unless k items are there:
                # take what is there, or wait for one when there is none.
                while got < n:
                    try:
                        got += len(q.get_nowait_batch(min(batch, n - got)))
                    except RayEmpty:
                        ready = min(q.qsize(), batch, n - got)
                        if ready:
                            got += len(q.get_nowait_batch(ready))
                        else:
                            q.get()
                            got += 1
        else:
            get = q.get
            for _ in range(n):
                get()
        return time.time() - start_at


def run_once(producer, consumer, peer: str, chan: Any, size: int, n: int, batch: int,
             mode: str, popts: Dict[str, Any], copts: Dict[str, Any]) -> float:
    ray.get([producer.attach.remote(chan, popts), consumer.attach.remote(chan, copts)])
    start_at = time.time() + 0.3
    done = consumer.consume.remote(peer, n, batch, mode, start_at)
    ray.get(producer.produce.remote(peer, size, n, batch, mode, start_at))
    elapsed = ray.get(done)
    ray.get([producer.detach.remote(), consumer.detach.remote()])
    return n / elapsed


def human(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f} k"
    return f"{rate:.0f}"


def measure(points: Dict[tuple, tuple], producer, consumer, reps: int, scale: float,
            node1: Optional[str]) -> Dict[str, List[float]]:
    """Runs every point (peers interleaved) reps+1 times; the first is the
    warm-up."""
    raw: Dict[str, List[float]] = {}
    for rep in range(reps + 1):
        for (part, shape, mode), (n_sage, n_ray, batch) in points.items():
            size = 64 if shape == "64 B" else 64 * KiB
            remote_end = "consumer" if part == "remote consumer" else "producer"
            for peer, count in (("sage", n_sage), ("ray", n_ray)):
                if count == 0:
                    continue
                n = max(batch, int(count * scale * (0.2 if rep == 0 else 1)))
                n -= n % batch
                opts: Dict[str, Any] = {}
                if peer == "sage" and mode in ("prefetch", "batched+prefetch"):
                    opts = {"prefetch": batch}
                elif peer == "sage" and mode == "write-behind":
                    opts = {"batch": batch, "linger": 0.002}
                if peer == "sage":
                    q = SageQueue(maxsize=RING)
                    chan = q.get_reference() if part != "same node" else q
                else:
                    q = None
                    actor_options = {"num_cpus": 0}
                    if node1:
                        actor_options["scheduling_strategy"] = \
                            NodeAffinitySchedulingStrategy(node1, soft=False)
                    chan = RayQueue(actor_options=actor_options)
                popts = opts if remote_end == "producer" else {}
                copts = opts if remote_end == "consumer" else {}
                try:
                    rate = run_once(producer, consumer, peer, chan, size, n,
                                    batch, mode, popts, copts)
                finally:
                    if q is not None:
                        q.destroy()
                    else:
                        chan.shutdown(force=True)
                name = "SageQueue" if peer == "sage" else "ray.util.queue"
                if rep > 0:
                    raw.setdefault(f"{part}|{shape}|{mode}|{name}", []).append(rate)
                print(f"{'warm-up' if rep == 0 else f'rep {rep}':8s} {part:16s} {shape:7s} "
                      f"{mode:12s} {name:15s} n={n:<7d} {human(rate)}/s", flush=True)
    return raw


def summarise(raw: Dict[str, List[float]], points: Dict[tuple, tuple]) -> List[Dict[str, Any]]:
    results = []
    for (part, shape, mode), (_, _, batch) in points.items():
        size = 64 if shape == "64 B" else 64 * KiB
        ray_same = raw.get(f"{part}|{shape}|{mode}|ray.util.queue")
        ray_single = raw.get(f"{part}|{shape}|single|ray.util.queue")
        ray_batched = raw.get(f"{part}|{shape}|batched|ray.util.queue")
        for name in ("SageQueue", "ray.util.queue"):
            rates = raw.get(f"{part}|{shape}|{mode}|{name}")
            if not rates:
                continue
            med = statistics.median(rates)

            def ratio(base):
                return med / statistics.median(base) if base else None

            results.append({
                "part": part, "shape": shape, "mode": mode, "peer": name, "batch": batch,
                "runs": rates, "min": min(rates), "median": med, "max": max(rates),
                "mbps": med * size / 1e6, "x_ray_same_mode": ratio(ray_same),
                "x_ray_single": ratio(ray_single), "x_ray_batched": ratio(ray_batched)})
    return results


def fmt_ratio(value: Optional[float]) -> str:
    return "–" if value is None else (f"{value:.0f}" if value >= 100 else f"{value:.1f}")


def markdown(results: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    lines = [
        f"Messages per second (min / **median** / max of {meta['reps']} runs); ratios are "
        "medians over ray.util.queue.Queue's median in the same run (same part and shape).",
        "",
        "| part | shape | mode | peer | min | median | max | MB/s | × ray same mode "
        "| × ray single | × ray batched |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['part']} | {r['shape']} | {r['mode']} (B={r['batch']}) | {r['peer']} | "
            f"{human(r['min'])} | **{human(r['median'])}** | {human(r['max'])} | "
            f"{r['mbps']:.1f} | {fmt_ratio(r['x_ray_same_mode'])} | "
            f"{fmt_ratio(r['x_ray_single'])} | {fmt_ratio(r['x_ray_batched'])} |")
    probe = meta["probe"]
    m = meta["machine"]
    lines += ["", "Ping-pong probe (Python, one way): before "
              f"{probe['before']['median_ns']:.0f} ns median / {probe['before']['p99_ns']:.0f} ns "
              f"p99, after {probe['after']['median_ns']:.0f} / {probe['after']['p99_ns']:.0f} ns.",
              "", f"Machine: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}; " +
              ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "."]
    return "\n".join(lines) + "\n"


def chart(results: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r["peer"] == "SageQueue"]
    labels = [f"{r['part']}, {r['shape']}\n{r['mode']} (B={r['batch']})" for r in rows]
    single = [r["x_ray_single"] or 0 for r in rows]
    # batched-like modes (batched, prefetch, write-behind) against its batches
    batched = [0 if r["mode"] == "single" else (r["x_ray_batched"] or 0) for r in rows]
    fig, ax = plt.subplots(figsize=(13, 5.5))
    xs = list(range(len(rows)))
    ax.bar([x - 0.2 for x in xs], single, 0.4, label="× ray.util.queue, single put/get")
    ax.bar([x + 0.2 for x in xs], batched, 0.4,
           label="× ray.util.queue, put_nowait_batch/get_nowait_batch")
    for x, a, b in zip(xs, single, batched):
        for dx, v in ((-0.2, a), (0.2, b)):
            if v:
                ax.text(x + dx, v * 1.1, f"{v:.0f}" if v >= 10 else f"{v:.1f}",
                        ha="center", fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=7, rotation=35, ha="right")
    ax.set_ylabel("SageQueue / ray.util.queue.Queue (medians, log)")
    ax.set_title("SageQueue vs ray.util.queue.Queue between Ray actors "
                 "(same node; across two nodes)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "bench"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every message count (e.g. 0.1 for a smoke run)")
    parser.add_argument("--parts", default="same,cross", help="same, cross or both")
    parser.add_argument("--replot", metavar="JSON",
                        help="only redraw the chart and table from an earlier run's JSON")
    args = parser.parse_args(argv)
    if args.replot:
        with open(args.replot) as f:
            saved = json.load(f)
        chart(saved["results"], os.path.join(args.out, "ray_bench.png"))
        with open(os.path.join(args.out, "ray_bench.md"), "w") as f:
            f.write(markdown(saved["results"], saved["meta"]))
        return 0
    os.makedirs(args.out, exist_ok=True)
    pybench = _python_bench()

    probe_before = pybench.pingpong_probe()  # before Ray starts threads (it forks)
    print(f"ping-pong probe: {probe_before}", flush=True)
    raw: Dict[str, List[float]] = {}
    points: Dict[tuple, tuple] = {}
    if "same" in args.parts:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 << 20,
                 logging_level="ERROR")
        try:
            producer, consumer = Endpoint.remote(), Endpoint.remote()
            ray.get([producer.pin.remote(0), consumer.pin.remote(1)])
            raw.update(measure(SAME_NODE, producer, consumer, args.reps, args.scale, None))
            points.update(SAME_NODE)
        finally:
            ray.shutdown()
    if "cross" in args.parts:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True,
                          head_node_args=dict(num_cpus=1, include_dashboard=False,
                                              object_store_memory=200 << 20))
        node2 = cluster.add_node(num_cpus=1, object_store_memory=200 << 20)
        try:
            ray.init(address=cluster.address, logging_level="ERROR")
            cluster.wait_for_nodes()
            node1 = ray.get_runtime_context().get_node_id()
            on1 = Endpoint.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                node1, soft=False)).remote()
            on2 = Endpoint.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                node2.node_id, soft=False)).remote()
            ray.get([on1.pin.remote(0), on2.pin.remote(1)])
            consumer_points = {k: v for k, v in CROSS_NODE.items() if k[0] == "remote consumer"}
            producer_points = {k: v for k, v in CROSS_NODE.items() if k[0] == "remote producer"}
            # remote consumer: producer on node 1, consumer on node 2; then the reverse
            raw.update(measure(consumer_points, on1, on2, args.reps, args.scale, node1))
            raw.update(measure(producer_points, on2, on1, args.reps, args.scale, node1))
            points.update(CROSS_NODE)
        finally:
            ray.shutdown()
            cluster.shutdown()
    probe_after = pybench.pingpong_probe()
    print(f"ping-pong probe: {probe_after}", flush=True)

    results = summarise(raw, points)
    mach = pybench.machine()
    mach["versions"]["ray"] = ray.__version__
    mach["versions"].pop("faster-fifo", None)
    mach["versions"].pop("pyzmq", None)
    mach["versions"].pop("libzmq", None)
    mach["pinning"] = ("producer actor core 0, consumer actor core 1; "
                       "ray.util.queue's actor and the proxy actor unpinned")
    meta = {"reps": args.reps, "machine": mach, "libsagequeue": sage_queue.version(),
            "probe": {"before": probe_before, "after": probe_after},
            "command": "bench/ray/bench_ray.py " + " ".join(argv or sys.argv[1:])}
    with open(os.path.join(args.out, "ray_bench.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    text = markdown(results, meta)
    with open(os.path.join(args.out, "ray_bench.md"), "w") as f:
        f.write(text)
    try:
        chart(results, os.path.join(args.out, "ray_bench.png"))
    except ImportError:
        print("matplotlib missing: no chart", flush=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
