"""Configuration: the `defaults` of plugin.yaml, overridden by user files and flags.

Load order (later wins): ``plugin.yaml`` shipped with the package, then each
user config file (``--config FILE`` or ``$EMOTTS_CONFIG``), then explicit
overrides (command-line flags). Every layer is checked key by key; an unknown
key is a :class:`~emotts_plugin.errors.ConfigError` naming the key, the keys
allowed there, and the value.

Config files are bounded before and while they are read: at most
:data:`MAX_FILE_BYTES`, YAML nested at most :data:`MAX_YAML_DEPTH` levels, and
aliases that stand for at most :data:`MAX_ALIAS_NODES` nodes in all
(:class:`BoundedSafeLoader`), so a small file cannot expand into gigabytes. A
value shown in a message is an :func:`excerpt` of at most :data:`EXCERPT_CHARS`
characters.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import reprlib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable, Mapping, Sized
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError

CONFIG_ENV = "EMOTTS_CONFIG"

#: Largest config file read, in bytes; a larger one is refused unread.
MAX_FILE_BYTES = 1 << 20
#: Nodes that the aliases (``*name``) of one YAML document may stand for, counted expanded.
MAX_ALIAS_NODES = 10_000
#: Deepest nesting of collections in a YAML document.
MAX_YAML_DEPTH = 64
#: Longest excerpt of a value that a message shows.
EXCERPT_CHARS = 80


class MarkupMode(str, enum.Enum):
    """How markup errors are handled."""

    LENIENT = "lenient"
    STRICT = "strict"


#: What can run the Piper voices (``engine``).
ENGINES = ("onnxruntime", "torch")
#: Where voice models can run (``device``).
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Addresses the adapters listen on."""

    http_host: str = "127.0.0.1"
    """Interface of the HTTP server."""
    http_port: int = 7860
    """TCP port of the HTTP server."""
    wyoming_uri: str | None = None
    """Where ``emotts serve`` runs the Wyoming server (``tcp://HOST:PORT``, ``unix://PATH`` or ``stdio://``);
    none runs no Wyoming server."""
    audiosocket: str | None = None
    """``HOST:PORT`` of the AudioSocket server for Asterisk calls (``[::1]:9092`` for IPv6); none runs no
    server."""
    zeroconf: bool = True
    """Announce the Wyoming server on the local network (``_wyoming._tcp``, so Home Assistant finds
    it) when it listens on an address other than loopback; ``emotts serve --no-zeroconf`` turns it off."""
    cors_origins: str | None = None
    """Browser origins allowed to call the HTTP API (CORS), comma-separated (``https://app.example``),
    or ``*`` for any; none (the default) sends no CORS headers."""


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The rendered-utterance cache (:mod:`emotts_plugin.cache`)."""

    memory_mb: int = 64
    """Bound of the in-memory tier in MiB; 0 turns the cache off (unless ``dir`` is set)."""
    dir: str | None = None
    """Folder of the on-disk tier (kept across restarts); none for memory only."""
    disk_mb: int = 512
    """Bound of the on-disk tier in MiB."""
    voice_graphs: bool = True
    """Keep each Piper voice's patched graph on disk (``dir/voices``, or ``~/.cache/emotts/voices``
    when ``dir`` is none), so a new process loads the voice without patching it again (~0.2 s)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep hostile or accidental input from exhausting the machine."""

    max_input_bytes: int = 1_000_000
    """Markup larger than this (UTF-8 bytes) is refused before parsing."""
    max_depth: int = 64
    """Elements nested deeper than this are refused before parsing."""
    max_body_bytes: int = 2_000_000
    """HTTP request bodies, Wyoming events and Twilio messages larger than this are refused."""
    request_timeout_s: float = 120.0
    """Seconds one request may take."""
    max_audio_s: float = 600.0
    """Seconds of audio one request may produce, speech, breaks and silences together; a request
    whose plan needs more is refused before rendering (and a render that still overruns stops)."""
    max_break_s: float = 60.0
    """Seconds of silence (``<break>``, ``<mstts:silence>``, bracket pauses) one request may ask for."""
    read_timeout_s: float = 30.0
    """Seconds a client may take to send one request's headers and body (HTTP), one Wyoming event
    or one AudioSocket frame once it has started; slower clients are disconnected."""
    idle_timeout_s: float = 60.0
    """Seconds a connection may stay silent between requests or messages before it is closed
    (HTTP keep-alive, Wyoming, Twilio streams)."""
    max_connections: int = 64
    """Connections open at once per socket server (Wyoming, AudioSocket) and Twilio streams;
    beyond it new ones are refused."""
    ivr_queue_mb: int = 64
    """MiB of rendered and waiting prompts all IVR calls together may hold; a prompt over the
    budget is refused with 429."""


@dataclass(frozen=True, slots=True)
class Config:
    """Load-time configuration (what plugin.yaml `defaults` holds)."""

    voice: str = "joe"
    """Voice used when the markup names none."""
    emotion: str = "neutral"
    """Emotion of text outside any emotion tag."""
    intensity: float = 1.0
    """Intensity (0..1) of the default emotion."""
    transition_ms: int = 250
    """Glide time at an emotion change, in milliseconds."""
    lang: str = "en-US"
    """Language of text that declares none."""
    markup_mode: MarkupMode = MarkupMode.LENIENT
    """Lenient repairs markup mistakes with warnings; strict reports them as errors."""
    voices_dir: str | None = None
    """Extra folder searched for Piper voices."""
    noise: bool = True
    """Sample the voice model's noise (natural variation); false renders deterministically."""
    threads: int | None = None
    """onnxruntime threads per voice; ``None`` lets onnxruntime choose."""
    engine: str = "onnxruntime"
    """What runs the Piper voices: ``onnxruntime`` or ``torch`` (the ``[torch]`` extra: per-phoneme
    durations, batches)."""
    device: str = "cpu"
    """Where voice models run: ``cpu`` or ``cuda`` (onnxruntime's CUDA provider, or CUDA torch)."""
    server: ServerConfig = ServerConfig()
    """Adapter addresses."""
    limits: Limits = Limits()
    """Input and request bounds."""
    cache: CacheConfig = CacheConfig()
    """Rendered-utterance cache."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Config":
        """Build from a complete mapping (plugin.yaml `defaults` shape)."""
        _check_keys(data, cls, "")
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in data:
                continue
            raw = data[field.name]
            if field.name == "server":
                values["server"] = _section(ServerConfig, raw, "server")
            elif field.name == "limits":
                values["limits"] = _section(Limits, raw, "limits")
            elif field.name == "cache":
                values["cache"] = _section(CacheConfig, raw, "cache")
            elif field.name == "markup_mode":
                values["markup_mode"] = _enum(MarkupMode, raw, "markup_mode")
            else:
                values[field.name] = _coerce(field, raw, field.name)
        config = cls(**values)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        """The plugin.yaml `defaults` shape of this configuration."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if dataclasses.is_dataclass(value):
                value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            elif isinstance(value, enum.Enum):
                value = value.value
            out[field.name] = value
        return out

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values outside their ranges."""
        if not 0.0 <= self.intensity <= 1.0:
            raise ConfigError(
                f"intensity must be within 0..1, got {excerpt(self.intensity)}", key="intensity"
            )
        if not 0 <= self.transition_ms <= 5000:
            raise ConfigError(
                f"transition_ms must be within 0..5000, got {excerpt(self.transition_ms)}",
                key="transition_ms",
            )
        for field in dataclasses.fields(Limits):
            value = getattr(self.limits, field.name)
            if not math.isfinite(value) or value <= 0:
                key = f"limits.{field.name}"
                raise ConfigError(f"{key} must be a positive finite number, got {excerpt(value)}", key=key)
        if self.device not in DEVICES:
            raise ConfigError(
                f"device must be one of {', '.join(DEVICES)}, got {excerpt(self.device)}", key="device"
            )
        if self.engine not in ENGINES:
            raise ConfigError(
                f"engine must be one of {', '.join(ENGINES)}, got {excerpt(self.engine)}", key="engine"
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {excerpt(self.threads)}", key="threads")
        if not 0 < self.server.http_port < 65536:
            port = self.server.http_port
            raise ConfigError(
                f"server.http_port must be 1..65535, got {excerpt(port)}", key="server.http_port"
            )
        for name in ("memory_mb", "disk_mb"):
            if getattr(self.cache, name) < 0:
                value = getattr(self.cache, name)
                raise ConfigError(f"cache.{name} must be >= 0, got {excerpt(value)}", key=f"cache.{name}")
        if self.server.audiosocket is not None:
            split_host_port(self.server.audiosocket, key="server.audiosocket")
        if self.server.wyoming_uri is not None:
            split_wyoming_uri(self.server.wyoming_uri, key="server.wyoming_uri")


def split_host_port(value: str, *, key: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 hosts in brackets) → ``(host, port)``; :class:`ConfigError` naming ``key``
    otherwise."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key} must be HOST:PORT (port 0..65535), got {excerpt(value)}", key=key)
    return host, int(port)


def split_wyoming_uri(value: str, *, key: str) -> tuple[str, str | None, int | None, str | None]:
    """A Wyoming URI → ``(scheme, host, port, path)``: ``tcp://HOST:PORT`` gives host and port,
    ``unix://PATH`` the path, ``stdio://`` neither; :class:`ConfigError` naming ``key`` otherwise."""
    problem = f"{key} must be tcp://HOST:PORT, unix://PATH or stdio://, got {excerpt(value)}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(problem, key=key) from None
    if parts.scheme == "tcp" and parts.hostname and port is not None:
        return "tcp", parts.hostname, port, None
    if parts.scheme == "unix" and parts.path:
        return "unix", None, None, parts.path
    if parts.scheme == "stdio":
        return "stdio", None, None, None
    raise ConfigError(problem, key=key)


