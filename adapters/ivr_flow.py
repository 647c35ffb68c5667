"""IVR prompt flows: every prompt of a call flow rendered into telephone sound files.

A flow file is YAML::

    defaults:                 # optional, for prompts that do not set these
      emotion: calm
      intensity: 0.6
    prompts:
      - id: greeting          # the file name: greeting.wav
        text: Thank you for calling.
      - id: menu
        ssml: |
          <speak>For billing, press <say-as interpret-as="digits">1</say-as>.</speak>
        emotion: neutral

Each prompt has an ``id`` (letters, digits, ``.``, ``_``, ``-``; it names the file), what to
say as ``text`` (read leniently: chat cues work, repairs are warnings) or ``ssml`` (read
strictly: a markup problem is an error with its line in the flow file), and optionally
``emotion``, ``intensity`` and ``voice``.

:func:`load_flow` checks the whole file and reports every problem at once
(:class:`FlowError`). :func:`render_flow` writes ``DIR/<id>.<ext>`` for each format asked for
beside ``DIR/manifest.json``, which lists every prompt's files in all the formats the folder
holds (Asterisk keeps formats side by side and plays the one its channel needs without
transcoding). A prompt is rendered once and that take encoded in each format, so every caller
hears the same audio, the same length to the sample. Only the files of the formats being
rendered are written or pruned; other formats' files are left as they are. A file is rendered
only when its content address (:func:`emotts_plugin.adapters.telephony.prompt_key`) changed or
it is missing or altered. Each file and the manifest are replaced atomically, the manifest
after every prompt, so a run that is killed keeps what it finished and leaves no partial file;
the next run removes the temporary files a killed run left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

import soundfile
import yaml
from tqdm import tqdm

from emotts_plugin.adapters import telephony
from emotts_plugin.adapters.telephony import Prompt, TelephoneFormat
from emotts_plugin.audio import write_atomic
from emotts_plugin.config import MAX_FILE_BYTES, BoundedSafeLoader
from emotts_plugin.errors import ConfigError, FlowError, MarkupError
from emotts_plugin.synthesizer import Synthesizer

_LOGGER = logging.getLogger(__name__)

#: File in the output folder that records what was rendered.
MANIFEST_NAME = "manifest.json"
#: Bumped when the manifest's layout changes; other versions are ignored (everything re-renders).
MANIFEST_VERSION = 2
#: Keys of a flow file's top-level mapping.
FLOW_KEYS = ("defaults", "prompts")
#: Keys of one prompt.
PROMPT_KEYS = ("id", "text", "ssml", "emotion", "intensity", "voice")
#: Keys of ``defaults``.
DEFAULT_KEYS = ("emotion", "intensity", "voice")
#: Longest prompt id (it becomes a file name).
MAX_ID_LENGTH = 100

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RESERVED_IDS = frozenset({"manifest"})
_PARTIAL_GLOB = ".emotts-*.part"  # the temporary files of audio.write_atomic

_Problems = list[tuple[str, yaml.Node]]  # (message, where)
_Seen = dict[str, tuple[int, int]]  # folded id → (index, line) of the prompt that has it


# -- flows ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowPrompt:
    """One prompt of a flow: what to say, and the file it becomes."""

    id: str
    """Name of the prompt and stem of its file (``<id>.<ext>``)."""
    prompt: Prompt
    """Text and settings, with the flow's ``defaults`` applied."""
    markup: bool = False
    """``True`` when given as ``ssml`` (checked strictly), ``False`` for ``text`` (read leniently)."""
    index: int | None = None
    """1-based position in the flow file's ``prompts`` list."""
    line: int | None = None
    """1-based line of the prompt in the flow file."""
    text_line: int | None = None
    """Line of the flow file holding the text's first line, when the text's lines are the
    file's lines (a ``|`` block or a one-line value); ``None`` otherwise."""

    def fields(self) -> dict[str, Any]:
        """The prompt as a flow file (and the manifest) spells it, without ``id``."""
        return {
            "ssml" if self.markup else "text": self.prompt.text,
            "emotion": self.prompt.emotion,
            "intensity": self.prompt.intensity,
            "voice": self.prompt.voice,
        }


