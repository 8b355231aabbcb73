"""Plugin loading and the registries built from the hooks.

Plugins, first-party ones included, come from the ``edgebench`` entry-point group. Loading a
plugin never stops the CLI: an import error or an invalid hook implementation is kept in
:data:`failures` and shown by ``edgebench plugins``. A hook implementation that raises is
reported as one line naming the plugin and hook, and the other plugins still register.

Environment variables:

* ``EDGEBENCH_LOAD_PLUGINS``: comma-separated entry-point or distribution names to load, and no
  others (``""`` loads none).
* ``EDGEBENCH_DISABLE_PLUGINS``: comma-separated names never to load.
* ``EDGEBENCH_TRACE_PLUGINS=1``: print every hook call, its plugins and duration to stderr.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import types
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .api import Backend, DatasetSpec, ModelSpec, PowerMeter, Transport
from .errors import PluginError

pm = pluggy.PluginManager("edgebench")
pm.add_hookspecs(hookspecs)

ENTRY_POINT_GROUP = "edgebench"


@dataclass
class PluginInfo:
    name: str
    dist: str | None = None
    version: str | None = None
    module: str | None = None
    error: str | None = None
    traceback: str | None = None  # the load failure's, printed under --debug


#: every plugin seen, loaded or not, by name
plugin_info: dict[str, PluginInfo] = {}
#: plugins that failed to load or register: name -> one-line error
failures: dict[str, str] = {}
#: errors raised inside hooks, as one-line messages (plugin and hook named)
hook_errors: list[str] = []
#: plugin -> hook -> one-line error of its last call (kept: `plugins` and unknown-name errors show it)
hook_failures: dict[str, dict[str, str]] = {}
#: a hook_errors line -> the traceback behind it, printed under --debug
hook_tracebacks: dict[str, str] = {}

#: which hook provides the objects an UnknownName of each kind names
HOOK_FOR_KIND = {
    "model": "edgebench_register_models",
    "backend": "edgebench_register_backends",
    "transport": "edgebench_register_transports",
    "dataset": "edgebench_register_datasets",
    "power meter": "edgebench_register_power_meters",
}

_loaded = False


def _names_from_env(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_plugins() -> None:
    """Load every entry-point plugin once (idempotent)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    wanted = _names_from_env("EDGEBENCH_LOAD_PLUGINS")
    blocked = _names_from_env("EDGEBENCH_DISABLE_PLUGINS") or set()
    for name in blocked:
        pm.set_blocked(name)
    seen_wanted: set[str] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else None
        keys = {ep.name, dist} - {None}
        if wanted is not None:
            if not keys & wanted:
                continue
            seen_wanted |= keys & wanted
        if keys & blocked or ep.name in plugin_info:
            continue
        info = PluginInfo(ep.name, dist, ep.dist.version if ep.dist else None, ep.value)
        plugin_info[ep.name] = info
        try:
            module = ep.load()
            _check_hook_names(module)
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin is listed, never fatal
            info.error = failures[ep.name] = _one_line(exc)
            info.traceback = traceback.format_exc()
    for missing in sorted((wanted or set()) - seen_wanted):
        print(f"edgebench: plugin {missing!r} in EDGEBENCH_LOAD_PLUGINS was not found", file=sys.stderr)


def _check_hook_names(plugin: object) -> None:
    """A misspelt hook implementation would silently never run: refuse the plugin instead."""
    known = {name for name in dir(hookspecs) if name.startswith("edgebench_")}
    for attr in dir(plugin):
        if hasattr(getattr(plugin, attr, None), "edgebench_impl") and attr not in known:
            raise PluginError(f"{attr} is not an edgebench hook (known: {', '.join(sorted(known))})")


def register_plugin(plugin: object, name: str) -> None:
    """Register an in-process plugin (tests, one-off scripts) and forget cached registries."""
    _check_hook_names(plugin)
    pm.register(plugin, name=name)
    plugin_info.setdefault(name, PluginInfo(name, module=getattr(plugin, "__name__", None)))
    reset_registries()


def unregister_plugin(name: str) -> None:
    pm.unregister(name=name)
    plugin_info.pop(name, None)
    hook_failures.pop(name, None)
    reset_registries()


