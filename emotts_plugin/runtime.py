"""A runtime: configuration, plugins, emotion space and tag table, built once."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pluggy

from .config import Config, MarkupMode, load_config
from .emotion import EmotionSpace, Preset
from .errors import PluginError
from .plan import Plan
from .plugins import call_chain, call_each, get_plugin_manager
from .registry import AdapterSpec, VoiceBackendSpec
from .ssml import TagHandler, parse


class Runtime:
    """Everything a host needs to turn markup into a plan (and, later, audio).

    Build one per application and reuse it: presets and tag handlers are
    collected from the plugins once.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        pm: pluggy.PluginManager | None = None,
        plugins: Iterable[str | Any] = (),
    ) -> None:
        self.config = config or load_config()
        self.pm = pm or get_plugin_manager(plugins)
        self.space = EmotionSpace(self._presets())
        self.tags = self._tag_handlers()

    def _presets(self) -> list[Preset]:
        presets: list[Preset] = []
        for plugin, items in call_each(self.pm, "emotts_register_presets"):
            for item in items:
                if isinstance(item, Preset):
                    presets.append(item)
                elif isinstance(item, Mapping):
                    presets.append(Preset.from_dict(item, source=f"plugin {plugin}"))
                else:
                    raise PluginError(
                        f"plugin {plugin!r} returned {item!r} from emotts_register_presets; "
                        "expected a Preset or a preset mapping",
                        plugin=plugin,
                    )
        return presets

    def _tag_handlers(self) -> dict[str, TagHandler]:
        table: dict[str, TagHandler] = {}
        for plugin, handlers in call_each(self.pm, "emotts_register_tag_handlers"):
            if not isinstance(handlers, Mapping):
                raise PluginError(
                    f"plugin {plugin!r} returned {handlers!r} from emotts_register_tag_handlers; "
                    "expected a mapping of element name to handler",
                    plugin=plugin,
                )
            for name, handler in handlers.items():
                if not callable(handler):
                    raise PluginError(
                        f"plugin {plugin!r}: handler for <{name}> is not callable", plugin=plugin
                    )
                table[name] = handler
        return table

    def voice_backends(self) -> list[VoiceBackendSpec]:
        """The speech engines the plugins offer (``emotts_register_voice_backends``), in
        registration order (built-ins first)."""
        return [spec for _, specs in call_each(self.pm, "emotts_register_voice_backends") for spec in specs]

    def adapters(self) -> dict[str, AdapterSpec]:
        """The adapters the plugins offer (``emotts_register_adapters``) by name, in registration
        order (built-ins first). ``emotts serve`` runs those that are servers.

        :raises PluginError: something that is not an :class:`AdapterSpec`, or a name two plugins
            offer (both are named).
        """
        specs: dict[str, AdapterSpec] = {}
        owners: dict[str, str] = {}
        for plugin, items in call_each(self.pm, "emotts_register_adapters"):
            for spec in items:
                if not isinstance(spec, AdapterSpec):
                    raise PluginError(
                        f"plugin {plugin!r} returned {spec!r} from emotts_register_adapters; "
                        "expected an AdapterSpec",
                        plugin=plugin,
                    )
                if spec.name in specs:
                    raise PluginError(
                        f"plugin {plugin!r} offers adapter {spec.name!r}, which plugin {owners[spec.name]!r} "
                        "already offers",
                        plugin=plugin,
                    )
                specs[spec.name] = spec
                owners[spec.name] = plugin
        return specs

    def parse(self, text: str, *, mode: MarkupMode | str | None = None, config: Config | None = None) -> Plan:
        """Markup or plain text → plan, with the preprocess and plan-transform hooks applied.

        :param config: per-call configuration (e.g. another default emotion); the runtime's when ``None``.
        """
        config = config or self.config
        text = call_chain(self.pm, "emotts_preprocess_text", "text", text, config=config)
        plan = parse(text, space=self.space, handlers=self.tags, config=config, mode=mode)
        return call_chain(self.pm, "emotts_transform_plan", "plan", plan, config=config)
