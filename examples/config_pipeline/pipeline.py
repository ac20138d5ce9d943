"""A pipeline configured by a file: source -> square -> sink, each stage its
own process, the edges opened from the URIs in pipeline.toml.

    python examples/config_pipeline/pipeline.py [CONFIG]

Prints what the sink received and the edges' stats; exits 1 if anything
was lost, duplicated or reordered."""

import multiprocessing as mp
import os
import sys
import tomllib

from sage_queue import open_queue

STOP = None


def source(uri, count):
    with open_queue(uri) as out:
        for i in range(count):
            out.put(i, timeout=30)
        out.put(STOP, timeout=30)


def square(in_uri, out_uri):
    with open_queue(in_uri) as inp, open_queue(out_uri) as out:
        while (item := inp.get(timeout=30)) is not STOP:
            out.put(item * item, timeout=30)
        out.put(STOP, timeout=30)


def main(path):
    with open(path, "rb") as f:
        config = tomllib.load(f)
    count = config["pipeline"]["items"]
    numbers, squares = config["edges"]["numbers"], config["edges"]["squares"]
    # The sink creates the edges, so every stage opens the same queues.
    edges = [open_queue(numbers), open_queue(squares)]
    ctx = mp.get_context("spawn")
    stages = [ctx.Process(target=source, args=(numbers, count)),
              ctx.Process(target=square, args=(numbers, squares))]
    for p in stages:
        p.start()
    got = []
    while (item := edges[1].get(timeout=60)) is not STOP:
        got.append(item)
    for p in stages:
        p.join(60)
    ok = got == [i * i for i in range(count)] and all(p.exitcode == 0 for p in stages)
    print(f"sink got {len(got)} squares over {edges[0].transport}: "
          f"{'in order, none lost' if ok else 'WRONG'}")
    for q in edges:
        stats = q.get_stats()
        print(f"  {q.uri}: {stats['total_put']} put, {stats['total_got']} got")
        q.destroy()
    return 0 if ok else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline.toml")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
