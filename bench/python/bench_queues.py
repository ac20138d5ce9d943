#!/usr/bin/env python3
"""SageQueue against its Python peers, side by side in one run.

    .venv/bin/python bench/python/bench_queues.py --out docs/bench

Peers: SageQueue (pickled objects, and the raw put_bytes/get_bytes path for
bytes), multiprocessing.Queue, faster-fifo, pyzmq PUSH/PULL over ipc://, and
iceoryx2 publish-subscribe (bytes shapes only).
Shapes: 64 B bytes, a small dict, 64 KiB bytes, a 1 MiB NumPy array; single
put/get and batched. One producer process pinned to core 0, one consumer
pinned to core 1 (fork start method). Every point is repeated (default 5)
with the peers interleaved inside each repetition, after a warm-up round;
we report min / median / max messages per second and the ratio of medians
against multiprocessing.Queue. A Python-level shared-memory ping-pong probe
runs before and after, to show where the two vCPUs sat (see
docs/DESIGN.md, "Performance"): compare only runs with similar probes.

Request/response rows (64 B bytes, one request in flight, blocking get on
both sides): SageQueue, its raw path, the raw path with spin_max_ns=0 (the
spin before sleeping fixed, as before it adapted), mp.Queue, faster-fifo and
pyzmq; the round trip's mean, p50 and p99.

Writes <out>/python_bench.md (tables), .json (raw figures and machine
description) and .png (throughput ratio chart).

How each peer batches: SageQueue uses put_many/get_many (every item its
own message, so different consumers can take different items);
faster-fifo its put_many/get_many (the same); multiprocessing.Queue has no
batch call, so a batch is one put of a list (one message); pyzmq sends a
batch of bytes as one multipart message and anything else as one pickled
list. "SageQueue list" batches that way too (one put of a list), for the
like-for-like comparison with those two. NumPy arrays travel through pyzmq as
pickle-5 out-of-band frames with copy=False (its fastest idiom). iceoryx2 has
no batch call: its batched rows send every item as its own sample.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import multiprocessing as mp
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
from functools import partial
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))


# build/'s environment (tools/sage_env.py reads the sage-env.sh configure
# wrote there).
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sage_env  # noqa: E402

sage_env.use()

import numpy as np  # noqa: E402

import sage_queue  # noqa: E402
from sage_queue import LingeringProducer, SageQueue  # noqa: E402

try:
    import faster_fifo
except ImportError:  # pragma: no cover - reported in the output
    faster_fifo = None
try:
    import zmq
except ImportError:  # pragma: no cover
    zmq = None
try:
    import iceoryx2 as iox2
except ImportError:  # pragma: no cover
    iox2 = None

MiB = 1 << 20
RING = 64 * MiB  # byte-bounded queues (SageQueue, faster-fifo)
CTX = mp.get_context("fork")
TIMEOUT = float(os.environ.get("SQ_BENCH_TIMEOUT", "300"))


# ----------------------------------------------------------------- payloads

def make_payload(case: str) -> Any:
    if case == "64B bytes":
        return b"x" * 64
    if case == "small dict":
        return {"id": 12345, "name": "sensor-7", "value": 3.14159, "ok": True,
                "tags": ["a", "b"]}
    if case == "64KiB bytes":
        return os.urandom(64 * 1024)
    if case == "1MiB numpy":
        return np.random.default_rng(0).random(MiB // 8)
    raise ValueError(case)


def distinct(item: Any, count: int) -> List[Any]:
    """count equal but distinct objects: a batch of one object repeated
    would let pickle's memo send it once (flattering list-pickling peers)."""
    return [pickle.loads(pickle.dumps(item, 5)) for _ in range(count)]


