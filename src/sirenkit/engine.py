"""Where shards of work run: in this process, or as Ray tasks past it.

A shard is one call `function(item)` (a collection's group of signals). `shards` runs them one
after another here; with `workers` or `address` it runs them as Ray tasks, on a Ray instance it
starts on this machine with `workers` CPUs (listening on 127.0.0.1 only, stopped when the work
ends) or on the cluster at `address`. Results come back as tasks finish, in any order. A task
whose worker dies (killed, out of memory, a node lost) is run again, up to `RETRIES` times; an
error raised by the function itself is not retried and reaches the caller as itself.
Ray is an optional extra: `pip install 'sirenkit[ray]'`.

A local instance is started with Ray's settings for it chosen explicitly (`LOCAL_SETTINGS`): it
listens on the loopback address only, and its clients authenticate by a token, without Ray's
notice of that on every start.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from sirenkit.errors import InputError

Item = TypeVar("Item")
Result = TypeVar("Result")

RETRIES = 3
"""Runs of a task after its worker died, beyond the first (Ray's `max_retries`)."""
ANSWER_SECONDS = 5.0
"""How long a cluster's address may take to accept a connection before it counts as silent."""
LOCAL_SETTINGS = {"RAY_AUTH_MODE": "token", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray's environment variables for a local instance, set where the user has not set them; Ray reads
them as it is imported.

- RAY_AUTH_MODE=token: clients authenticate by a token, Ray's own default for an instance that
  `ray.init` starts; left unset, Ray prints on every start that it chose it.
- RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: Ray's single-machine setting, under which the node keeps the
  loopback address it is given and its servers listen there only; otherwise Ray replaces that
  address by the machine's and listens on every interface.
"""


def shards(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[Result]:
    """`function(item)` for every item: here when neither `workers` nor `address` is given, else as
    Ray tasks of one CPU each (see the module docstring)."""
    if workers is None and address is None:
        for item in items:
            yield function(item)
        return
    ray = require_ray(workers, address)
    started = not ray.is_initialized()
    if started:
        _start(ray, workers, address)
    try:
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(run_shard)
        stored = ray.put(function)  # once, with what it holds (a tiled signal), for every task
        pending = [task.remote(stored, item) for item in items]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield _result(ray, done[0])
    finally:
        if started:
            ray.shutdown()


def run_shard(function: Callable[[Item], Result], item: Item) -> Result:
    """One shard, as a Ray task runs it (its worker processes are titled ray::run_shard)."""
    return function(item)


def require_ray(workers: int | None = None, address: str | None = None):
    """The `ray` module, after checking `workers` and that `address` answers (`check_address`);
    InputError saying what to install without it. For a local instance (no `address`), Ray is
    imported under `LOCAL_SETTINGS`; where this process imported it before, it keeps the settings
    it was imported with."""
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if address is None and "ray" not in sys.modules:
        for name, value in LOCAL_SETTINGS.items():
            os.environ.setdefault(name, value)
    try:
        import ray
    except ImportError:
        raise InputError("--workers and --ray-address need Ray: pip install 'sirenkit[ray]'") from None
    if address is not None:
        check_address(address)
    return ray


def check_address(address: str, seconds: float = ANSWER_SECONDS) -> None:
    """InputError unless something accepts a connection at the Ray address `address`
    ("HOST:PORT" or "ray://HOST:PORT"; "auto" and other forms are left to Ray) within `seconds`.
    Ray itself retries a silent address for minutes before it gives up."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"no Ray cluster answers at {address} ({reason}); start one with `ray start --head`") from None


def _start(ray, workers: int | None, address: str | None) -> None:
    settings = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address is not None:
            ray.init(address=address, **settings)
        else:
            ray.init(num_cpus=workers, _node_ip_address="127.0.0.1", **settings)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address}" if address is not None else "a local Ray instance"
        raise InputError(f"cannot start or join {where}: {' '.join(str(error).split())}") from None


def _result(ray, reference):
    """A finished task's result; an error the function raised is re-raised as its own type."""
    try:
        return ray.get(reference)
    except ray.exceptions.RayTaskError as error:
        cause = error.cause if isinstance(error.cause, BaseException) else None
        if cause is not None:
            raise cause from None
        raise
    except ray.exceptions.RayError as error:
        reason = " ".join(str(error).split())[:300]
        raise InputError(f"a task failed on Ray after {RETRIES} retries ({type(error).__name__}: {reason})") from None