@dataclass(frozen=True, slots=True)
class Flow:
    """The prompts of a call flow, in file order."""

    prompts: tuple[FlowPrompt, ...]
    """Every prompt; ids are unique (ignoring case)."""
    path: str | None = None
    """The flow file, as it was named to :func:`load_flow`."""
    warnings: tuple[str, ...] = ()
    """Lenient repairs made in ``text`` prompts, each with its place in the file."""


@dataclass(frozen=True, slots=True)
class FlowProblem:
    """One thing wrong with a flow."""

    message: str
    """What is wrong."""
    line: int | None = None
    """1-based line in the flow file, when known."""
    index: int | None = None
    """1-based position of the prompt it concerns, if any."""
    id: str | None = None
    """That prompt's id, when it has a usable one."""

    def __str__(self) -> str:
        if self.index is None:
            return self.message
        name = f" ({self.id!r})" if self.id else ""
        return f"prompt #{self.index}{name}: {self.message}"


def load_flow(path: str | os.PathLike[str], *, synthesizer: Synthesizer | None = None) -> Flow:
    """Read and check the flow file at ``path``.

    :param synthesizer: when given, emotions and voices are checked against it and every
        prompt is parsed (``ssml`` strictly), so unknown names and markup errors are
        reported here too, with their lines.
    :raises FlowError: every problem of the file at once.
    :raises ConfigError: the file cannot be read or is not UTF-8.
    """
    name = os.fspath(path)
    try:
        size = Path(name).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"flow file {name!r} is {size:,} bytes; at most {MAX_FILE_BYTES:,} are read")
        text = Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read flow file {name!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"flow file {name!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_flow(text, path=name, synthesizer=synthesizer)


def parse_flow(text: str, *, path: str | None = None, synthesizer: Synthesizer | None = None) -> Flow:
    """:func:`load_flow` for a flow already in memory; ``path`` names it in messages."""
    reader = _FlowReader(synthesizer)
    try:
        root = yaml.compose(text, Loader=BoundedSafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        raise FlowError(
            path, [FlowProblem(f"not valid YAML: {detail}", line=mark.line + 1 if mark else None)]
        ) from None
    except yaml.YAMLError as exc:
        raise FlowError(path, [FlowProblem(f"not valid YAML: {exc}")]) from None
    prompts = reader.flow(root)
    if reader.problems:
        raise FlowError(path, reader.problems)
    return Flow(
        prompts=prompts, path=path, warnings=tuple(f"{path or '<flow>'}:{w}" for w in reader.warnings)
    )


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    try:
        value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError:
        return f"a value tagged {node.tag}"
    if value is None:
        return "nothing"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _FlowReader:
    """Walks the composed YAML of a flow, keeping every problem with its line."""

    def __init__(self, synthesizer: Synthesizer | None) -> None:
        self.synthesizer = synthesizer
        self.problems: list[FlowProblem] = []
        self.warnings: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._voices = {voice.name for voice in synthesizer.voices()} if synthesizer else None

    def problem(
        self, message: str, node: yaml.Node | None, index: int | None = None, id: str | None = None
    ) -> None:
        self.problems.append(
            FlowProblem(message, line=_line(node) if node is not None else None, index=index, id=id)
        )

    def scalar(self, node: yaml.Node) -> Any:
        """The value of a scalar node; other nodes (and unreadable tags) come back as the node itself."""
        if not isinstance(node, yaml.ScalarNode):
            return node
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node

    def mapping(
        self, node: yaml.MappingNode, allowed: tuple[str, ...], where: str = ""
    ) -> tuple[dict[str, yaml.Node], _Problems]:
        """The entries of ``node`` by key, and the problems with its keys; ``where`` prefixes the messages."""
        entries: dict[str, yaml.Node] = {}
        problems: _Problems = []
        allowed_text = ", ".join(allowed)
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                problems.append(
                    (
                        f"{where}key {_describe(key_node)} is not a name; allowed keys: {allowed_text}",
                        key_node,
                    )
                )
            elif key in entries:
                problems.append(
                    (f"{where}{key!r} is given twice (first on line {_line(entries[key])})", key_node)
                )
            elif key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                message = (
                    f"{where}unknown key {key!r} (value {_describe(value_node)}); "
                    f"allowed keys: {allowed_text}{hint}"
                )
                problems.append((message, key_node))
            else:
                entries[key] = value_node
        return entries, problems

    # -- the file -----------------------------------------------------------------------------

    def flow(self, root: yaml.Node | None) -> tuple[FlowPrompt, ...]:
        if root is None:
            self.problem("the file is empty; a flow is a mapping with a 'prompts' list", None)
            return ()
        if not isinstance(root, yaml.MappingNode):
            self.problem(f"a flow is a mapping with a 'prompts' list, got {_describe(root)}", root)
            return ()
        entries, problems = self.mapping(root, FLOW_KEYS, "top level: ")
        for message, node in problems:
            self.problem(message, node)
        before = len(self.problems)
        defaults = self.defaults(entries.get("defaults"))
        defaults_ok = len(self.problems) == before
        prompts_node = entries.get("prompts")
        if prompts_node is None:
            if problems:  # a misspelled 'prompts' is reported as such
                return ()
            self.problem(
                "no 'prompts' list (each prompt: id, text or ssml, and optional emotion, intensity, voice)",
                root,
            )
            return ()
        if not isinstance(prompts_node, yaml.SequenceNode):
            self.problem(f"'prompts' must be a list of prompts, got {_describe(prompts_node)}", prompts_node)
            return ()
        if not prompts_node.value:
            self.problem("'prompts' is empty", prompts_node)
            return ()
        seen: _Seen = {}
        prompts = []
        for index, node in enumerate(prompts_node.value, 1):
            prompt = self.prompt(node, index, defaults, seen)
            if prompt is not None:
                prompts.append(prompt)
                if self.synthesizer is not None and defaults_ok:
                    self.check_markup(prompt)
        return tuple(prompts)

    def defaults(self, node: yaml.Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                f"'defaults' must be a mapping of {', '.join(DEFAULT_KEYS)}, got {_describe(node)}", node
            )
            return {}
        entries, problems = self.mapping(node, DEFAULT_KEYS, "defaults: ")
        for message, key_node in problems:
            self.problem(message, key_node)
        values = {}
        for key, value_node in entries.items():
            value, message = self.setting(key, value_node)
            if message:
                self.problem(f"defaults: {message}", value_node)
            else:
                values[key] = value
        return values

    # -- one prompt ---------------------------------------------------------------------------

    def prompt(self, node: yaml.Node, index: int, defaults: dict[str, Any], seen: _Seen) -> FlowPrompt | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                f"a prompt is a mapping with 'id' and 'text' or 'ssml', got {_describe(node)}", node, index
            )
            return None
        before = len(self.problems)
        entries, key_problems = self.mapping(node, PROMPT_KEYS)
        prompt_id = self.prompt_id(entries.get("id"), node, index, seen)
        for message, key_node in key_problems:
            self.problem(message, key_node, index, prompt_id)

        if "text" in entries and "ssml" in entries:
            self.problem("give 'text' or 'ssml', not both", entries["ssml"], index, prompt_id)
        elif "text" not in entries and "ssml" not in entries:
            self.problem("missing 'text' or 'ssml' (what to say)", node, index, prompt_id)
        markup = "ssml" in entries
        text_node = entries.get("ssml" if markup else "text")
        text = self.scalar(text_node) if text_node is not None else None
        field = "ssml" if markup else "text"
        if text_node is not None and not isinstance(text, str):
            self.problem(
                f"{field!r} must be a string, got {_describe(text_node)}", text_node, index, prompt_id
            )
        elif isinstance(text, str) and not text.strip():
            self.problem(f"{field!r} is empty", text_node, index, prompt_id)

        settings = dict(defaults)
        for key in DEFAULT_KEYS:
            if key in entries:
                value, message = self.setting(key, entries[key])
                if message:
                    self.problem(message, entries[key], index, prompt_id)
                else:
                    settings[key] = value
        if len(self.problems) > before or prompt_id is None:
            return None
        return FlowPrompt(
            id=prompt_id,
            prompt=Prompt(
                text, **{key: settings.get(key) for key in DEFAULT_KEYS}, mode="strict" if markup else None
            ),
            markup=markup,
            index=index,
            line=_line(node),
            text_line=_text_line(text_node),
        )

    def prompt_id(
        self, node: yaml.Node | None, prompt_node: yaml.Node, index: int, seen: _Seen
    ) -> str | None:
        if node is None:
            self.problem("missing 'id' (the prompt's file name)", prompt_node, index)
            return None
        value = self.scalar(node)
        message = None
        if not isinstance(value, str):
            hint = (
                f' (quote it: id: "{value}")'
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else ""
            )
            message = f"'id' must be a string, got {_describe(node)}{hint}"
        else:
            message = id_problem(value)
        if message:
            self.problem(message, node, index)
            return None
        folded = value.casefold()
        if folded in seen:
            other_index, other_line = seen[folded]
            self.problem(
                f"duplicate id {value!r}: prompt #{other_index} on line {other_line} has it "
                "(ids name files, so case does not count)",
                node,
                index,
            )
            return None
        seen[folded] = (index, _line(node))
        return value

    def setting(self, key: str, node: yaml.Node) -> tuple[Any, str | None]:
        """The value of ``emotion``, ``intensity`` or ``voice`` at ``node``, or a message saying what is
        wrong."""
        value = self.scalar(node)
        if key == "intensity":
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not 0.0 <= value <= 1.0:
                return None, f"'intensity' must be a number within 0..1, got {_describe(node)}"
            return float(value), None
        if not isinstance(value, str) or not value.strip():
            return None, f"{key!r} must be a non-empty string, got {_describe(node)}"
        value = value.strip()
        if self.synthesizer is None:
            return value, None
        if key == "emotion":
            try:
                self.synthesizer.runtime.space.parse_mixture(value)
            except ValueError as exc:
                return None, f"'emotion': {exc}"
        elif value not in self._voices:
            return None, f"unknown voice {value!r}; available voices: {', '.join(sorted(self._voices))}"
        return value, None

    def check_markup(self, prompt: FlowPrompt) -> None:
        """Parse the prompt as it will be rendered: ``ssml`` strictly, ``text`` in the configured mode."""
        field = "ssml" if prompt.markup else "text"
        try:
            plan, _ = self.synthesizer.plan(prompt.prompt.text, prompt.prompt.options())
        except MarkupError as exc:
            line = prompt.text_line + exc.line - 1 if prompt.text_line and exc.line else prompt.line
            where = f" line {exc.line}, column {exc.column or 1}" if exc.line else ""
            self.problems.append(
                FlowProblem(f"{field}{where}: {exc.message}", line=line, index=prompt.index, id=prompt.id)
            )
            return
        except ValueError as exc:
            self.problems.append(FlowProblem(str(exc), line=prompt.line, index=prompt.index, id=prompt.id))
            return
        if prompt.markup:
            for voice in sorted({s.voice for s in plan.segments if s.voice and s.voice not in self._voices}):
                known = ", ".join(sorted(self._voices))
                message = f"ssml: voice {voice!r} is not available (voices: {known})"
                line = prompt.text_line or prompt.line
                self.problems.append(FlowProblem(message, line=line, index=prompt.index, id=prompt.id))
        for warning in plan.warnings:
            line = prompt.text_line + warning.line - 1 if prompt.text_line else prompt.line
            self.warnings.append(f"{line}: prompt #{prompt.index} ({prompt.id!r}): {field} {warning}")


def _text_line(node: yaml.Node | None) -> int | None:
    if node is None:
        return None
    if node.style == "|":
        return node.start_mark.line + 2  # the block starts on the line after its indicator
    if node.start_mark.line == node.end_mark.line:
        return node.start_mark.line + 1
    return None


def id_problem(prompt_id: str) -> str | None:
    """Why ``prompt_id`` cannot name a prompt file, or ``None`` when it can."""
    if not _SAFE_ID.fullmatch(prompt_id) or len(prompt_id) > MAX_ID_LENGTH:
        return (
            f"id {prompt_id!r} is not a usable file name: use letters, digits, '.', '_' and '-', "
            f"starting with a letter or digit, at most {MAX_ID_LENGTH} characters"
        )
    if prompt_id.casefold() in _RESERVED_IDS:
        return f"id {prompt_id!r} is reserved (the folder's {MANIFEST_NAME})"
    return None


# -- the manifest ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptFile:
    """One file of a rendered prompt, as the manifest records it."""

    file: str
    """File name inside the output folder (``<id>.<ext>``)."""
    format: TelephoneFormat
    """Encoding of the file."""
    take: str
    """:func:`~emotts_plugin.adapters.telephony.take_key` of the audio it holds."""
    key: str
    """Content address of the take in this format (:func:`~emotts_plugin.adapters.telephony.prompt_key`,
    the ``ETag`` of ``GET /v1/ivr/prompt``)."""
    size: int
    """Length of the file in bytes."""
    sha256: str
    """Hex SHA-256 of the file."""
    samples: int
    """Length of the audio in samples at the format's rate."""

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return self.samples / self.format.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "take": self.take,
            "key": self.key,
            "sample_rate": self.format.sample_rate,
            "samples": self.samples,
            "duration_s": self.duration_s,
            "size": self.size,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, fmt: TelephoneFormat, data: Any) -> "PromptFile":
        """The ``fmt`` file record ``data``; :class:`ValueError` for a missing, unknown or ill-typed field."""
        types = {
            "file": str,
            "take": str,
            "key": str,
            "sample_rate": int,
            "samples": int,
            "duration_s": (int, float),
            "size": int,
            "sha256": str,
        }
        _check_fields(data, types, f"the {fmt.value} file")
        if data["sample_rate"] != fmt.sample_rate:
            raise ValueError(
                f"the {fmt.value} file has sample_rate {data['sample_rate']}, not {fmt.sample_rate}"
            )
        name = data["file"]
        if name != Path(name).name or name.startswith("."):
            raise ValueError(f"file {name!r} is not a plain file name")
        return cls(
            file=name,
            format=fmt,
            take=data["take"],
            key=data["key"],
            size=data["size"],
            sha256=data["sha256"],
            samples=data["samples"],
        )


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """What the manifest records about one prompt: what it says, and its files in every format."""

    take: str
    """:func:`~emotts_plugin.adapters.telephony.take_key` of the prompt as last rendered; a file
    whose :attr:`PromptFile.take` differs holds an earlier version of the prompt."""
    prompt: Prompt
    """The text and settings it was rendered from."""
    markup: bool = False
    """Whether the text was given as ``ssml``."""
    files: tuple[PromptFile, ...] = ()
    """Its files, at most one per format, in the order of :class:`TelephoneFormat`."""

    def file_of(self, fmt: TelephoneFormat) -> PromptFile | None:
        """The file of format ``fmt``, if there is one."""
        return next((record for record in self.files if record.format is fmt), None)

    def with_file(self, record: PromptFile) -> "ManifestEntry":
        """This entry with ``record`` in place of the file of its format, or of its name (``wav`` and
        ``wav-ulaw`` both write ``<id>.wav``: the new file replaced the other)."""
        kept = [f for f in self.files if f.format is not record.format and f.file != record.file]
        return dataclasses.replace(self, files=_in_format_order([*kept, record]))

    def without(self, formats: tuple[TelephoneFormat, ...]) -> "ManifestEntry":
        """This entry without its files of ``formats``."""
        return dataclasses.replace(self, files=tuple(f for f in self.files if f.format not in formats))

    def to_dict(self) -> dict[str, Any]:
        return {
            "take": self.take,
            "ssml" if self.markup else "text": self.prompt.text,
            "emotion": self.prompt.emotion,
            "intensity": self.prompt.intensity,
            "voice": self.prompt.voice,
            "files": {record.format.value: record.to_dict() for record in self.files},
        }

    @classmethod
    def from_dict(cls, data: Any) -> "ManifestEntry":
        """:raises ValueError: a missing, unknown or ill-typed field."""
        types = {
            "take": str,
            "text": None,
            "ssml": None,
            "emotion": None,
            "intensity": None,
            "voice": None,
            "files": dict,
        }
        _check_fields(data, types, "an entry")
        markup = "ssml" in data
        text = data.get("ssml" if markup else "text")
        if not isinstance(text, str):
            raise ValueError(f"field 'text' or 'ssml' is missing or not a string: {text!r}")
        files = []
        for name, record in data["files"].items():
            files.append(PromptFile.from_dict(TelephoneFormat.parse(name), record))
        names = [record.file for record in files]
        if len(set(names)) != len(names):
            raise ValueError(f"two formats share a file: {', '.join(sorted(names))}")
        return cls(
            take=data["take"],
            prompt=Prompt(
                text,
                emotion=data.get("emotion"),
                intensity=data.get("intensity"),
                voice=data.get("voice"),
                mode="strict" if markup else None,
            ),
            markup=markup,
            files=_in_format_order(files),
        )