# (case, mode) -> (messages per run, batch size)
SHAPES = {
    ("64B bytes", "single"): (100_000, 1),
    ("64B bytes", "batched"): (400_000, 256),
    ("small dict", "single"): (100_000, 1),
    ("small dict", "batched"): (300_000, 256),
    ("64KiB bytes", "single"): (6_000, 1),
    ("64KiB bytes", "batched"): (6_000, 16),
    ("1MiB numpy", "single"): (600, 1),
    ("1MiB numpy", "batched"): (600, 8),
}
# multiprocessing.Queue is slow: fewer messages keep runs short (the rate
# is what is compared).
SCALE = {"mp.Queue": 0.25}


# -------------------------------------------------------------------- peers

class Peer:
    """One queue implementation. setup() runs in the parent; the *_open
    calls run in the child before the clock starts."""

    name = "?"

    def applies(self, case: str, mode: str) -> bool:
        return True

    def setup(self) -> Any:
        return None

    def teardown(self, chan: Any) -> None:
        pass

    def producer_open(self, chan: Any) -> Any:
        return chan

    def consumer_open(self, chan: Any) -> Any:
        return chan

    def close(self, end: Any) -> None:
        pass

    # The calls the loops below time, bound before the clock starts. The
    # defaults fit a queue with put/get and put_many/get_many.
    def put_one(self, q: Any) -> Callable[[Any], Any]:
        return q.put

    def put_batch(self, q: Any) -> Callable[[List[Any]], Any]:
        return q.put_many

    def get_one(self, q: Any) -> Callable[[], Any]:
        return q.get

    def get_batch(self, q: Any, batch: int) -> Callable[[], List[Any]]:
        return partial(q.get_many, batch)

    # One side of a request/response pair: the put and the blocking get of
    # bytes (the pickled peers pickle them).
    def rtt_put(self, end: Any) -> Callable[[Any], Any]:
        return self.put_one(end)

    def rtt_get(self, end: Any) -> Callable[[], Any]:
        return self.get_one(end)

    def producer(self, end: Any, item: Any, n: int, batch: int) -> None:
        if batch == 1:
            put = self.put_one(end)
            for _ in range(n):
                put(item)
        else:
            put, items = self.put_batch(end), distinct(item, batch)
            for _ in range(n // batch):
                put(items)

    def consumer(self, end: Any, n: int, batch: int) -> int:
        if batch == 1:
            get = self.get_one(end)
            for _ in range(n):
                get()
            return n
        get, got = self.get_batch(end, batch), 0
        while got < n:
            got += len(get())
        return got


class Sage(Peer):
    name = "SageQueue"

    def setup(self):
        q = SageQueue(maxsize=RING, auto_cleanup=False)  # teardown destroys it
        ref = q.get_reference()
        q.close()
        return ref

    def teardown(self, ref):
        ref.get_queue().destroy()

    def producer_open(self, ref):
        return ref.get_queue()

    consumer_open = producer_open

    def close(self, q):
        q.close()


class SageRaw(Sage):
    name = "SageQueue raw"

    def applies(self, case, mode):
        return "bytes" in case

    def put_one(self, q):
        return q.put_bytes

    def put_batch(self, q):
        return partial(q.put_many, raw=True)

    def get_one(self, q):
        return q.get_bytes

    def get_batch(self, q, batch):
        return partial(q.get_many, batch, raw=True)


class SageRawFixedSpin(SageRaw):
    """The raw path with the spin before sleeping fixed at spin_ns (5 us),
    as before the adaptive spin: for the request/response rows only."""

    name = "SageQueue raw, spin_max_ns=0"

    def setup(self):
        q = SageQueue(maxsize=RING, auto_cleanup=False, spin_max_ns=0)
        ref = q.get_reference()
        q.close()
        return ref


class Buffered:
    """Opt-in producer linger (64 messages or 1 ms) and consumer prefetch
    (64): single put()/get() calls, batched underneath. Own rows, never the
    per-message figure (docs/PYTHON.md says what each changes)."""

    LINGER, DELAY, PREFETCH = 64, 0.001, 64

    def applies(self, case, mode):
        return mode == "single" and super().applies(case, mode)

    def producer_open(self, ref):
        return ref.get_queue().lingering(self.LINGER, self.DELAY)

    def consumer_open(self, ref):
        q = ref.get_queue()
        q.prefetch = self.PREFETCH
        return q

    def close(self, end):
        if isinstance(end, LingeringProducer):
            end.close()
            end = end.queue
        end.close()


class SageBuffered(Buffered, Sage):
    name = "SageQueue linger+prefetch"


class SageRawBuffered(Buffered, SageRaw):
    name = "SageQueue raw linger+prefetch"


class ListBatches:
    """A batch travels as one message: put() of the list, get() of it."""

    def put_batch(self, q):
        return q.put

    def get_batch(self, q, batch):
        return q.get


class SageList(ListBatches, Sage):
    """Batches the way mp.Queue and pyzmq do here: one message per batch
    (a pickled list), for an apples-to-apples comparison with them."""

    name = "SageQueue list"

    def applies(self, case, mode):
        return mode == "batched"


class MPQueue(ListBatches, Peer):
    name = "mp.Queue"

    def setup(self):
        return CTX.Queue()

    def teardown(self, q):
        q.close()
        q.join_thread()


class FasterFifo(Peer):
    name = "faster-fifo"

    def setup(self):
        return faster_fifo.Queue(max_size_bytes=RING)

    def teardown(self, q):
        q.close()

    def put_one(self, q):
        return partial(q.put, timeout=60)

    def put_batch(self, q):
        return partial(q.put_many, timeout=60)

    def get_one(self, q):
        return partial(q.get, timeout=60)

    def get_batch(self, q, batch):
        return partial(q.get_many, timeout=60, max_messages_to_get=batch)


class Zmq(Peer):
    name = "pyzmq PUSH/PULL"

    def setup(self):
        fd, path = tempfile.mkstemp(prefix="sq-bench-", suffix=".ipc")
        os.close(fd)
        os.unlink(path)
        return f"ipc://{path}"

    def teardown(self, address):
        try:
            os.unlink(address[len("ipc://"):])
        except FileNotFoundError:
            pass

    def producer_open(self, address):
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, -1)
        sock.connect(address)
        return ctx, sock

    def consumer_open(self, address):
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PULL)
        sock.bind(address)
        return ctx, sock

    def close(self, end):
        ctx, sock = end
        sock.close()
        ctx.term()

    def rtt_put(self, end):
        return end[1].send

    def rtt_get(self, end):
        return end[1].recv

    @staticmethod
    def _send_obj(sock, obj):
        buffers: List[Any] = []
        head = pickle.dumps(obj, 5, buffer_callback=buffers.append)
        if buffers:
            sock.send_multipart([head] + [b.raw() for b in buffers], copy=False)
        else:
            sock.send(head)

    @staticmethod
    def _recv_obj(sock):
        frames = sock.recv_multipart(copy=False)
        return pickle.loads(frames[0].buffer, buffers=[f.buffer for f in frames[1:]])

    def producer(self, end, item, n, batch):
        sock = end[1]
        raw = isinstance(item, bytes)
        if batch == 1:
            if raw:
                send = sock.send
                for _ in range(n):
                    send(item)
            else:
                for _ in range(n):
                    self._send_obj(sock, item)
            return
        items = distinct(item, batch)
        for _ in range(n // batch):
            if raw:
                sock.send_multipart(items)
            else:
                self._send_obj(sock, items)

    def consumer(self, end, n, batch):
        sock = end[1]
        if batch == 1:
            if self.raw:
                recv = sock.recv
                for _ in range(n):
                    recv()
            else:
                for _ in range(n):
                    self._recv_obj(sock)
            return n
        got = 0
        while got < n:
            got += len(sock.recv_multipart() if self.raw else self._recv_obj(sock))
        return got


class Iceoryx2(Peer):
    """iceoryx2 publish-subscribe over shared memory (ServiceType.Ipc), payload
    a dynamic slice of u8, bytes shapes only (a pickled object would only add
    the same pickle cost every other peer pays).

    Lossless settings: the service does not overflow (enable_safe_overflow
    False), so a full subscriber buffer makes the publisher apply its
    backpressure strategy, RetryUntilDelivered (0.10's name for "block"):
    send() retries until the sample is in the subscriber's buffer. The
    consumer counts exactly n samples. Exactly one publisher and one
    subscriber, so the data segment holds buffer + loans samples (not
    max_subscribers' default of 8 buffers).

    Batched mode: iceoryx2 has no batch send or receive, so a batch is a
    loop of single samples (every item its own message, like SageQueue's
    put_many); the batched rows measure the same per-sample path as the
    single rows. Packing a batch into one sample would need our own framing
    and is not done.

    The parent creates the service (setup) and owns it until teardown, as
    SageQueue's peer does with its queue; the children open it with the
    same settings before the clock starts."""

    name = "iceoryx2 pub/sub"
    # Subscriber buffer, in samples: 1024 x 64 KiB = 64 MiB, the byte-bounded
    # peers' ring; at least a 256-item batch for the 64 B rows.
    BUFFER = 1024
    # The consumer gives up after this long without a sample (producer dead).
    STALL = 60.0
    _owned: Dict[str, Any] = {}
    _runs = 0

    def applies(self, case, mode):
        return "bytes" in case

    def _service(self, node, name):
        return (node.service_builder(iox2.ServiceName.new(name))
                .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                .enable_safe_overflow(False)
                .subscriber_max_buffer_size(self.BUFFER)
                .max_publishers(1)
                .max_subscribers(1)
                .max_nodes(3))

    def setup(self):
        Iceoryx2._runs += 1
        name = f"sq-bench/{os.getpid()}/{Iceoryx2._runs}"
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        self._owned[name] = (node, self._service(node, name).create())
        return name

    def teardown(self, name):
        self._owned.pop(name, None)  # dropping service and node removes it

    def producer_open(self, name):
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        service = self._service(node, name).open()
        pub = (service.publisher_builder()
               .initial_max_slice_len(self.size)
               .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
               .create())
        return node, service, pub

    def consumer_open(self, name):
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        service = self._service(node, name).open()
        sub = service.subscriber_builder().buffer_size(self.BUFFER).create()
        return node, service, sub

    def close(self, end):
        end[2].delete()  # the port first; node and service drop with end

    def producer(self, end, item, n, batch):
        # Per sample: loan from the publisher's shared-memory segment, copy
        # the bytes in, mark it initialised, send (retrying while the
        # subscriber's buffer is full). send() returns how many subscribers
        # got it: 1, or the run is wrong.
        pub, size, memmove = end[2], len(item), ctypes.memmove
        # Both ends were open before the start barrier, but a publisher
        # sees a new subscriber only once it updates its connections
        # (under load the first send could otherwise reach nobody).
        deadline = time.monotonic() + self.STALL
        while end[1].dynamic_config.number_of_subscribers < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("iceoryx2: no subscriber")
            time.sleep(0.001)
        pub.update_connections()
        loan = pub.loan_slice_uninit
        items = [item] if batch == 1 else distinct(item, batch)
        for _ in range(n // len(items)):
            for it in items:
                sample = loan(size)
                memmove(sample.payload_ptr, it, size)
                if sample.assume_init().send() != 1:
                    raise RuntimeError("iceoryx2: sample not delivered")

    def consumer(self, end, n, batch):
        # iceoryx2's receive() never blocks, so this is a busy-poll loop: it
        # burns its core while the buffer is empty (the pinned consumer owns
        # core 1 anyway). The blocking alternative, an event service the
        # producer notifies after each send and a WaitSet here, would add a
        # syscall per message, which is not what a throughput run of iceoryx2
        # should measure. A dead producer cannot keep it spinning: it gives
        # up after STALL seconds without a sample (and the run then fails).
        # Each sample becomes a bytes object (as get_bytes / recv return) and
        # is released at once.
        receive, string_at, clock = end[2].receive, ctypes.string_at, time.monotonic
        got, misses, stalled = 0, 0, 0.0
        while got < n:
            sample = receive()
            if sample is None:
                misses += 1
                if misses >= 1 << 16:  # some ms of empty polls: read the clock
                    misses, now = 0, clock()
                    if not stalled:
                        stalled = now
                    elif now - stalled > self.STALL:
                        break
                continue
            string_at(sample.payload_ptr, sample.header.number_of_elements)
            sample.delete()
            got += 1
            misses = stalled = 0
        return got


PEERS: List[Peer] = [Sage(), SageRaw(), SageBuffered(), SageRawBuffered(), SageList(), MPQueue()]
# Request/response: blocking get on both sides (iceoryx2's receive never
# blocks, so it has no row here).
RTT_PEERS: List[Peer] = [Sage(), SageRaw(), SageRawFixedSpin(), MPQueue()]
if faster_fifo is not None:
    PEERS.append(FasterFifo())
if zmq is not None:
    PEERS.append(Zmq())
for peer in PEERS:
    if isinstance(peer, (FasterFifo, Zmq)):
        RTT_PEERS.append(peer)
if iox2 is not None:
    iox2.set_log_level(iox2.LogLevel.Error)  # not "no config file, defaults"
    PEERS.append(Iceoryx2())


# ------------------------------------------------------------------ running

def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core % os.cpu_count()})
    except (AttributeError, OSError):
        pass


