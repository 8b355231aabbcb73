"""``edgebench farm head | join | status | release``: the click side of the farm (no ray imported here)."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import click


@click.group()
def farm() -> None:
    """A device farm on Ray: hosts join with their devices; `edgebench run --farm ADDRESS` uses them."""


@farm.command()
@click.option("--port", type=int, default=6379, show_default=True, help="The head's port (Ray GCS).")
@click.option("--ip", "ip", help="This host's address the others reach (default: the one on the default route).")
@click.option("--address", help="Use an existing Ray cluster instead of starting a head.")
@click.option("--num-cpus", type=int, default=1, show_default=True, help="CPUs Ray may schedule here.")
@click.option("--detach", is_flag=True, help="Leave the head running in the background and return.")
def head(port: int, ip: str | None, address: str | None, num_cpus: int, detach: bool) -> None:
    """Start the farm's head node (or check an existing cluster with --address)."""
    from . import connect, require_ray
    from .nodes import head_args, local_ip, start_node, wait_for_node
    from .queue import queue_actor

    ray = require_ray()
    if address:
        connect(address)
        ray.get(queue_actor(ray).all.remote(), timeout=60)
        click.echo(f"Farm at {address}: on each host with devices run: edgebench farm join {address}")
        return
    ip = ip or local_ip()
    child = start_node(head_args(port, ip, num_cpus), detach)
    address = f"{ip}:{port}"
    try:
        _wait_port(address, child)
        connect(address)
        wait_for_node(ray, "node:__internal_head__", child)
        ray.get(queue_actor(ray).all.remote(), timeout=60)
        ray.shutdown()
    except BaseException:
        _stop(child)
        raise
    click.echo(f"Farm head at {address}: on each host with devices run: edgebench farm join {address}")
    _hold(child, detach, "head")


@farm.command()
@click.argument("address")
@click.option("-d", "--device", "names", multiple=True,
              help="A device profile this host owns (default: every profile of your own, not the built-in examples).")
@click.option("--devices-dir", type=click.Path(file_okay=False, path_type=Path), multiple=True,
              help="Extra folder of device profiles.")
@click.option("--adb-profile", metavar="PROFILE",
              help="Also offer every phone `adb devices` lists, each with this profile and its serial.")
@click.option("--host", "host_label", help="The name devices carry in the farm (<profile>@<host>; default: hostname).")
@click.option("--ip", "ip", help="This host's address the head reaches (default: the one on the route to the head).")
@click.option("--check/--no-check", default=True, show_default=True, help="Offer only devices that answer now.")
@click.option("--num-cpus", type=int, default=1, show_default=True, help="CPUs Ray may schedule here.")
@click.option("--detach", is_flag=True, help="Leave the node running in the background and return.")
def join(address: str, names: tuple[str, ...], devices_dir: tuple[Path, ...], adb_profile: str | None,
         host_label: str | None, ip: str | None, check: bool, num_cpus: int, detach: bool) -> None:
    """Join the farm at ADDRESS and offer this host's devices."""
    from . import DEVICE_RESOURCE, FarmError, check_address, connect, require_ray
    from .lease import register
    from .nodes import join_args, local_devices, local_ip, start_node, wait_for_node

    ray = require_ray()
    head_host, _ = check_address(address)
    host = host_label or platform.node()
    devices = local_devices(list(names), list(devices_dir), host, adb_profile)
    if check:
        from ..transports.remote import check as reachable

        for device in list(devices):
            ok, message = reachable(device.profile)
            if not ok:
                click.secho(f"Skipped: device {device.id} is not reachable: {message}", fg="yellow", err=True)
                devices.remove(device)
    if not devices:
        raise FarmError("no device to offer: name profiles with --device (see edgebench devices)")
    ip = ip or local_ip(head_host)
    child = start_node(join_args(address, ip, devices, num_cpus), detach)
    try:
        connect(address)
        wait_for_node(ray, DEVICE_RESOURCE + devices[0].id, child)
        for device in devices:
            register(ray, device.id, device.profile, host)
            click.echo(f"Offered {device.id} ({device.profile.transport}: {device.profile.description})")
        ray.shutdown()
    except BaseException:
        _stop(child)
        raise
    click.echo(f"Joined the farm at {address} with {len(devices)} device(s)")
    _hold(child, detach, "node")