def _check_fields(data: Any, types: dict[str, Any], what: str) -> None:
    """:class:`ValueError` unless ``data`` is an object of the fields of ``types`` (``None``: any type,
    optional), each required one of its type."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be an object, got {data!r}")
    unknown = sorted(set(data) - set(types))
    if unknown:
        field = unknown[0]
        raise ValueError(
            f"unknown field {field!r} (value {data[field]!r}) in {what}; allowed: {', '.join(sorted(types))}"
        )
    for name, kind in types.items():
        value = data.get(name)
        if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            kind_name = getattr(kind, "__name__", "number")
            raise ValueError(f"field {name!r} of {what} is missing or not a {kind_name}: {value!r}")


def _in_format_order(files: list[PromptFile]) -> tuple[PromptFile, ...]:
    order = list(TelephoneFormat)
    return tuple(sorted(files, key=lambda record: order.index(record.format)))


def read_manifest(out_dir: str | os.PathLike[str]) -> tuple[dict[str, ManifestEntry], list[str]]:
    """The entries of ``out_dir``'s manifest by prompt id, and warnings about what could not be used.

    A missing manifest is empty; an unreadable one, or one of another version, is ignored
    with a warning (its prompts then render again); a malformed entry is dropped.
    """
    path = Path(out_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as exc:
        return {}, [f"ignoring {path}: {exc}"]
    version = data.get("manifest_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version < MANIFEST_VERSION:
        return {}, [
            f"ignoring {path}: manifest version {version} was written by an older emotts; "
            "every prompt renders again"
        ]
    if version != MANIFEST_VERSION or not isinstance(data.get("prompts"), dict):
        return {}, [f"ignoring {path}: not an emotts prompt manifest of version {MANIFEST_VERSION}"]
    entries, warnings = {}, []
    for prompt_id, raw in data["prompts"].items():
        try:
            if id_problem(prompt_id):
                raise ValueError(id_problem(prompt_id))
            entry = ManifestEntry.from_dict(raw)
        except ValueError as exc:
            warnings.append(f"{path}: ignoring the entry {prompt_id!r}: {exc}")
            continue
        entries[prompt_id] = entry
    return entries, warnings


def _manifest_bytes(flow: Flow, entries: dict[str, ManifestEntry]) -> bytes:
    try:
        generator = f"emotts {metadata.version('emotts')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        generator = "emotts"
    present = {record.format for entry in entries.values() for record in entry.files}
    data = {
        "manifest_version": MANIFEST_VERSION,
        "generator": generator,
        "flow": flow.path,
        "formats": [fmt.value for fmt in TelephoneFormat if fmt in present],
        "prompts": {prompt_id: entry.to_dict() for prompt_id, entry in entries.items()},
    }
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# -- rendering ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderReport:
    """What :func:`render_flow` did."""

    out_dir: str
    """The output folder."""
    formats: tuple[TelephoneFormat, ...]
    """Encodings rendered this run."""
    rendered: tuple[str, ...]
    """Ids of the prompts rendered this run (in one format or more), in flow order."""
    skipped: tuple[str, ...]
    """Ids of the prompts whose files (in every format of the run) were already current."""
    pruned: tuple[str, ...]
    """Ids no longer in the flow whose files of this run's formats were deleted (``prune``)."""
    orphaned: tuple[str, ...]
    """Ids no longer in the flow that still have files: all of them without ``prune``; with it,
    those with files of formats this run did not render."""
    seconds: float
    """Total audio length of the flow's prompts (the same in every format)."""
    elapsed_s: float
    """Wall time of the run."""
    removed_partials: int = 0
    """Temporary files of an interrupted run that were removed."""
    warnings: tuple[str, ...] = ()
    """Manifest problems that made prompts render again."""
    stale: tuple[str, ...] = ()
    """Files of formats this run did not render that hold an earlier version of their prompt."""

    def summary(self) -> str:
        """One line: counts, audio length, formats, folder and time."""
        formats = ", ".join(fmt.value for fmt in self.formats)
        return (
            f"rendered {len(self.rendered)}, unchanged {len(self.skipped)}, pruned {len(self.pruned)}: "
            f"{self.seconds:.1f} s of {formats} audio in {self.out_dir} ({self.elapsed_s:.1f} s)"
        )


