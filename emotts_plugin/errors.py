"""Every exception emotts raises, in one place.

::

    EmottsError                      base of everything below
    ├── ConfigError(ValueError)      bad plugin.yaml / user config / CLI value   .key
    ├── PresetError(ValueError)      a malformed emotion preset                   .preset
    ├── UnknownEmotionError(ValueError)  a name that is no label or alias         .name
    ├── MarkupError(ValueError)      markup that cannot be read                   .line .column
    │   └── HostileInputError        refused before any parsing work (DOCTYPE,
    │                                entities, size, depth, control characters)
    ├── LimitError(ValueError)       a request over one of the configured limits   .limit .value .allowed
    ├── VoiceFileError(ValueError)   a voice whose files are broken               .voice .path
    ├── WyomingRequestError(ValueError)  a Wyoming event the server cannot serve   .code
    ├── ReferenceAudioError(ValueError)  a reference recording that cannot be analysed  .reason .source
    ├── PluginError(RuntimeError)    a plugin that misbehaves                     .plugin
    └── MissingExtraError(ImportError)  an optional feature whose extra is not installed  .extra

Bad input always raises a ``ValueError`` subclass, so callers that only know
the standard library can still catch it.
"""

from __future__ import annotations

from pathlib import Path


class EmottsError(Exception):
    """Base class of all emotts errors."""


class ConfigError(EmottsError, ValueError):
    """A configuration value or key is wrong; ``key`` is its dotted path."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


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

    def __init__(self, message: str, *, limit: str, value: float | None = None, allowed: float | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.allowed = allowed


class PluginError(EmottsError, RuntimeError):
    """A plugin failed to load or returned something unusable; ``plugin`` names it."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


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