@farm.command()
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(address: str, as_json: bool) -> None:
    """Nodes, devices (idle / leased / quarantined, last probe, reason) and the queue of the farm at ADDRESS."""
    from . import DEVICE_RESOURCE, connect, describe_devices
    from .queue import queue_actor

    ray = connect(address)
    devices, gone = describe_devices(ray)
    try:
        queue = ray.get(queue_actor(ray).all.remote(), timeout=30)
    except Exception:  # noqa: BLE001  the head's record is informational
        queue = {}
    nodes = [{"ip": n["NodeManagerAddress"], "alive": n["Alive"], "id": n["NodeID"][:12],
              "devices": sorted(k[len(DEVICE_RESOURCE):] for k in n.get("Resources", {}) if k.startswith(DEVICE_RESOURCE))}
             for n in ray.nodes()]
    rows = [{k: d[k] for k in ("id", "name", "host", "state", "reason", "failures_in_row", "leases", "current",
                               "last_probe", "keys")} for d in devices]
    rows += [{"id": device_id, "state": "gone", "reason": why} for device_id, why in gone]
    if as_json:
        click.echo(json.dumps({"nodes": nodes, "devices": rows, "queue": queue}, indent=2, default=str))
        return
    from rich.table import Table
    from rich.text import Text

    from ..cli import _console

    console = _console()
    table = Table(title="nodes", title_justify="left")
    for col in ("Node", "Address", "Alive", "Devices"):
        table.add_column(col)
    for n in nodes:
        table.add_row(n["id"], n["ip"], "yes" if n["alive"] else "no", ", ".join(n["devices"]))
    console.print(table)
    table = Table(title="devices", title_justify="left")
    for col in ("Device", "State", "Leases", "Last probe", "Reason"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(Text(str(c)) for c in (row["id"], row["state"] + (f" ({row['current']})" if row.get("current") else ""),
                                                row.get("leases", ""), _probe_text(row.get("last_probe")),
                                                row.get("reason") or "")))
    console.print(table)
    table = Table(title="queue", title_justify="left")
    for col in ("Submitter", "Waiting", "Running"):
        table.add_column(col)
    for submission in queue.values():
        waiting = ", ".join(f"{spec}: {n}" for spec, n in submission.get("queued", {}).items() if n) or "–"
        running = ", ".join(f"{d}: {label}" for d, label in submission.get("running", {}).items()) or "–"
        # updated at every change: an old stamp is a submitter that died without saying so
        age = f" (updated {time.time() - submission.get('updated', time.time()):.0f} s ago)"
        table.add_row(Text(submission.get("host", "?") + age), Text(waiting), Text(running))
    console.print(table)


@farm.command()
@click.argument("address")
@click.argument("device")
def release(address: str, device: str) -> None:
    """End the quarantine of DEVICE (its id, or a profile name matching one device) in the farm at ADDRESS."""
    from . import FarmError, connect, describe_devices
    from .submit import matches

    ray = connect(address)
    devices, _ = describe_devices(ray)
    found = [d for d in devices if d["id"] == device] or [d for d in devices if matches(d, device)]
    if not found:
        raise FarmError(f"no device {device!r} in the farm at {address}; devices: "
                        f"{', '.join(d['id'] for d in devices) or 'none'}")
    if len(found) > 1:
        raise FarmError(f"{device!r} matches {len(found)} devices: name one of {', '.join(d['id'] for d in found)}")
    answer = ray.get(found[0]["actor"].release.remote(), timeout=60)
    click.echo(f"Released {answer['id']} (was {answer['was']})")


def _probe_text(probe: dict[str, Any] | None) -> str:
    if not probe:
        return "never"
    ago = time.time() - probe["at"]
    figures = ", ".join(f for f in (probe.get("free_mb") is not None and f"{probe['free_mb']:.0f} MB free",
                                    probe.get("temp_c") is not None and f"{probe['temp_c']:.0f} °C") if f)
    return f"{'ok' if probe['ok'] else 'failed'} {ago:.0f} s ago" + (f" ({figures})" if figures else "")


def _wait_port(address: str, child: Any, timeout: float = 60) -> None:
    from . import FarmError, check_address

    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise FarmError(f"ray start exited with status {child.returncode} (see its output above)")
        try:
            check_address(address, timeout=1)
            return
        except FarmError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _stop(child: Any) -> None:
    from .nodes import stop_node

    stop_node(child)


def _hold(child: Any, detach: bool, what: str) -> None:
    """Foreground: live as long as the node; Ctrl-C stops it (and only it)."""
    if detach:
        click.echo(f"The {what} runs in the background (process group {child.pid}; stop it with "
                   f"`kill -- -{child.pid}`)")
        return
    try:
        child.wait()
    except KeyboardInterrupt:
        _stop(child)
        click.echo(f"Stopped the {what}", err=True)
