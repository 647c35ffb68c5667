"""Building the plugin manager: built-ins, entry points, and modules named by the user.

Built-in features (presets, tag handlers, …) are plugins registered from
:data:`DEFAULT_PLUGINS` through the same hooks a third party implements.
Third-party plugins are found through the ``emotts`` entry-point group unless
``$EMOTTS_DISABLE_PLUGIN_AUTOLOAD`` is set; ``$EMOTTS_PLUGINS`` (comma-separated
module names) and ``emotts -p MODULE`` load plugins by import name.

Every hook call goes through ``pm.hook`` (chained hooks too: :func:`call_chain` calls one
implementation at a time through pluggy), so pluggy's hook-call monitoring sees each one;
``$EMOTTS_TRACE_PLUGINS=1`` turns it on and prints every call and its result to standard error.
"""

from __future__ import annotations

import importlib
import logging
import os
import reprlib
import sys
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

import pluggy

from . import hookspecs
from .errors import PluginError

_LOGGER = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "emotts"
DISABLE_AUTOLOAD_ENV = "EMOTTS_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "EMOTTS_PLUGINS"
TRACE_ENV = "EMOTTS_TRACE_PLUGINS"

DEFAULT_PLUGINS = (
    "emotts_plugin.builtin_presets",
    "emotts_plugin.ssml.tags",
    "emotts_plugin.models.plugin",
    "emotts_plugin.adapters.plugin",
)


def autoload_disabled() -> bool:
    """Whether ``$EMOTTS_DISABLE_PLUGIN_AUTOLOAD`` asks to skip entry points."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def get_plugin_manager(
    plugins: Iterable[str | Any] = (), *, autoload: bool | None = None
) -> pluggy.PluginManager:
    """A fresh plugin manager with the built-ins and any third-party plugins.

    :param plugins: extra plugins: module objects, or import names to load.
    :param autoload: load the ``emotts`` entry points; default: unless
        ``$EMOTTS_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :raises PluginError: a plugin cannot be imported or implements an unknown hook.

    With ``$EMOTTS_TRACE_PLUGINS`` set, every hook call is printed (:func:`trace_hook_calls`).
    """
    pm = pluggy.PluginManager("emotts")
    pm.add_hookspecs(hookspecs)
    if trace_requested():
        trace_hook_calls(pm)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if autoload if autoload is not None else not autoload_disabled():
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party distribution
            raise PluginError(f"loading plugins from entry points failed: {exc}", plugin=None) from exc
    env_names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for plugin in [*env_names, *plugins]:
        _register(pm, plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc), plugin=getattr(exc, "plugin", None)) from exc
    return pm


def _register(pm: pluggy.PluginManager, plugin: str | Any) -> None:
    if isinstance(plugin, str):
        if pm.has_plugin(plugin):
            return
        try:
            module = importlib.import_module(plugin)
        except ImportError as exc:
            raise PluginError(f"cannot import plugin module {plugin!r}: {exc}", plugin=plugin) from exc
        name = plugin
    else:
        module = plugin
        name = getattr(plugin, "__name__", None)
    try:
        pm.register(module, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} cannot be registered: {exc}", plugin=name) from exc


def call_each(pm: pluggy.PluginManager, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call hook ``name`` (one without ``firstresult``) once per implementation, in registration
    order (built-ins first).

    Each call goes through pluggy (:meth:`pluggy.PluginManager.subset_hook_caller`): the hook's
    wrappers run around every implementation and hook-call monitoring sees every call. Returns
    ``(plugin name, result)`` for each implementation that returned something other than ``None``,
    so callers can name the plugin whose result is unusable.
    """
    out = []
    for plugin, caller in _links(pm, name):
        results = caller(**kwargs)
        if results:
            out.append((plugin or name, results[0]))
    return out


def call_chain(pm: pluggy.PluginManager, name: str, argname: str, value: Any, **kwargs: Any) -> Any:
    """Run hook ``name`` as a chain: each implementation gets the previous one's result as ``argname``.

    Implementations run in registration order (built-ins first), each called through pluggy as
    in :func:`call_each`, so a wrapper (``@hookimpl(wrapper=True)``) runs around each link; one
    returning ``None`` leaves the value unchanged.

    :raises PluginError: an implementation (or a wrapper around it) raised; it names the plugin.
    """
    for plugin, caller in _links(pm, name):
        try:
            results = caller(**{argname: value, **kwargs})
        except Exception as exc:
            who = f"plugin {plugin!r}" if plugin else "a wrapper"
            raise PluginError(f"{who} failed in {name}: {exc}", plugin=plugin) from exc
        if results:
            value = results[0]
    return value


def _links(pm: pluggy.PluginManager, name: str) -> list[tuple[str | None, pluggy.HookCaller]]:
    """For each plain (non-wrapper) implementation of hook ``name``, in registration order, its
    plugin's name and a hook caller that calls that implementation alone, with every wrapper of
    the hook. A hook no plugin implements is still called once (wrappers and tracing see it)."""
    hook = getattr(pm.hook, name)
    impls = [impl for impl in hook.get_hookimpls() if not (impl.wrapper or impl.hookwrapper)]
    if not impls:
        return [(None, hook)]
    links = []
    for impl in impls:
        others = [other.plugin for other in impls if other.plugin is not impl.plugin]
        links.append((impl.plugin_name, pm.subset_hook_caller(name, remove_plugins=others)))
    return links


def trace_requested() -> bool:
    """Whether ``$EMOTTS_TRACE_PLUGINS`` asks to print every hook call."""
    return os.environ.get(TRACE_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def trace_hook_calls(pm: pluggy.PluginManager, out: TextIO | None = None) -> Callable[[], None]:
    """Print every hook call of ``pm`` and its outcome to ``out`` (standard error by default),
    one line each, values shortened; returns the function that stops it.

    ::

        emotts trace: emotts_preprocess_text(text='Hello', config=Config(...)) by my_plugin
        emotts trace: emotts_preprocess_text -> ['Hello!']
    """

    def write(line: str) -> None:
        print(f"emotts trace: {line}", file=out or sys.stderr, flush=True)

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        arguments = ", ".join(f"{key}={_SHORT.repr(value)}" for key, value in kwargs.items())
        plugins = ", ".join(impl.plugin_name for impl in impls) or "no plugin"
        write(f"{hook_name}({arguments}) by {plugins}")

    def after(
        outcome: pluggy.Result, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: object
    ) -> None:
        if outcome.exception is not None:
            write(f"{hook_name} raised {type(outcome.exception).__name__}: {outcome.exception}")
        else:
            write(f"{hook_name} -> {_SHORT.repr(outcome.get_result())}")

    return pm.add_hookcall_monitoring(before, after)


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxstring = short.maxother = 80
    short.maxlist = short.maxtuple = short.maxdict = 6
    return short


_SHORT = _short_repr()
