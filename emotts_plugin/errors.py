"""Every exception emotts raises, in one place.

::

    EmottsError                      base of everything below
    ├── ConfigError(ValueError)      bad plugin.yaml / user config / CLI value   .key
    │   └── FlowError                an IVR flow file that cannot be rendered     .path .problems
    ├── PresetError(ValueError)      a malformed emotion preset                   .preset
    ├── UnknownEmotionError(ValueError)  a name that is no label or alias         .name
    ├── UnknownVoiceError(ValueError)    a voice name no backend offers           .voice
    ├── MarkupError(ValueError)      markup that cannot be read                   .line .column
    │   └── HostileInputError        refused before any parsing work (DOCTYPE,
    │                                entities, size, depth, control characters)
    ├── LimitError(ValueError)       a request over a configured limit   .limit .value .allowed
    ├── VoiceFileError(ValueError)   a voice whose files are broken               .voice .path
    ├── WyomingRequestError(ValueError)  a Wyoming event the server cannot serve   .code
    ├── CallError(ValueError)        an IVR call that broke its protocol (frame, message)
    ├── ReferenceAudioError(ValueError)  a reference recording that cannot be analysed  .reason .source
    ├── QueueFull(RuntimeError)      the render queue is full: retry later
    ├── VoiceLoadError(RuntimeError) a voice file that exists but cannot be loaded
    ├── PluginError(RuntimeError)    a plugin that misbehaves                     .plugin
    ├── RemoteError(ConnectionError) a remote emotts server unreachable or failing .url
    └── MissingExtraError(ImportError)  an optional feature whose extra is not installed  .extra

Bad input always raises a ``ValueError`` subclass, so callers that only know
the standard library can still catch it.

Four exception classes live elsewhere, on purpose, and never reach a caller of the library
(``tests/test_errors.py`` keeps this list):

- ``YamlLimitError`` (:mod:`emotts_plugin.config`) subclasses PyYAML's ``ComposerError``, as it
  must to travel through PyYAML's composer with its line and column; ``read_yaml_file`` turns it
  into a :class:`ConfigError`.
- ``ApiError`` (``emotts_plugin.adapters.requests``) is not a failure of the library but the
  HTTP error answer itself (status, ``{"error": {...}}`` body, headers): the HTTP adapter raises
  it inside a request and makes it the response; every library error above becomes one there.
- ``BodyAbandoned`` (``emotts_plugin.adapters.requests``) is a signal the HTTP adapter sets on a
  request body it stopped waiting for; it subclasses ``asyncio.TimeoutError`` so that aiohttp
  closes the connection quietly. ``_Unreadable`` (:mod:`emotts_plugin.ssml.sayas`) is control
  flow inside ``<say-as>`` reading, caught there and turned into a markup problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


class EmottsError(Exception):
    """Base class of all emotts errors."""


class ConfigError(EmottsError, ValueError):
    """A configuration value or key is wrong; ``key`` is its dotted path."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class FlowError(ConfigError):
    """An IVR flow file that cannot be rendered; ``problems`` lists everything wrong with it
    (each a :class:`~emotts_plugin.adapters.ivr_flow.FlowProblem`: ``line``, ``index``, ``id``),
    ``path`` names the file."""

    def __init__(self, path: str | None, problems: Sequence[Any]) -> None:
        self.path = path or "<flow>"
        self.problems = tuple(sorted(problems, key=lambda p: (p.line or 0, p.index or 0)))
        lines = [f"{self.path}:{p.line}: {p}" if p.line else f"{self.path}: {p}" for p in self.problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            message = f"{len(lines)} problems in {self.path}:\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(message)


class PresetError(EmottsError, ValueError):
    """An emotion preset is malformed; ``preset`` names it (file or label)."""

    def __init__(self, message: str, *, preset: str | None = None) -> None:
        super().__init__(message)
        self.preset = preset


class UnknownEmotionError(EmottsError, ValueError):
    """An emotion name is neither a label nor an alias."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class UnknownVoiceError(EmottsError, ValueError):
    """A voice name no backend offers; the message lists the voices."""

    def __init__(self, message: str, *, voice: str) -> None:
        super().__init__(message)
        self.voice = voice


class MarkupError(EmottsError, ValueError):
    """Markup that cannot be read; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}, column {self.column or 1}: {self.message}"


class HostileInputError(MarkupError):
    """Input refused before parsing: it could make the parser do unbounded or unsafe work."""


class LimitError(EmottsError, ValueError):
    """A request that would exceed a configured bound (``limit`` is its dotted config key, such as
    ``limits.max_audio_s``); refused before the work, never cut short silently."""

    def __init__(
        self, message: str, *, limit: str, value: float | None = None, allowed: float | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.allowed = allowed


class QueueFull(EmottsError, RuntimeError):
    """The render queue is full; retry later (HTTP answers 503 with ``Retry-After``)."""


class VoiceLoadError(EmottsError, RuntimeError):
    """A voice file exists but cannot be loaded."""


class PluginError(EmottsError, RuntimeError):
    """A plugin failed to load or returned something unusable; ``plugin`` names it."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


class RemoteError(EmottsError, ConnectionError):
    """A remote ``emotts serve`` (a framework plugin's ``url``) could not be reached or failed;
    ``url`` is what was asked."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class MissingExtraError(EmottsError, ImportError):
    """An optional feature needs packages that are not installed; ``extra`` names the extra."""

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class VoiceFileError(EmottsError, ValueError):
    """A voice whose files cannot be used (a corrupt or unreadable ``.onnx``, a bad
    ``.onnx.json``): asking for it is refused. ``voice`` names it, ``path`` is the file at fault."""

    def __init__(self, message: str, *, voice: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.voice = voice
        self.path = path


class WyomingRequestError(EmottsError, ValueError):
    """A Wyoming request the server cannot serve (unknown voice or speaker, malformed event, an
    event or connection over a limit); ``code`` is the ``error`` event's code when it is not the
    class name (``EventTooLarge``, ``ReadTimeout``, ``TooManyConnections``)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or type(self).__name__


class CallError(EmottsError, ValueError):
    """An IVR call broke its protocol (a malformed AudioSocket frame or Twilio message); that
    call is ended."""


class ReferenceAudioError(EmottsError, ValueError):
    """A reference recording cannot be analysed.

    ``reason`` is one of ``unreadable``, ``empty``, ``sample_rate``, ``too_short``,
    ``too_long``, ``silent``, ``clipped``, ``no_speech``, ``unknown_reference``;
    ``source`` names the file (or upload).
    """

    def __init__(self, message: str, *, reason: str, source: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.source = source