def _producer_main(peer, chan, item, n, batch, go, done):
    _pin(0)
    end = peer.producer_open(chan)
    go.wait()
    peer.producer(end, item, n, batch)
    # Close only after the consumer has everything: pyzmq drops messages
    # still queued at close under backlog here, even with LINGER -1.
    done.wait()
    peer.close(end)


def _consumer_main(peer, chan, n, batch, go, done, result):
    _pin(1)
    end = peer.consumer_open(chan)
    go.wait()
    start = time.perf_counter()
    got = peer.consumer(end, n, batch)
    elapsed = time.perf_counter() - start
    done.wait()
    peer.close(end)
    result.value = elapsed if got >= n else -1.0


def run_once(peer: Peer, case: str, item: Any, n: int, batch: int) -> float:
    """Messages per second for one producer/consumer run (timed by the
    consumer, from the common start to its last message)."""
    chan = peer.setup()
    peer.raw = isinstance(item, bytes)
    peer.size = len(item) if peer.raw else 0
    go, done = CTX.Barrier(3), CTX.Barrier(2)
    result = CTX.Value("d", 0.0)
    consumer = CTX.Process(target=_consumer_main,
                           args=(peer, chan, n, batch, go, done, result))
    producer = CTX.Process(target=_producer_main, args=(peer, chan, item, n, batch, go, done))
    consumer.start()
    producer.start()
    go.wait(timeout=120)
    consumer.join(TIMEOUT)
    producer.join(60)
    for p in (consumer, producer):
        if p.is_alive():
            p.kill()
            p.join()
    peer.teardown(chan)
    if consumer.exitcode != 0 or producer.exitcode != 0 or result.value <= 0:
        raise RuntimeError(f"{peer.name} {case}: run failed "
                           f"(exit {producer.exitcode}/{consumer.exitcode})")
    return n / result.value


