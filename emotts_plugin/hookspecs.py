"""Every hook emotts calls, grouped by when it is called.

Plugins implement these with ``@hookimpl`` (``from emotts_plugin import hookimpl``)
and are found through the ``emotts`` entry-point group, ``$EMOTTS_PLUGINS``
or ``emotts -p MODULE``. All hooks take keyword arguments; an implementation
may accept any subset of them. The README section "Plugin hooks" documents
each one with its exact signature (a test keeps the two in step).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("emotts")
hookimpl = pluggy.HookimplMarker("emotts")


# --------------------------------------------------------------------------
# Registration: called once when a runtime is built
# --------------------------------------------------------------------------


@hookspec
def emotts_register_presets():
    """Add emotion presets (labels) to the emotion space.

    Called once per runtime, when its emotion space is built.

    :return: an iterable of :class:`emotts_plugin.emotion.Preset` objects or of
        mappings in the preset YAML shape (``name``, ``description``, ``vector``,
        ``pad``, ``indextts2``, ``aliases``). A name or alias already taken by
        another plugin is an error naming both.
    """


@hookspec
def emotts_register_tag_handlers():
    """Add or replace markup tag handlers.

    Called once per runtime, when its tag table is built. Handlers are keyed by
    the element's local name (namespace prefixes are ignored); later plugins
    override earlier ones, so a plugin can replace a built-in handler.

    :return: a mapping of local element name → handler, a callable
        ``handler(ctx, element) -> TagAction | None`` (see
        :class:`emotts_plugin.ssml.ParseContext`).
    """


@hookspec
def emotts_register_voice_backends():
    """Add voice backends (speech engines).

    Called once per runtime, when the voice registry is built.

    :return: an iterable of :class:`emotts_plugin.registry.VoiceBackendSpec`.
    """


@hookspec
def emotts_register_adapters():
    """Add host adapters (servers and protocol bridges).

    Called by :meth:`emotts_plugin.runtime.Runtime.adapters`: ``emotts serve`` calls it once and
    runs every adapter whose spec has a ``server`` (see :mod:`emotts_plugin.registry`).

    :return: an iterable of :class:`emotts_plugin.registry.AdapterSpec`; a name another plugin
        already offers is an error naming both.
    """


# --------------------------------------------------------------------------
# Markup: called for every input, before parsing
# --------------------------------------------------------------------------


@hookspec
def emotts_preprocess_text(text, config):
    """Rewrite input text before it is parsed.

    Called for every input before parsing. Implementations run in turn (registration
    order, built-ins first), each receiving the previous one's output; each is its own
    call through ``pm.hook``, so a ``wrapper=True`` implementation runs around each.

    :param text: the markup or plain text as received (after earlier plugins).
    :param config: the :class:`emotts_plugin.config.Config` in effect.
    :return: the new text, or ``None`` to leave it unchanged.
    """


# --------------------------------------------------------------------------
# Planning: called for every parsed input
# --------------------------------------------------------------------------


@hookspec
def emotts_transform_plan(plan, config):
    """Change the segment plan after parsing, before rendering.

    Called for every input after parsing. Implementations run in turn, each
    receiving the previous one's plan (chained as :func:`emotts_preprocess_text`).

    :param plan: the :class:`emotts_plugin.plan.Plan` (frozen; build a new one
        with ``dataclasses.replace``).
    :param config: the :class:`emotts_plugin.config.Config` in effect.
    :return: the new plan, or ``None`` to leave it unchanged.
    """


# --------------------------------------------------------------------------
# Output: called for every rendered utterance
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def emotts_postprocess_audio(audio, sample_rate, config):
    """Process rendered audio before it is encoded.

    Called once per rendered chunk. The built-in implementation returns the
    audio as is; plugins add processing by implementing this hook as a wrapper
    (``@hookimpl(wrapper=True)``: ``audio = yield`` gives the inner result,
    return the changed array).

    :param audio: float32 mono samples in [-1, 1], shape ``(n,)``.
    :param sample_rate: samples per second of ``audio``.
    :param config: the :class:`emotts_plugin.config.Config` in effect.
    :return: float32 mono samples at the same sample rate.
    """