def call_each(hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of a hook, one plugin at a time.

    ``kwargs`` may hold a ``register`` factory: a callable taking the plugin name and returning
    the callback that plugin receives, so everything registered is stamped with its plugin.
    """
    load_plugins()
    hook = getattr(pm.hook, hook_name)
    factory = kwargs.pop("register_factory", None)
    for impl in reversed(hook.get_hookimpls()):  # registration order
        call_kwargs = dict(kwargs)
        if factory is not None:
            call_kwargs["register"] = factory(impl.plugin_name)
        started = time.perf_counter()
        hook_failures.get(impl.plugin_name, {}).pop(hook_name, None)  # a registry re-collected may now succeed
        try:
            impl.function(**{k: call_kwargs[k] for k in impl.argnames})
        except PluginError as exc:
            hook_errors.append(f"plugin {impl.plugin_name!r}: {exc}")
            hook_failures.setdefault(impl.plugin_name, {})[hook_name] = str(exc).strip().splitlines()[0]
        except Exception as exc:
            line = f"plugin {impl.plugin_name!r} failed in {hook_name}: {_one_line(exc)}"
            hook_errors.append(line)
            hook_failures.setdefault(impl.plugin_name, {})[hook_name] = _one_line(exc)
            hook_tracebacks[line] = traceback.format_exc()
        if os.environ.get("EDGEBENCH_TRACE_PLUGINS"):
            took = (time.perf_counter() - started) * 1000
            print(f"edgebench trace: {hook_name} [{impl.plugin_name}] {took:.2f} ms", file=sys.stderr)


class Registry:
    """Named objects registered through one hook, stamped with the plugin that registered them."""

    def __init__(self, kind: str, hook_name: str, expected: type | tuple[type, ...]):
        self.kind, self.hook_name, self.expected = kind, hook_name, expected
        self._items: dict[str, Any] | None = None

    def _collect(self) -> dict[str, Any]:
        items: dict[str, Any] = {}

        def factory(plugin_name: str) -> Callable[..., None]:
            def register(*args: Any) -> None:
                name, obj = self._unpack(args, plugin_name)
                if name in items:
                    raise PluginError(
                        f"{self.kind} {name!r} is registered by both "
                        f"{items[name].plugin!r} and {plugin_name!r}"
                    )
                items[name] = obj

            return register

        call_each(self.hook_name, register_factory=factory)
        return items

    def _unpack(self, args: tuple, plugin_name: str) -> tuple[str, Any]:
        if len(args) == 2:  # transports: register(name, cls)
            name, obj = args
            if not (isinstance(obj, type) and issubclass(obj, self.expected)):
                raise PluginError(f"registered {self.kind} {name!r} is not a {self.expected.__name__} subclass")
            obj = type(obj.__name__, (obj,), {"name": name, "plugin": plugin_name, "__module__": obj.__module__})
            return name, obj
        (obj,) = args
        if not isinstance(obj, self.expected):
            raise PluginError(f"registered {self.kind} {obj!r} is not a {self.expected.__name__}")
        obj.plugin = plugin_name
        return obj.name, obj

    def all(self) -> dict[str, Any]:
        if self._items is None:
            self._items = self._collect()
        return self._items

    def get(self, name: str) -> Any:
        from .errors import UnknownName

        items = self.all()
        if name not in items:
            raise UnknownName(self.kind, name, list(items))
        return items[name]

    def reset(self) -> None:
        self._items = None


backends = Registry("backend", "edgebench_register_backends", Backend)
models = Registry("model", "edgebench_register_models", ModelSpec)
transports = Registry("transport", "edgebench_register_transports", Transport)
datasets = Registry("dataset", "edgebench_register_datasets", DatasetSpec)
power_meters = Registry("power meter", "edgebench_register_power_meters", PowerMeter)


def reset_registries() -> None:
    for registry in (backends, models, transports, datasets, power_meters):
        registry.reset()


def plugin_rows() -> list[dict[str, Any]]:
    """What `edgebench plugins` shows: each plugin, its version, hooks and any error."""
    load_plugins()
    rows = []
    for name in sorted(set(plugin_info) | {pm.get_name(p) for p in pm.get_plugins()}):
        info = plugin_info.get(name, PluginInfo(name))
        plugin = pm.get_plugin(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin)) if plugin is not None else []
        row: dict[str, Any] = {"name": name, "hooks": hooks}
        if info.dist:
            row["dist"] = info.dist
        if info.version:
            row["version"] = info.version
        # a load failure, else the hooks that raised: "<hook>: <one line>"
        error = info.error or "; ".join(f"{hook}: {line}" for hook, line in sorted(hook_failures.get(name, {}).items()))
        if error:
            row["error"] = error
        rows.append(row)
    return rows


def failed_providers_note(kind: str) -> str:
    """What UnknownName appends for a model/backend/transport/dataset: the plugins that might have had it.

    A plugin that failed to load, or whose hook for this kind raised, may be why the name is missing.
    """
    hook = HOOK_FOR_KIND.get(kind)
    if hook is None:  # devices and delegates do not come from plugins
        return ""
    notes = [f"; plugin {name!r} failed to load ({info.error}) and may have provided it"
             for name, info in sorted(plugin_info.items()) if info.error]
    notes += [f"; plugin {name!r} failed in {hook} ({errors[hook]}) and may have provided it"
              for name, errors in sorted(hook_failures.items()) if hook in errors]
    return "".join(notes)


def _plugin_packages() -> dict[str, str]:
    """Registered plugin name -> the module prefix its code lives under."""
    out = {}
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        module = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
        top = module.partition(".")[0]
        # a third-party plugin's whole package is its code; edgebench's built-ins are one module each
        out[name] = module if top == "edgebench" else top
    return out


def plugin_in_traceback(exc: BaseException) -> str | None:
    """The plugin whose code raised ``exc``: the innermost traceback frame in a plugin's package.

    Follows the exception's cause/context chain when its own traceback passes through no plugin.
    """
    packages = _plugin_packages()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = None
        for frame, _ in traceback.walk_tb(current.__traceback__):
            module = frame.f_globals.get("__name__", "")
            for name, package in packages.items():
                if module == package or module.startswith(package + "."):
                    found = name
        if found:
            return found
        current = current.__cause__ or current.__context__
    return None