_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = EXCERPT_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 6


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters; a cut one ends with how
    long the value is (``… (N characters)``, ``… (N items)``). The work is bounded too: only the
    first few items of a container are looked at."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}… ({len(value)} characters)"
    try:
        shown = _REPR.repr(value)
    except ValueError:  # an int with more digits than Python prints
        shown = f"<{type(value).__name__}>"
    cut = len(shown) > limit
    if cut:
        shown = shown[:limit] + "…"
    if isinstance(value, Sized) and (cut or len(value) > _REPR.maxlist):
        shown += f" ({len(value)} items)"
    return shown


def _key_text(prefix: str, key: Any) -> str:
    """The dotted path of ``key`` under ``prefix`` for a message; a long key is cut, one that is no
    string shown as an excerpt."""
    if not isinstance(key, str):
        return f"{prefix}{excerpt(key)}"
    if len(key) <= EXCERPT_CHARS:
        return f"{prefix}{key}"
    return f"{prefix}{key[:EXCERPT_CHARS]}… ({len(key)} characters)"


def _check_keys(data: Any, cls: type, prefix: str) -> None:
    if not isinstance(data, Mapping):
        where = prefix.rstrip(".") or "configuration"
        raise ConfigError(f"{where} must be a mapping, got {excerpt(data)}", key=prefix.rstrip(".") or None)
    allowed = [f.name for f in dataclasses.fields(cls)]
    for key, value in data.items():
        if key not in allowed:
            raise _unknown_key(prefix, key, value, allowed)