# --------------------------------------------------------- request/response

# One request in flight: the client on core 0 puts 64 B and blocks in get
# for the reply; the echo process on core 1 blocks in get and puts each
# request back. What a caller of a remote service over the queue waits.
RTT_WARM = 200


def _echo_main(peer, chans, n, go):
    _pin(1)
    req, rsp = peer.consumer_open(chans[0]), peer.producer_open(chans[1])
    get, put = peer.rtt_get(req), peer.rtt_put(rsp)
    go.wait()
    for _ in range(n):
        put(get())
    go.wait()  # the client has every reply: closing cannot drop one
    peer.close(req)
    peer.close(rsp)


def _client_main(peer, chans, item, n, go, result):
    _pin(0)
    req, rsp = peer.producer_open(chans[0]), peer.consumer_open(chans[1])
    put, get = peer.rtt_put(req), peer.rtt_get(rsp)
    go.wait()
    for _ in range(RTT_WARM):
        put(item)
        get()
    perf, samples = time.perf_counter_ns, []
    for _ in range(n - RTT_WARM):
        t = perf()
        put(item)
        if get() != item:
            raise RuntimeError(f"{peer.name}: wrong reply")
        samples.append(perf() - t)
    go.wait()
    peer.close(req)
    peer.close(rsp)
    samples.sort()
    result[0] = statistics.fmean(samples)
    result[1] = samples[len(samples) // 2]
    result[2] = samples[int(len(samples) * 0.99)]


def run_rtt(peer: Peer, item: bytes, n: int) -> List[float]:
    """Round trip ns of one run: [mean, median, p99]."""
    chans = (peer.setup(), peer.setup())
    peer.raw, peer.size = True, len(item)
    go = CTX.Barrier(2)
    result = CTX.Array("d", 3)
    echo = CTX.Process(target=_echo_main, args=(peer, chans, n, go))
    client = CTX.Process(target=_client_main, args=(peer, chans, item, n, go, result))
    echo.start()
    client.start()
    client.join(TIMEOUT)
    echo.join(60)
    for p in (client, echo):
        if p.is_alive():
            p.kill()
            p.join()
    for chan in chans:
        peer.teardown(chan)
    if client.exitcode != 0 or echo.exitcode != 0 or result[0] <= 0:
        raise RuntimeError(f"{peer.name} request/response: run failed "
                           f"(exit {client.exitcode}/{echo.exitcode})")
    return list(result)


# ----------------------------------------------------------- ping-pong probe

def _pong(buf, rounds):
    _pin(1)
    flag = ctypes.c_uint32.from_buffer(buf)
    for i in range(rounds):
        while flag.value != 2 * i + 1:
            pass
        flag.value = 2 * i + 2
    del flag


def pingpong_probe(rounds: int = 20000) -> Dict[str, float]:
    """One-way latency of a cache line bounced between cores 0 and 1 by two
    Python processes spinning on a shared word (interpreter-bound: tracks
    vCPU placement, not the raw hardware figure)."""
    buf = mmap.mmap(-1, 4096)
    flag = ctypes.c_uint32.from_buffer(buf)
    p = CTX.Process(target=_pong, args=(buf, rounds))
    p.start()
    _pin(0)
    samples = []
    perf = time.perf_counter_ns
    for i in range(rounds):
        t = perf()
        flag.value = 2 * i + 1
        while flag.value != 2 * i + 2:
            pass
        samples.append((perf() - t) / 2)
    p.join()
    del flag
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    samples.sort()
    return {"median_ns": samples[len(samples) // 2],
            "p99_ns": samples[int(len(samples) * 0.99)]}


# ------------------------------------------------------------------- output

def machine() -> Dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "libsagequeue": sage_queue.version()}
    if faster_fifo is not None:
        from importlib.metadata import version
        versions["faster-fifo"] = version("faster-fifo")
    if zmq is not None:
        versions["pyzmq"] = zmq.__version__
        versions["libzmq"] = zmq.zmq_version()
    if iox2 is not None:
        from importlib.metadata import version
        versions["iceoryx2"] = version("iceoryx2")
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "machine": platform.machine(), "versions": versions,
            "pinning": "producer core 0, consumer core 1", "start_method": "fork"}


