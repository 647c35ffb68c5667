"""Configuration: the `defaults` of plugin.yaml, overridden by user files and flags.

Load order (later wins): ``plugin.yaml`` shipped with the package, then each
user config file (``--config FILE`` or ``$EMOTTS_CONFIG``), then explicit
overrides (command-line flags). Every layer is checked key by key; an unknown
key is a :class:`~emotts_plugin.errors.ConfigError` naming the key, the keys
allowed there, and the value.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import ConfigError

CONFIG_ENV = "EMOTTS_CONFIG"


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
    wyoming_uri: str = "tcp://0.0.0.0:10200"
    """Where the Wyoming server listens (tcp://, unix:// or stdio://)."""
    audiosocket: str | None = None
    """``HOST:PORT`` of the AudioSocket server for Asterisk calls (``[::1]:9092`` for IPv6); none runs no server."""


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The rendered-utterance cache (:mod:`emotts_plugin.cache`)."""

    memory_mb: int = 64
    """Bound of the in-memory tier in MiB; 0 turns the cache off (unless ``dir`` is set)."""
    dir: str | None = None
    """Folder of the on-disk tier (kept across restarts); none for memory only."""
    disk_mb: int = 512
    """Bound of the on-disk tier in MiB."""


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
    """Seconds a client may take to send one request's headers and body (HTTP) or one message
    (Wyoming, Twilio, AudioSocket) once it has started; slower clients are disconnected."""
    idle_timeout_s: float = 60.0
    """Seconds a connection may stay silent between requests or messages before it is closed
    (HTTP keep-alive, Wyoming)."""
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
            raise ConfigError(f"intensity must be within 0..1, got {self.intensity!r}", key="intensity")
        if not 0 <= self.transition_ms <= 5000:
            raise ConfigError(
                f"transition_ms must be within 0..5000, got {self.transition_ms!r}", key="transition_ms"
            )
        for field in dataclasses.fields(Limits):
            value = getattr(self.limits, field.name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"limits.{field.name} must be a positive finite number, got {value!r}", key=f"limits.{field.name}"
                )
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}", key="device")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}", key="engine")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads!r}", key="threads")
        if not 0 < self.server.http_port < 65536:
            raise ConfigError(f"server.http_port must be 1..65535, got {self.server.http_port!r}", key="server.http_port")
        for name in ("memory_mb", "disk_mb"):
            if getattr(self.cache, name) < 0:
                raise ConfigError(f"cache.{name} must be >= 0, got {getattr(self.cache, name)!r}", key=f"cache.{name}")
        if self.server.audiosocket is not None:
            split_host_port(self.server.audiosocket, key="server.audiosocket")


def split_host_port(value: str, *, key: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 hosts in brackets) → ``(host, port)``; :class:`ConfigError` naming ``key`` otherwise."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key} must be HOST:PORT (port 0..65535), got {value!r}", key=key)
    return host, int(port)


def _check_keys(data: Any, cls: type, prefix: str) -> None:
    if not isinstance(data, Mapping):
        where = prefix.rstrip(".") or "configuration"
        raise ConfigError(f"{where} must be a mapping, got {data!r}", key=prefix.rstrip(".") or None)
    allowed = [f.name for f in dataclasses.fields(cls)]
    for key, value in data.items():
        if key not in allowed:
            raise _unknown_key(prefix, key, value, allowed)


def _unknown_key(prefix: str, key: str, value: Any, allowed: Iterable[str]) -> ConfigError:
    return ConfigError(
        f"unknown configuration key '{prefix}{key}' (value {value!r}); allowed here: {', '.join(allowed)}",
        key=f"{prefix}{key}",
    )


def _section(cls: type, raw: Any, name: str) -> Any:
    _check_keys(raw, cls, f"{name}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return cls(**{key: _coerce(fields[key], value, f"{name}.{key}") for key, value in raw.items()})


def _enum(cls: type[enum.Enum], raw: Any, key: str) -> Any:
    try:
        return cls(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise ConfigError(f"{key} must be one of {allowed}, got {raw!r}", key=key) from None


_TYPES = {"int": int, "float": float, "str": str, "str | None": str, "int | None": int, "bool": bool}


def _coerce(field: dataclasses.Field, raw: Any, key: str) -> Any:
    kind = str(field.type)
    if raw is None and "None" in kind:
        return None
    want = _TYPES.get(kind)
    if want is None:
        return raw
    if want is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if (isinstance(raw, bool) and want is not bool) or not isinstance(raw, want):
        raise ConfigError(f"{key} must be {kind}, got {raw!r}", key=key)
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


def read_manifest() -> dict[str, Any]:
    """The parsed plugin.yaml shipped with the package (manifest and defaults)."""
    text = resources.files("emotts_plugin").joinpath("plugin.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def read_yaml_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a user config file; an unreadable or non-mapping file is a ConfigError."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}", key=None) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}", key=None) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}")
    return data


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