def _unknown_key(prefix: str, key: Any, value: Any, allowed: Iterable[str]) -> ConfigError:
    name = _key_text(prefix, key)
    return ConfigError(
        f"unknown configuration key '{name}' (value {excerpt(value)}); allowed here: {', '.join(allowed)}",
        key=name,
    )


def _section(cls: type, raw: Any, name: str) -> Any:
    _check_keys(raw, cls, f"{name}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return cls(**{key: _coerce(fields[key], value, f"{name}.{key}") for key, value in raw.items()})


def _enum(cls: type[enum.Enum], raw: Any, key: str) -> Any:
    try:
        return cls(raw)
    except (ValueError, TypeError):
        allowed = ", ".join(member.value for member in cls)
        raise ConfigError(f"{key} must be one of {allowed}, got {excerpt(raw)}", key=key) from None


_TYPES = {"int": int, "float": float, "str": str, "str | None": str, "int | None": int, "bool": bool}


def _coerce(field: dataclasses.Field, raw: Any, key: str) -> Any:
    kind = str(field.type)
    if raw is None and "None" in kind:
        return None
    want = _TYPES.get(kind)
    if want is None:
        return raw
    if want is float and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        try:
            number = float(raw)
        except OverflowError:  # an int beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{key} must be a finite number, got {excerpt(raw)}", key=key)
        return number
    if (isinstance(raw, bool) and want is not bool) or not isinstance(raw, want):
        raise ConfigError(f"{key} must be {kind}, got {excerpt(raw)}", key=key)
    return raw


def _merge(base: dict[str, Any], override: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key not in base:
            raise _unknown_key(prefix, key, value, base)
        if isinstance(base[key], dict) and isinstance(value, Mapping):
            merged[key] = _merge(base[key], value, f"{prefix}{key}.")
        else:
            merged[key] = value
    return merged


class YamlLimitError(yaml.composer.ComposerError):
    """A YAML document beyond :class:`BoundedSafeLoader`'s bounds; its marks give line and column."""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` under which a small document stays small.

    Each alias (``*name``) counts the nodes it stands for, expanded; once the aliases of one
    document stand for more than :data:`MAX_ALIAS_NODES` nodes (a "billion laughs" file), an
    alias to a node that contains it, or collections nested deeper than :data:`MAX_YAML_DEPTH`,
    composing stops with a :class:`YamlLimitError` at that alias or collection. The check costs
    one visit per distinct node, so it answers at once however large the expansion would be.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) → expanded node count; nodes live as long as the document
        self._alias_nodes = 0
        self._depth = 0

    def compose_document(self) -> Any:
        self._sizes.clear()
        self._alias_nodes = 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is the base class's error
                if target.end_mark is None:
                    raise YamlLimitError(
                        None,
                        None,
                        f"alias *{event.anchor} refers to a node that contains it",
                        event.start_mark,
                    )
                self._alias_nodes += self._expanded(target)
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise YamlLimitError(
                        None,
                        None,
                        f"aliases stand for more than {MAX_ALIAS_NODES} nodes (at *{event.anchor}); "
                        "write the values out instead",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if self._depth >= MAX_YAML_DEPTH:
                raise YamlLimitError(
                    None, None, f"collections nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark
                )
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def _expanded(self, node: yaml.Node) -> int:
        size = self._sizes.get(id(node))
        if size is None:
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._expanded(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._expanded(k) + self._expanded(v) for k, v in node.value)
            else:
                size = 1
            self._sizes[id(node)] = size
        return size


def load_shipped_yaml(text: str) -> Any:
    """A YAML document shipped inside the package (plugin.yaml, presets, calibrations): ours and
    small, so it is read with libyaml's safe loader where PyYAML has it (about 9× faster than the
    pure-Python one: 2 ms instead of 19 ms for the presets, a share of every command's start-up).
    User files go through :class:`BoundedSafeLoader`."""
    return yaml.load(text, Loader=_SHIPPED_LOADER)


_SHIPPED_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


def read_manifest() -> dict[str, Any]:
    """The parsed plugin.yaml shipped with the package (manifest and defaults)."""
    text = resources.files("emotts_plugin").joinpath("plugin.yaml").read_text(encoding="utf-8")
    return load_shipped_yaml(text)


def read_yaml_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a user config file with :class:`BoundedSafeLoader`; a file that cannot be read, is
    over :data:`MAX_FILE_BYTES`, is not UTF-8 YAML within the loader's bounds or holds no mapping
    is a :class:`ConfigError` naming the file (and the line and column where YAML went wrong)."""
    name = repr(os.fspath(path))
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {name}: {exc.strerror}", key=None) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"config file {name} is larger than {MAX_FILE_BYTES} bytes", key=None)
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=BoundedSafeLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {name} is not UTF-8 text ({exc.reason} at byte {exc.start})", key=None
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        detail = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"config file {name}{where}: {_clip(detail)}", key=None) from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an int of more digits than Python prints
        raise ConfigError(f"config file {name} is not valid YAML: {_clip(str(exc))}", key=None) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {name} must hold a mapping, got {type(data).__name__}", key=None)
    return data


def _clip(text: str, limit: int = 2 * EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def load_config(
    files: list[str | os.PathLike[str]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: plugin.yaml defaults, then user files, then overrides.

    :param files: user config files, in order; when ``None``, ``$EMOTTS_CONFIG``
        (if set) is the one file.
    :param overrides: keys set explicitly (e.g. from command-line flags); ``None``
        values are ignored so unset flags keep the file values.
    """
    data = read_manifest()["defaults"]
    if files is None:
        env = os.environ.get(CONFIG_ENV)
        files = [env] if env else []
    for path in files:
        data = _merge(data, read_yaml_file(path))
    if overrides:
        data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    return Config.from_dict(data)
