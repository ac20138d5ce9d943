"""The Ray layer under its earlier name: see :mod:`sage_queue.ray`.

Kept so that code written against ``sage_queue.ray_support`` goes on
working; new code imports ``sage_queue.ray`` (and ``sage_queue.aio`` for
the asyncio helpers, which serve any queue)."""

from __future__ import annotations

from .aio import get_async, get_many_async, put_async, put_many_async
from .ray import (NAMESPACE, BufferedInDoubtError, ProxyDiedError, QueueProxy, RemoteQueueError,
                  RemoteSageQueue, find_proxy, host_identity, locate, open_remote, proxy_name,
                  ray_node_id, worker_env)

__all__ = [
    "NAMESPACE", "RemoteQueueError", "ProxyDiedError", "BufferedInDoubtError",
    "RemoteSageQueue", "QueueProxy",
    "host_identity", "ray_node_id", "locate", "open_remote", "proxy_name", "find_proxy",
    "get_async", "put_async", "get_many_async", "put_many_async", "worker_env",
]
