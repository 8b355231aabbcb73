"""The device farm: hosts that own devices join a Ray cluster; `edgebench run --farm` places jobs on them.

Shape (docs/farm.md): one detached Ray actor per device (:mod:`.lease`), pinned to the node that owns
the device by a custom resource; it holds the device's transport session, probes the device's health
before each lease (:mod:`.health`) and quarantines it after failed leases in a row. The submitter
(:mod:`.submit`) exports each artifact once, ships it through Ray's object store, and is the only
writer of its results store. Ray is imported only inside functions: the CLI starts without it.
"""

from __future__ import annotations

from typing import Any

from ..errors import EdgebenchError

NAMESPACE = "edgebench"
DEVICE_ACTOR = "edgebench-device:"  # + device id: the actor's name
DEVICE_RESOURCE = "edgebench-device:"  # + device id: the custom resource only its node has
QUEUE_ACTOR = "edgebench-queue"  # what submitters are waiting for (edgebench farm status)
INSTALL = "pip install 'edgebench[farm]'"


class FarmError(EdgebenchError):
    """The farm cannot be reached or used (no ray, unreachable head, no matching device)."""


def require_ray() -> Any:
    """The ray module, or one error line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FarmError(f"the device farm needs ray: {INSTALL}") from None
    return ray


def check_address(address: str, timeout: float = 5.0) -> tuple[str, int]:
    """HOST:PORT of a Ray head that accepts connections, or one error line."""
    import socket

    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise FarmError(f"farm address {address!r} is not HOST:PORT, e.g. 10.0.0.2:6379")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout):
            pass
    except OSError as exc:
        raise FarmError(f"the farm head at {address} is unreachable: {exc.strerror or exc} "
                        f"(start one with `edgebench farm head`)") from None
    return host, int(port_text)


def connect(address: str) -> Any:
    """Join the farm at ``address`` as a driver (quietly); returns the ray module."""
    ray = require_ray()
    check_address(address)
    if ray.is_initialized():
        return ray
    import logging
    import os

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.ERROR, log_to_driver=False,
                 configure_logging=True)
    except Exception as exc:  # ray raises ConnectionError, RuntimeError... all mean the same to the user
        raise FarmError(f"cannot join the farm at {address}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    import click

    # leave the cluster when the command ends: a driver still attached when the head goes away is ended by
    # Ray with exit status 1 (a command run in-process, as tests and plugins do, would take its host with it)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().call_on_close(ray.shutdown)
    return ray


def device_actors(ray: Any) -> list[tuple[str, Any]]:
    """(device id, actor handle) of every registered device, dead nodes' included (callers probe)."""
    out = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name, namespace = entry["name"], entry["namespace"]
        if namespace == NAMESPACE and name.startswith(DEVICE_ACTOR):
            try:
                out.append((name[len(DEVICE_ACTOR):], ray.get_actor(name, namespace=NAMESPACE)))
            except ValueError:  # gone between the listing and the lookup
                continue
    return sorted(out, key=lambda pair: pair[0])


def describe_devices(ray: Any, timeout: float = 15.0) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Every device's state (``DeviceLease.describe``) and the (device id, why) of those not answering."""
    actors = device_actors(ray)
    refs = {device_id: actor.describe.remote() for device_id, actor in actors}
    handles = dict(actors)
    alive, gone = [], []
    for device_id, ref in refs.items():
        try:
            info = ray.get(ref, timeout=timeout)
        except Exception as exc:  # the node died (RayActorError) or hangs (GetTimeoutError)
            gone.append((device_id, type(exc).__name__))
            continue
        info["actor"] = handles[device_id]
        alive.append(info)
    return alive, gone