def parse_formats(
    formats: TelephoneFormat | str | Iterable[TelephoneFormat | str],
) -> tuple[TelephoneFormat, ...]:
    """The formats of a render, each once, in the order given.

    :raises ValueError: none, an unknown one, or two that write the same file name (``wav`` and
        ``wav-ulaw`` are both ``<id>.wav``).
    """
    if isinstance(formats, str):  # a TelephoneFormat is a str too
        formats = [formats]
    parsed = tuple(dict.fromkeys(TelephoneFormat.parse(fmt) for fmt in formats))
    if not parsed:
        raise ValueError(
            "no format to render; use one or more of " + ", ".join(f.value for f in TelephoneFormat)
        )
    by_extension: dict[str, TelephoneFormat] = {}
    for fmt in parsed:
        other = by_extension.setdefault(fmt.extension, fmt)
        if other is not fmt:
            raise ValueError(
                f"formats {other.value} and {fmt.value} both write <id>.{fmt.extension}; "
                "render them into different folders"
            )
    return parsed


def render_flow(
    synthesizer: Synthesizer,
    flow: Flow,
    out_dir: str | os.PathLike[str],
    formats: TelephoneFormat | str | Iterable[TelephoneFormat | str] = TelephoneFormat.WAV,
    *,
    force: bool = False,
    prune: bool = False,
    progress: bool = False,
) -> RenderReport:
    """Render every prompt of ``flow`` into ``out_dir/<id>.<ext>`` for each of ``formats`` and write
    ``out_dir/manifest.json``, which lists each prompt's files in every format the folder holds.

    Each prompt is rendered once (its take, seeded by :func:`~emotts_plugin.adapters.telephony.take_key`)
    and encoded in each format, so every format holds the same audio. Files of other formats in
    the folder are never touched; a file of a format rendered now replaces one of another format
    with the same name (``wav`` and ``wav-ulaw`` are both ``<id>.wav``).

    A prompt's file is skipped when the manifest holds its current key and the file still has the
    recorded size and SHA-256. Every prompt is keyed before anything is written, so a flow
    with a prompt that cannot be rendered changes nothing.

    :param formats: a :class:`~emotts_plugin.adapters.telephony.TelephoneFormat` or its name, or several.
    :param force: render every prompt, current or not.
    :param prune: delete this run's formats' files and entries of prompts the flow no longer has.
    :param progress: show a progress bar on standard error.
    :raises FlowError: prompts that cannot be keyed (bad ids, emotions, voices, markup).
    :raises ConfigError: another render holds the folder.
    :raises ValueError: an unknown format, or two formats with one file name.
    """
    fmts = parse_formats(formats)
    started = time.monotonic()
    takes = _take_keys(synthesizer, flow)
    keys = {
        (item.id, fmt): telephony.prompt_key(synthesizer, item.prompt, fmt, take=takes[item.id])
        for item in flow.prompts
        for fmt in fmts
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _folder_lock(out):
        removed = _remove_partials(out)
        entries, warnings = read_manifest(out)
        manifest_path = out / MANIFEST_NAME
        written = manifest_path.read_bytes() if manifest_path.is_file() else b""
        flow_ids = {p.id for p in flow.prompts}

        def save() -> None:
            nonlocal written
            order = [p.id for p in flow.prompts if p.id in entries] + [
                i for i in entries if i not in flow_ids
            ]
            data = _manifest_bytes(flow, {prompt_id: entries[prompt_id] for prompt_id in order})
            if data != written:
                write_atomic(str(manifest_path), data)
                written = data

        targets = {f"{p.id}.{fmt.extension}" for p in flow.prompts for fmt in fmts}
        todo: list[tuple[FlowPrompt, list[TelephoneFormat]]] = []
        skipped = []
        for item in flow.prompts:
            entry = entries.get(item.id)
            due = [
                fmt
                for fmt in fmts
                if force
                or entry is None
                or not _is_current(out, entry.file_of(fmt), takes[item.id], keys[item.id, fmt], item.id)
            ]
            if due:
                todo.append((item, due))
            else:
                entries[item.id] = dataclasses.replace(
                    entry, take=takes[item.id], prompt=item.prompt, markup=item.markup
                )
                skipped.append(item.id)

        rendered = []
        with tqdm(
            total=len(todo), desc="rendering", unit="prompt", file=sys.stderr, disable=not (progress and todo)
        ) as bar:
            for item, due in todo:
                bar.set_postfix_str(item.id)
                files = telephony.render_formats(synthesizer, item.prompt, due, take=takes[item.id])
                previous = entries.get(item.id)
                entry = ManifestEntry(
                    take=takes[item.id],
                    prompt=item.prompt,
                    markup=item.markup,
                    files=previous.files if previous is not None else (),
                )
                for fmt, data in files.items():
                    name = f"{item.id}.{fmt.extension}"
                    write_atomic(str(out / name), data)
                    entry = entry.with_file(
                        PromptFile(
                            file=name,
                            format=fmt,
                            take=takes[item.id],
                            key=keys[item.id, fmt],
                            size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(),
                            samples=_samples(data, fmt),
                        )
                    )
                    _LOGGER.debug("rendered %s (%d bytes)", name, len(data))
                entries[item.id] = entry
                save()
                rendered.append(item.id)
                bar.update()

        pruned = []
        for prompt_id in [i for i in entries if i not in flow_ids] if prune else []:
            entry = entries[prompt_id]
            for fmt in fmts:
                record = entry.file_of(fmt)
                if record is not None and record.file not in targets:
                    (out / record.file).unlink(missing_ok=True)
            remaining = entry.without(fmts)
            if remaining.files:
                entries[prompt_id] = remaining
            else:
                del entries[prompt_id]
            if remaining != entry or not remaining.files:
                pruned.append(prompt_id)
        save()
    stale = [
        record.file
        for item in flow.prompts
        for record in entries[item.id].files
        if record.format not in fmts and record.take != entries[item.id].take
    ]
    return RenderReport(
        out_dir=str(out),
        formats=fmts,
        rendered=tuple(rendered),
        skipped=tuple(skipped),
        pruned=tuple(pruned),
        orphaned=tuple(i for i in entries if i not in flow_ids),
        seconds=sum(entries[p.id].file_of(fmts[0]).duration_s for p in flow.prompts),
        elapsed_s=time.monotonic() - started,
        removed_partials=removed,
        warnings=tuple(warnings),
        stale=tuple(stale),
    )


def _take_keys(synthesizer: Synthesizer, flow: Flow) -> dict[str, str]:
    """Every prompt's take key; :class:`FlowError` listing the prompts that have none."""
    takes: dict[str, str] = {}
    problems = []
    seen = set()
    for item in flow.prompts:
        message = (
            id_problem(item.id) if isinstance(item.id, str) else f"'id' must be a string, got {item.id!r}"
        )
        if message is None and item.id.casefold() in seen:
            message = f"duplicate id {item.id!r}"
        if message is None:
            seen.add(item.id.casefold())
            try:
                takes[item.id] = telephony.take_key(synthesizer, item.prompt)
            except ValueError as exc:
                message = str(exc)
        if message:
            problems.append(FlowProblem(message, line=item.line, index=item.index, id=item.id))
    if problems:
        raise FlowError(flow.path, problems)
    return takes


def _is_current(out: Path, record: PromptFile | None, take: str, key: str, prompt_id: str) -> bool:
    if record is None or record.take != take or record.key != key:
        return False
    if record.file != f"{prompt_id}.{record.format.extension}":
        return False
    try:
        data = (out / record.file).read_bytes()
    except OSError:
        return False
    return len(data) == record.size and hashlib.sha256(data).hexdigest() == record.sha256


def _samples(data: bytes, fmt: TelephoneFormat) -> int:
    if fmt.container == "WAV":
        return soundfile.info(io.BytesIO(data)).frames
    return len(data) // fmt.bytes_per_sample


def _remove_partials(out: Path) -> int:
    """Remove the temporary files a killed run left in ``out``; how many there were."""
    count = 0
    for path in out.glob(_PARTIAL_GLOB):
        if path.is_file() or path.is_symlink():
            path.unlink(missing_ok=True)
            count += 1
    if count:
        _LOGGER.info("removed %d temporary file(s) of an interrupted run in %s", count, out)
    return count


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so two renders never share a folder (POSIX only)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    handle = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{out} is being written by another emotts ivr render; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(handle)
