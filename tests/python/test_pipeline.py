"""A SAGE-like pipeline: source -> 2 workers -> sink over two queues."""

import multiprocessing as mp

import helpers

COUNT = 100_000
WORKERS = 2


def test_source_two_workers_sink_nothing_lost(make_queue):
    ctx = mp.get_context("fork")
    stage1, stage2 = make_queue(maxsize=1 << 20), make_queue(maxsize=1 << 20)
    source = ctx.Process(target=helpers.pipeline_source,
                         args=(stage1.get_reference(), COUNT, WORKERS))
    workers = [ctx.Process(target=helpers.pipeline_worker,
                           args=(stage1.get_reference(), stage2.get_reference()))
               for _ in range(WORKERS)]
    for p in [source] + workers:
        p.start()
    received = []
    stops = 0
    while stops < WORKERS:  # the sink
        for item in stage2.get_many(1024, timeout=120):
            if item is None:
                stops += 1
            else:
                received.append(item)
    for p in [source] + workers:
        p.join(60)
        assert p.exitcode == 0
    assert len(received) == COUNT
    assert sorted(received) == [i * 3 + 1 for i in range(COUNT)]
    assert stage1.empty() and stage2.empty()
    s1, s2 = stage1.get_stats(), stage2.get_stats()
    # a worker that took both stop markers put one back
    assert s1["total_put"] == s1["total_got"] >= COUNT + WORKERS
    assert s2["total_put"] == s2["total_got"] == COUNT + WORKERS
