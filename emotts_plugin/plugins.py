"""Building the plugin manager: built-ins, entry points, and modules named by the user.

Built-in features (presets, tag handlers, …) are plugins registered from
:data:`DEFAULT_PLUGINS` through the same hooks a third party implements.
Third-party plugins are found through the ``emotts`` entry-point group unless
``$EMOTTS_DISABLE_PLUGIN_AUTOLOAD`` is set; ``$EMOTTS_PLUGINS`` (comma-separated
module names) and ``emotts -p MODULE`` load plugins by import name.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError

_LOGGER = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "emotts"
DISABLE_AUTOLOAD_ENV = "EMOTTS_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "EMOTTS_PLUGINS"

DEFAULT_PLUGINS = (
    "emotts_plugin.builtin_presets",
    "emotts_plugin.ssml.tags",
    "emotts_plugin.models.plugin",
    "emotts_plugin.adapters.plugin",
)


def autoload_disabled() -> bool:
    """Whether ``$EMOTTS_DISABLE_PLUGIN_AUTOLOAD`` asks to skip entry points."""
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in {"", "0", "false", "no"}


def get_plugin_manager(plugins: Iterable[str | Any] = (), *, autoload: bool | None = None) -> pluggy.PluginManager:
    """A fresh plugin manager with the built-ins and any third-party plugins.

    :param plugins: extra plugins: module objects, or import names to load.
    :param autoload: load the ``emotts`` entry points; default: unless
        ``$EMOTTS_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :raises PluginError: a plugin cannot be imported or implements an unknown hook.
    """
    pm = pluggy.PluginManager("emotts")
    pm.add_hookspecs(hookspecs)
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


def call_chain(hook: pluggy.HookCaller, argname: str, value: Any, **kwargs: Any) -> Any:
    """Run a chained hook: each implementation gets the previous one's result.

    Implementations run in registration order (built-ins first); one returning ``None`` leaves
    the value unchanged.
    """
    for impl in hook.get_hookimpls():
        if impl.wrapper or impl.hookwrapper:
            continue
        call_kwargs = {argname: value, **kwargs}
        args = {name: call_kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name!r} failed in {hook.name}: {exc}", plugin=impl.plugin_name
            ) from exc
        if result is not None:
            value = result
    return value
