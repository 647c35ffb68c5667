"""A runtime: configuration, plugins, emotion space and tag table, built once."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pluggy

from .config import Config, MarkupMode, load_config
from .emotion import EmotionSpace, Preset
from .errors import PluginError
from .plan import Plan
from .plugins import call_chain, get_plugin_manager
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
        for impl in self.pm.hook.emotts_register_presets.get_hookimpls():
            for item in impl.function() or ():
                if isinstance(item, Preset):
                    presets.append(item)
                elif isinstance(item, Mapping):
                    presets.append(Preset.from_dict(item, source=f"plugin {impl.plugin_name}"))
                else:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} returned {item!r} from emotts_register_presets; "
                        "expected a Preset or a preset mapping",
                        plugin=impl.plugin_name,
                    )
        return presets

    def _tag_handlers(self) -> dict[str, TagHandler]:
        table: dict[str, TagHandler] = {}
        for impl in self.pm.hook.emotts_register_tag_handlers.get_hookimpls():
            handlers = impl.function() or {}
            if not isinstance(handlers, Mapping):
                raise PluginError(
                    f"plugin {impl.plugin_name!r} returned {handlers!r} from emotts_register_tag_handlers; "
                    "expected a mapping of element name to handler",
                    plugin=impl.plugin_name,
                )
            for name, handler in handlers.items():
                if not callable(handler):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: handler for <{name}> is not callable", plugin=impl.plugin_name
                    )
                table[name] = handler
        return table

    def parse(self, text: str, *, mode: MarkupMode | str | None = None, config: Config | None = None) -> Plan:
        """Markup or plain text → plan, with the preprocess and plan-transform hooks applied.

        :param config: per-call configuration (e.g. another default emotion); the runtime's when ``None``.
        """
        config = config or self.config
        text = call_chain(self.pm.hook.emotts_preprocess_text, "text", text, config=config)
        plan = parse(text, space=self.space, handlers=self.tags, config=config, mode=mode)
        return call_chain(self.pm.hook.emotts_transform_plan, "plan", plan, config=config)
