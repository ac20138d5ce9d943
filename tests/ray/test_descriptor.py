"""SAGE's queue descriptors under Ray (issue 15): a descriptor passed to an
actor, as an object or as its dict, reattaches to the same queue by name."""

import uuid

import ray

from sage_queue.sage_runtime import SageQueueDescriptor, resolve_descriptor


@ray.remote
class Stage:
    """Holds a descriptor in its state, as SAGE's tasks do."""

    def __init__(self, descriptor):
        self.d = descriptor

    def forward(self, out_dict, count):
        out = resolve_descriptor(out_dict)
        for _ in range(count):
            out.put(self.d.get(timeout=30) * 2, timeout=30)
        out.close()
        self.d.close()
        return count


def test_descriptors_cross_into_an_actor(ray_local):
    tag = uuid.uuid4().hex[:8]
    inp = SageQueueDescriptor(f"input_t{tag}", max_items=64)
    out = SageQueueDescriptor(f"service_response_t{tag}_n1", maxsize="64K")
    try:
        for i in range(20):
            inp.put(i)
        stage = Stage.remote(inp)                       # pickled as its dict
        assert ray.get(stage.forward.remote(out.to_dict(), 20), timeout=60) == 20
        assert [out.get(timeout=30) for _ in range(20)] == [2 * i for i in range(20)]
        assert inp.qsize() == 0 and out.qsize() == 0
    finally:
        inp.destroy()
        out.destroy()
