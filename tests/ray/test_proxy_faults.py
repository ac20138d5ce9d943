"""The proxy path under faults (issue 18, items 11-15 and 17): a proxy killed
with ray.kill at a chosen point, a producer that exits or dies, a transient
error on a live proxy; and a proxy-kill storm with exact accounting.

The loss rules these tests check are docs/RAY.md, "What a failure may
lose": a live process never loses a message because its proxy died; a dead
proxy loses only what it held (puts in flight are reported in doubt, gets
in flight are bounded by ``read_loss_bound``); a process that dies loses
its own buffers; a normal exit (or garbage collection) flushes them.

Every scenario runs on a two-node Cluster: the queue lives on node 1 (the
driver's), its users run on node 2 and reach it through the proxy."""

import time
from collections import Counter

import pytest
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import ray_helpers as h
from sage_queue import Empty, SageQueue
from sage_queue import ray as sq_ray


def on(node_id):
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def drain(q, quiet=1.0):
    """Everything q holds now (and until it stays empty ``quiet`` seconds)."""
    got = []
    while True:
        try:
            got.extend(q.get_many(4096, timeout=quiet))
        except Empty:
            return got


def wait_for(predicate, timeout=30.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def ahead_refs(q):
    """The read-ahead calls in flight of a RemoteSageQueue."""
    return [x[0] if isinstance(x, tuple) else x for x in q._ahead]


def kill_proxy(q):
    """Kills q's proxy (q: a RemoteSageQueue) and waits until it is dead."""
    proxy = q.proxy
    ray.kill(proxy, no_restart=True)
    try:
        ray.get(proxy.counters.remote(), timeout=30)
    except ray.exceptions.RayActorError:
        pass


@ray.remote(num_cpus=0)
def prefetch_then_kill(ref, then, expect):
    """Takes one message with prefetch=50 (so 50 arrive, and two read-ahead
    calls of 50 come back), kills the proxy, then calls ``then`` ("full" or
    "close") and reads what is left (``expect`` in all). Returns what it
    got and what ``then`` did."""
    q = ref.get_queue(prefetch=50)
    got = [q.get(timeout=30)]
    refs = ahead_refs(q)
    ray.wait(refs, num_returns=len(refs), timeout=30)  # the read-ahead came back
    kill_proxy(q)
    out = {}
    try:
        if then == "full":
            out["result"] = q.full()
        elif then == "close":
            q.close()
            out["result"] = "closed"
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    if then != "close":
        while len(got) < expect:
            try:
                got.extend(q.get_many(1000, timeout=10))
            except Empty:
                break
        out["stats"] = {k: v for k, v in q.get_stats().items()
                        if k in ("proxy_restarts", "read_loss_bound")}
        q.close()
    out["got"] = got
    return out


def test_11_dead_proxy_keeps_finished_read_ahead(cluster, make_queue):
    """Read-ahead that came back before the proxy died is delivered; the
    call that met the dead proxy (full()) goes on through a new proxy."""
    node1, node2 = cluster
    q = make_queue()
    q.put_many(list(range(200)))
    out = ray.get(prefetch_then_kill.options(**on(node2)).remote(q.get_reference(), "full", 200),
                  timeout=120)
    assert "error" not in out, out.get("error")
    assert out["result"] is False
    assert Counter(out["got"]) == Counter(range(200)), \
        f"lost {sorted(set(range(200)) - set(out['got']))[:5]}... ({200 - len(set(out['got']))})"
    assert out["got"] == list(range(200))  # in order, too
    assert out["stats"]["proxy_restarts"] == 1
    assert out["stats"]["read_loss_bound"] == 0  # no call was under way in the dead proxy
    assert q.qsize() == 0


def test_12_close_after_the_proxy_died_puts_everything_back(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue()
    q.put_many(list(range(200)))
    out = ray.get(prefetch_then_kill.options(**on(node2)).remote(q.get_reference(), "close", 1),
                  timeout=120)
    assert "error" not in out, out.get("error")  # nothing in doubt: nothing to report
    assert out["got"] == [0]
    back = drain(q)
    assert sorted(back) == list(range(1, 200)), f"{199 - len(back)} not put back"


def test_15_qsize_and_empty_count_finished_read_ahead(cluster, make_queue):
    node1, node2 = cluster
    q = make_queue()

    @ray.remote(num_cpus=0)
    def look(ref):
        remote = ref.get_queue(prefetch=50)
        first = remote.get_many(50, timeout=30)  # the first call's 50
        refs = ahead_refs(remote)
        ray.wait(refs, num_returns=len(refs), timeout=30)  # the next 50 came back
        size, empty = remote.qsize(), remote.empty()
        prefetched = remote.get_stats()["prefetched"]
        rest = remote.get_many(100, timeout=5)
        remote.close()
        return first, size, empty, prefetched, rest

    q.put_many(list(range(100)))
    first, size, empty, prefetched, rest = ray.get(
        look.options(**on(node2)).remote(q.get_reference()), timeout=60)
    assert first == list(range(50))
    assert (size, empty, prefetched) == (50, False, 50)
    assert rest == list(range(50, 100))


@ray.remote(num_cpus=0)
class ExitingUser:
    """Holds write-behind producers (one opened in its constructor) and a
    prefetching consumer in its state, then ends normally (exit_actor)."""

    def __init__(self, early_ref):
        self.early = early_ref.get_queue(batch=1000, linger=60)  # no linger flush here

    def fill(self, out_ref, in_ref, count):
        self.out = out_ref.get_queue(batch=1000, linger=60)
        for i in range(count):
            self.out.put(("behind", i))
            self.early.put(("early", i))
        self.inq = in_ref.get_queue(prefetch=50)
        first = self.inq.get(timeout=30)
        refs = ahead_refs(self.inq)
        ray.wait(refs, num_returns=len(refs), timeout=30)
        return first

    def exit(self):
        ray.actor.exit_actor()


def test_13_normal_exit_and_collection_flush_write_behind(cluster, make_queue):
    """A write-behind producer that exits normally sends its buffer, and a
    prefetching consumer puts its read-ahead back; so does one that is
    garbage-collected without close()."""
    node1, node2 = cluster
    out, inq, early = make_queue(), make_queue(), make_queue()
    inq.put_many(list(range(200)))
    user = ExitingUser.options(**on(node2)).remote(early.get_reference())
    assert ray.get(user.fill.remote(out.get_reference(), inq.get_reference(), 40),
                   timeout=60) == 0
    assert out.qsize() == 0 and early.qsize() == 0  # still buffered on node 2
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(user.exit.remote(), timeout=60)
    assert out.get_many(100, timeout=20) == [("behind", i) for i in range(40)]
    assert early.get_many(100, timeout=20) == [("early", i) for i in range(40)]
    assert sorted(drain(inq)) == list(range(1, 200))

    @ray.remote(num_cpus=0)
    def forget_it(ref):
        import gc

        remote = ref.get_queue(batch=1000, linger=60)
        for i in range(25):
            remote.put(("collected", i))
        del remote
        gc.collect()
        return True

    assert ray.get(forget_it.options(**on(node2)).remote(out.get_reference()), timeout=60)
    assert out.get_many(100, timeout=20) == [("collected", i) for i in range(25)]


def test_14_put_many_through_a_killed_proxy_reports_its_count(cluster, make_queue):
    """A blocking put_many stalls on a full queue; the proxy is killed: the
    error says how many went in and how many are in doubt, and resuming
    after those duplicates nothing."""
    node1, node2 = cluster
    q = make_queue(max_items=100)
    items = list(range(1000))

    @ray.remote(num_cpus=0)
    def produce(ref, items):
        remote = ref.get_queue()
        try:
            remote.put_many(items)
            return {"error": None}
        except Exception as exc:
            done, doubt = getattr(exc, "done", None), getattr(exc, "in_doubt", None)
            out = {"error": type(exc).__name__, "done": done, "in_doubt": doubt}
            if done is None or doubt is None:
                return out
            remote.put_many(items[done + doubt:])  # the rest, through the new proxy
            out["doubt_items"] = items[done:done + doubt]  # handed back to the caller
            remote.close()
            return out

    running = produce.options(**on(node2)).remote(q.get_reference(), items)
    assert wait_for(lambda: q.qsize() == 100)
    time.sleep(0.3)  # the producer now waits for room
    proxy = sq_ray.find_proxy(q.get_reference())
    ray.kill(proxy, no_restart=True)
    got = []
    while not wait_for(lambda: ray.wait([running], timeout=0)[0], timeout=0.05):
        try:
            got.extend(q.get_many(50, timeout=0.05))
        except Empty:
            pass
    out = ray.get(running, timeout=60)
    got.extend(drain(q, quiet=0.3))
    assert out["error"] == "ProxyDiedError", out
    assert out["done"] == 100 and out["in_doubt"] <= 1, out
    counts = Counter(got)
    assert not [i for i, n in counts.items() if n > 1], "duplicated"
    assert set(items) - set(got) <= set(out["doubt_items"])
    assert [i for i in got if i not in out["doubt_items"]] == \
        [i for i in items if i not in out["doubt_items"]]  # in order


@ray.remote(num_cpus=0)
class StuckProducer:
    def run(self, ref, count):
        ref.get_queue().put_many(list(range(count)))


def test_17_proxy_gives_up_on_a_dead_producer_and_forgets_it(cluster, make_queue):
    """A producer dies while the proxy waits for room on its behalf: the
    proxy stops within a wait slice (nothing of it goes in afterwards) and
    forgets its stream."""
    node1, node2 = cluster
    q = make_queue(max_items=50)
    producer = StuckProducer.options(**on(node2)).remote()
    running = producer.run.remote(q.get_reference(), 5000)
    assert wait_for(lambda: q.qsize() == 50)
    proxy = sq_ray.find_proxy(q.get_reference())
    # the proxy waits for room on the producer's behalf
    assert wait_for(lambda: q.get_stats()["waiting_writers"] >= 1), q.get_stats()
    ray.kill(producer, no_restart=True)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(running, timeout=30)
    time.sleep(sq_ray.WAIT_SLICE + 0.5)  # a wait under way ends within a slice
    assert q.get_stats()["waiting_writers"] == 0, "the proxy still waits for room"
    assert q.get_many(1000, timeout=5) == list(range(50))
    time.sleep(0.5)
    assert q.qsize() == 0, "the proxy kept putting for a dead producer"
    ray.get(proxy.tune.remote(stream_idle=0.5))
    assert wait_for(lambda: not ray.get(proxy.streams.remote()), timeout=10), \
        ray.get(proxy.streams.remote())


def test_17_transient_error_on_a_live_proxy_keeps_order(cluster, make_queue):
    """A call fails with ActorUnavailableError although the proxy lives (and
    did the call): the object goes on with fresh streams, so its next
    pipelined puts cannot overtake each other, and the failed put_many
    reports its count."""
    node1, node2 = cluster
    q = make_queue(max_items=64)

    @ray.remote(num_cpus=0)
    def produce(ref, first, second):
        from sage_queue.ray import _writer as rs  # its calls to the proxy

        remote = ref.get_queue()
        real, calls = rs._call, [0]

        def flaky(obj_ref):
            value = real(obj_ref)
            calls[0] += 1
            if calls[0] == 3:  # the third reply is "lost": the proxy did the call
                raise ray.exceptions.ActorUnavailableError("injected", None)
            return value

        rs._call = flaky
        out = {}
        try:
            remote.put_many(first)
        except Exception as exc:
            done, doubt = getattr(exc, "done", None), getattr(exc, "in_doubt", None)
            out.update(error=type(exc).__name__, done=done, in_doubt=doubt)
            if done is not None and doubt is not None:
                out["doubt_items"] = first[done:done + doubt]
                remote.put_many(first[done + doubt:])
        finally:
            rs._call = real
        remote.put_many(second)
        remote.put(None)
        remote.close()
        return out

    first = [("a", i) for i in range(3000)]
    second = [("b", i) for i in range(6000)]
    running = produce.options(**on(node2)).remote(q.get_reference(), first, second)
    got = []
    while True:
        items = q.get_many(16, timeout=60)
        got.extend(items)
        if None in items:
            break
        time.sleep(0.0005)
    out = ray.get(running, timeout=60)
    assert got[-1] is None
    got = got[:-1]
    assert out.get("error") == "ProxyDiedError", out
    doubt = set(out["doubt_items"])
    counts = Counter(got)
    assert not [i for i, n in counts.items() if n > 1], "duplicated"
    assert set(first) - set(got) <= doubt
    assert [x for x in got if x[0] == "b"] == second, "reordered after the transient error"
    assert [x for x in got if x[0] == "a"] == [x for x in first if x in counts]


@ray.remote(num_cpus=0)
class Opener:
    def open(self, ref):
        self.q = ref.get_queue()
        self.q.put("old")
        return type(self.q).__name__

    def use(self):
        try:
            return self.q.qsize()
        except Exception as exc:
            return type(exc).__name__

    def reopen(self, ref):
        try:
            ref.get_queue()
            return "opened"
        except Exception as exc:
            return type(exc).__name__


def test_a_new_proxy_never_serves_a_queue_recreated_under_the_name(cluster):
    """The queue is destroyed (its proxy ends) and another is created under
    its name: the remote opener's next call, which starts a new proxy, and
    the old reference both refuse the newcomer."""
    node1, node2 = cluster
    name = h.unique_name()
    q = SageQueue(name)
    ref = q.get_reference()
    opener = Opener.options(**on(node2)).remote()
    assert ray.get(opener.open.remote(ref), timeout=60) == "RemoteSageQueue"
    q.destroy()
    q2 = SageQueue(name)
    try:
        assert ray.get(opener.use.remote(), timeout=60) == "QueueNotFoundError"
        assert ray.get(opener.reopen.remote(ref), timeout=60) == "QueueNotFoundError"
        assert q2.qsize() == 0
    finally:
        q2.destroy()


# ----------------------------------------------------------- kill storm

STORM_KILLS = 5
STORM_PUT_MANY = 18_000   # ids [0, 18000): put_many, batches of 500
STORM_BEHIND = 12_000     # ids [18000, 30000): write-behind put() (batch=64)


@ray.remote(num_cpus=0)
def storm_put_many(ref, ids, batch, pause):
    """put_many in batches; on ProxyDiedError, the in-doubt items go back to
    the caller (here: the report) and the rest is put again."""
    from sage_queue.ray import ProxyDiedError

    q = ref.get_queue()
    doubt, errors = [], 0
    for i in range(0, len(ids), batch):
        time.sleep(pause)
        todo = ids[i:i + batch]
        while todo:
            try:
                q.put_many(todo)
                todo = []
            except ProxyDiedError as exc:
                errors += 1
                doubt += todo[exc.done:exc.done + exc.in_doubt]
                todo = todo[exc.done + exc.in_doubt:]
    q.close()
    return doubt, errors


@ray.remote(num_cpus=0)
def storm_behind(ref, ids, pause):
    """Write-behind put(); in-doubt messages come back in
    BufferedInDoubtError (raised by a later call, which did nothing), the
    others were sent again by the object."""
    import pickle

    from sage_queue.ray import ProxyDiedError

    q = ref.get_queue(batch=64, linger=0.005)
    doubt, errors = [], 0

    def note(exc):
        nonlocal errors
        errors += 1
        doubt.extend(pickle.loads(p) for p in exc.payloads)

    for n, i in enumerate(ids):
        if n % 64 == 0:
            time.sleep(pause)
        while True:
            try:
                q.put(i)
                break
            except ProxyDiedError as exc:  # about earlier messages: this put did nothing
                note(exc)
    while True:
        try:
            q.close()
            break
        except ProxyDiedError as exc:
            note(exc)
    return doubt, errors


@ray.remote(num_cpus=0)
def storm_consume(ref):
    """Reads with prefetch until the None marker."""
    q = ref.get_queue(prefetch=64)
    got = []
    while True:
        items = q.get_many(256, timeout=60)
        got.extend(i for i in items if i is not None)
        if None in items:
            break
    stats = q.get_stats()
    q.close()
    return got, {k: stats[k] for k in ("proxy_restarts", "read_loss_bound", "puts_in_doubt")}


def test_proxy_kill_storm_exact_accounting(cluster, make_queue):
    """Two producers (pipelined put_many, write-behind) and a prefetching
    consumer on node 2; the proxy is killed STORM_KILLS times under load.
    Every id is delivered exactly once, or was handed back in doubt to its
    producer (delivered at most once), or is within the consumer's
    read_loss_bound (what dead proxies had taken for its gets)."""
    node1, node2 = cluster
    q = make_queue(maxsize=1 << 18)
    ref = q.get_reference()
    all_ids = list(range(STORM_PUT_MANY + STORM_BEHIND))
    started = time.monotonic()
    consumer = storm_consume.options(**on(node2)).remote(ref)
    producers = [
        storm_put_many.options(**on(node2)).remote(ref, all_ids[:STORM_PUT_MANY], 500, 0.0),
        storm_behind.options(**on(node2)).remote(ref, all_ids[STORM_PUT_MANY:], 0.0)]
    assert wait_for(lambda: sq_ray.find_proxy(ref) is not None, timeout=60)
    kills, killed = 0, set()

    def busy_live_proxy():
        """The proxy now serving, once it has served some calls (a proxy
        just killed may still hold the name)."""
        proxy = sq_ray.find_proxy(ref)
        if proxy is None or proxy._actor_id in killed:
            return None
        try:
            calls = ray.get(proxy.counters.remote(), timeout=10)["calls"]
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return None
        return proxy if calls >= 30 else None

    while kills < STORM_KILLS and ray.wait(producers, num_returns=2, timeout=0.05)[1]:
        proxy = busy_live_proxy()
        if proxy is None:
            continue
        ray.kill(proxy, no_restart=True)
        killed.add(proxy._actor_id)
        kills += 1
    reports = ray.get(producers, timeout=180)
    q.put(None)  # after everything the producers sent (FIFO): the consumer's end
    got, stats = ray.get(consumer, timeout=180)
    left = drain(q, quiet=0.5)
    elapsed = time.monotonic() - started
    delivered = got + left
    doubt = [i for d, _ in reports for i in d]
    counts = Counter(delivered)
    dupes = [i for i, n in counts.items() if n > 1]
    missing = set(all_ids) - set(counts)
    unexplained = missing - set(doubt)
    summary = (f"storm: {len(all_ids)} ids, {kills} proxy kills in {elapsed:.1f} s; "
               f"delivered {len(counts)} once, duplicated {len(dupes)}; in doubt {len(doubt)} "
               f"(delivered {len(set(doubt) & set(counts))}, not {len(set(doubt) - set(counts))}"
               f"); producer errors {[e for _, e in reports]}; lost in dead proxies' gets "
               f"{len(unexplained)} (bound {stats['read_loss_bound']}); consumer restarts "
               f"{stats['proxy_restarts']}; left in queue {len(left)}")
    print(summary)
    assert kills == STORM_KILLS, summary
    assert not dupes, summary
    assert not set(counts) - set(all_ids), summary
    assert len(unexplained) <= stats["read_loss_bound"], summary
    assert elapsed < 150, summary