def human(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f} k"
    return f"{rate:.0f}"


def markdown(results: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    lines = [
        f"Messages per second (min / **median** / max of {meta['reps']} runs), 1 producer "
        "process on core 0, 1 consumer process on core 1; ratio = median / "
        "multiprocessing.Queue's median in the same run.",
        "",
        "| shape | mode | peer | min | median | max | MB/s (median) | × mp.Queue |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['mode']} | {r['peer']} | {human(r['min'])} | "
            f"**{human(r['median'])}** | {human(r['max'])} | {r['mbps']:.0f} | "
            f"{r['ratio_mpq']:.2f} |")
    probe = meta["probe"]
    lines += ["", "Ping-pong probe (Python, one way): before "
              f"{probe['before']['median_ns']:.0f} ns median / {probe['before']['p99_ns']:.0f} ns "
              f"p99, after {probe['after']['median_ns']:.0f} / {probe['after']['p99_ns']:.0f} ns.",
              *([""] + [f"Retried once after a failed run: {r}." for r in meta["retries"]]
                if meta["retries"] else []),
              "", "Machine: " + f"{meta['machine']['cpu']}, {meta['machine']['cpus']} CPUs, "
              f"Linux {meta['machine']['kernel']}; " +
              ", ".join(f"{k} {v}" for k, v in meta['machine']['versions'].items()) + "."]
    return "\n".join(lines) + "\n"


def rtt_markdown(rows: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    if not rows:
        return ""
    lines = [
        "", "Request/response, 64 B bytes, one request in flight, blocking get "
        "on both sides (client on core 0, echo process on core 1): round trip "
        f"in µs, each run's mean (min / **median** / max of {meta['reps']} runs), "
        "and the medians of the runs' p50 and p99; speed-up = mp.Queue's median "
        "mean / the peer's.", "",
        "| peer | min | mean | max | p50 | p99 | speed-up × mp.Queue |",
        "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['peer']} | {r['mean_min'] / 1e3:.1f} | **{r['mean_median'] / 1e3:.1f}** | "
            f"{r['mean_max'] / 1e3:.1f} | {r['p50_median'] / 1e3:.1f} | "
            f"{r['p99_median'] / 1e3:.1f} | {r['speedup_mpq']:.2f} |")
    return "\n".join(lines) + "\n"


def chart(results: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = []
    for r in results:
        key = f"{r['case']}\n{r['mode']}"
        if key not in groups:
            groups.append(key)
    peers = [p.name for p in PEERS]
    width = 0.8 / len(peers)
    fig, ax = plt.subplots(figsize=(12, 5))
    for j, peer in enumerate(peers):
        xs, ys, lo, hi = [], [], [], []
        for i, key in enumerate(groups):
            for r in results:
                if r["peer"] == peer and f"{r['case']}\n{r['mode']}" == key:
                    base = r["median"] / r["ratio_mpq"]
                    xs.append(i + j * width - 0.4 + width / 2)
                    ys.append(r["ratio_mpq"])
                    lo.append(r["ratio_mpq"] - r["min"] / base)
                    hi.append(r["max"] / base - r["ratio_mpq"])
        ax.bar(xs, ys, width, yerr=[lo, hi], label=peer, capsize=2)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel("throughput / multiprocessing.Queue (median, log)")
    ax.set_title("Python queues, 1 producer + 1 consumer process (pinned)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------- main

def retried(retries: List[str], what: str, run: Callable[[], Any]) -> Any:
    """run(), once more if it fails (a peer's run can fail for reasons of
    its own, e.g. iceoryx2 reporting a sample delivered to no subscriber);
    every retry is listed in the report. A second failure ends the run."""
    try:
        return run()
    except RuntimeError as e:
        retries.append(f"{what}: {e}")
        print(f"retrying {what} after: {e}", flush=True)
        return run()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "bench"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every message count (e.g. 0.1 for a smoke run)")
    parser.add_argument("--cases", default="",
                        help="comma-separated subset of shapes, e.g. '64B bytes,small dict'"
                             "; 'rtt' for the request/response rows")
    parser.add_argument("--rtt-rounds", type=int, default=4000,
                        help="round trips per request/response run")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    shapes = [s for s in SHAPES if not args.cases or s[0] in args.cases.split(",")]
    probe_before = pingpong_probe()
    print(f"ping-pong probe: {probe_before}", flush=True)
    raw: Dict[str, List[float]] = {}
    retries: List[str] = []
    for rep in range(args.reps + 1):  # rep 0 is the warm-up
        for case, mode in shapes:
            count, batch = SHAPES[(case, mode)]
            item = make_payload(case)
            for peer in PEERS:
                if not peer.applies(case, mode):
                    continue
                n = max(batch, int(count * args.scale * SCALE.get(peer.name, 1.0)))
                n -= n % batch
                if rep == 0:
                    n = max(batch, n // 10 - (n // 10) % batch)
                print(f"  {case} {mode} {peer.name} n={n}", flush=True)
                rate = retried(retries, f"{case} {mode} {peer.name} rep {rep}",
                               partial(run_once, peer, case, item, n, batch))
                if rep > 0:
                    raw.setdefault(f"{case}|{mode}|{peer.name}", []).append(rate)
                    print(f"rep {rep} {case:12s} {mode:8s} {peer.name:16s} {human(rate)}/s",
                          flush=True)
    rtt: Dict[str, List[List[float]]] = {}
    if not args.cases or "rtt" in args.cases.split(","):
        item = make_payload("64B bytes")
        rounds = max(RTT_WARM + 100, int(args.rtt_rounds * args.scale))
        for rep in range(args.reps + 1):  # rep 0 is the warm-up
            for peer in RTT_PEERS:
                figures = retried(retries, f"request/response {peer.name} rep {rep}",
                                  partial(run_rtt, peer, item, rounds))
                if rep > 0:
                    rtt.setdefault(peer.name, []).append(figures)
                    print(f"rep {rep} request/response {peer.name:28s} mean "
                          f"{figures[0] / 1e3:.1f} us", flush=True)
    probe_after = pingpong_probe()
    print(f"ping-pong probe: {probe_after}", flush=True)

    rtt_results = []
    if rtt:
        base = statistics.median(r[0] for r in rtt["mp.Queue"])
        for name, runs in rtt.items():
            means = [r[0] for r in runs]
            rtt_results.append({
                "peer": name, "runs": runs, "mean_min": min(means),
                "mean_median": statistics.median(means), "mean_max": max(means),
                "p50_median": statistics.median(r[1] for r in runs),
                "p99_median": statistics.median(r[2] for r in runs),
                "speedup_mpq": base / statistics.median(means)})
    results = []
    for case, mode in shapes:
        size = len(pickle.dumps(make_payload(case), 5))
        base = statistics.median(raw[f"{case}|{mode}|mp.Queue"])
        for peer in PEERS:
            rates = raw.get(f"{case}|{mode}|{peer.name}")
            if not rates:
                continue
            med = statistics.median(rates)
            results.append({"case": case, "mode": mode, "peer": peer.name,
                            "batch": SHAPES[(case, mode)][1], "runs": rates,
                            "min": min(rates), "median": med, "max": max(rates),
                            "mbps": med * size / 1e6, "ratio_mpq": med / base})
    meta = {"reps": args.reps, "machine": machine(), "retries": retries,
            "probe": {"before": probe_before, "after": probe_after},
            "command": "bench/python/bench_queues.py " + " ".join(argv or sys.argv[1:])}
    with open(os.path.join(args.out, "python_bench.json"), "w") as f:
        json.dump({"meta": meta, "results": results,
                   "request_response": rtt_results}, f, indent=1)
    text = markdown(results, meta) + rtt_markdown(rtt_results, meta)
    with open(os.path.join(args.out, "python_bench.md"), "w") as f:
        f.write(text)
    chart(results, os.path.join(args.out, "python_bench.png"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
