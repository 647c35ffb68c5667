"""Piper VITS voices on PyTorch: the ``[torch]`` extra, selected with ``engine: torch``.

The weights come from the same ``.onnx`` files the onnxruntime backend loads. piper-tts ships
the VITS module (``piper.train.vits.models.SynthesizerTrn``); its hyperparameters are read
from the ONNX graph (initializer shapes, convolution attributes) and every inference parameter
is filled from an initializer — by name where the export kept the module path, otherwise by
the path in the name of the node that consumes it (weight-normed convolutions were folded into
plain weights at export, so the module's weight norm is removed before loading).

What a model we run ourselves gives over the ONNX graph:

- **per-phoneme durations**: each piece's phonemes are lengthened or shortened inside the
  model by the piece's ``rate`` (emphasis lengthens the emphasised words and nothing else),
  and the last word of an utterance is lengthened further when the piece is slow (sad, calm)
  — :func:`duration_factors`. ``rate`` is then rendered natively, not by PSOLA afterwards.
- **exact timings**: frames per phoneme id come out of the duration predictor, so piece
  starts (`<mark>` times, segment spans) fall on the model's own phoneme boundaries.
- **batches**: :meth:`TorchPiperBackend.render_batch` renders several utterances in one
  padded pass (on a GPU, many requests for the price of one).

Only this module imports torch; the default path never does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import warnings
from typing import Any, Sequence

import numpy as np

from emotts_plugin.errors import ConfigError, MissingExtraError, VoiceLoadError

from .base import Rendered, RenderPiece
from .piper import Phonemized, PiperBackend, VoiceFile

_LOGGER = logging.getLogger(__name__)

#: Emotion dimensions this backend renders inside the model.
NATIVE = frozenset({"rate"})
#: Extra lengthening of an utterance's last word per unit of slowing (1/rate − 1) of its piece.
FINAL_LENGTHENING = 1.0

#: Parameters the ONNX export leaves out because inference never uses them: the duration
#: predictor's posterior (training only) and the flow its reverse pass skips.
UNUSED_IN_INFERENCE = ("dp.post_", "dp.flows.1.")

_RNG_LOCK = threading.Lock()


def import_torch():
    """``torch``, or :class:`MissingExtraError` naming the extra."""
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError(
            f"engine 'torch' needs PyTorch: pip install 'emotts[torch]' ({exc})", extra="torch"
        ) from None
    return torch


def check_device(device: str) -> None:
    """A :class:`ConfigError` when ``device`` cannot run torch here."""
    torch = import_torch()
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device 'cuda' asked for, but this torch {torch.__version__} sees no CUDA device; "
            "use device: cpu",
            key="device",
        )


@dataclasses.dataclass(frozen=True, slots=True)
class VitsShape:
    """Hyperparameters of a Piper VITS model, read off its ONNX graph."""

    n_vocab: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    resblock: str
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    upsample_rates: tuple[int, ...]
    upsample_initial_channel: int
    upsample_kernel_sizes: tuple[int, ...]
    n_speakers: int
    gin_channels: int
    use_sdp: bool


def _module_path(node_name: str) -> str:
    """``/flow/flows.6/enc/in_layers.0/Conv`` → ``flow.flows.6.enc.in_layers.0``."""
    return ".".join(node_name.strip("/").split("/")[:-1])


def onnx_parameters(model) -> dict[str, np.ndarray]:
    """Every initializer of ``model`` under the module parameter name it stands for.

    Named initializers keep their names; an unnamed one (``onnx::Conv_8189``) or a renamed one
    is named after the module path of the node consuming it: ``.weight`` as a Conv's or
    Gather's first parameter input, ``.bias`` as a Conv's third; an affine flow's folded
    ``exp(-logs)`` gives back ``.logs``.
    """
    from onnx import numpy_helper

    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    named: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        if re.fullmatch(r"[A-Za-z_]\w*(\.\w+)+", name) and not name.startswith("onnx"):
            named[name] = array
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            if name not in arrays or name in named:
                continue
            path = _module_path(node.name)
            if node.op_type in {"Conv", "ConvTranspose"} and position in (1, 2) and path:
                named.setdefault(f"{path}.{'weight' if position == 1 else 'bias'}", arrays[name])
            elif node.op_type == "Gather" and position == 0 and path:
                named.setdefault(f"{path}.weight", arrays[name])
            elif node.op_type == "Mul" and name == node.name.rsplit("/", 1)[0] + "/Exp_output_0":
                # an affine flow's exp(-logs), folded to a constant at export
                named.setdefault(f"{path}.logs", -np.log(arrays[name]))
    return named


def read_shape(model, params: dict[str, np.ndarray]) -> VitsShape:
    """The hyperparameters of the VITS module ``model`` (an ONNX graph) was exported from."""
    attrs = {
        _module_path(node.name): {a.name: list(a.ints) for a in node.attribute}
        for node in model.graph.node
        if node.op_type in {"Conv", "ConvTranspose"}
    }
    hidden = params["enc_p.emb.weight"].shape[1]
    layers = sorted({int(k.split(".")[3]) for k in params if k.startswith("enc_p.encoder.attn_layers.")})
    ups = sorted({int(k.split(".")[2]) for k in params if k.startswith("dec.ups.")})
    up_kernels = tuple(params[f"dec.ups.{i}.weight"].shape[2] for i in ups)
    up_rates = tuple(attrs[f"dec.ups.{i}"]["strides"][0] for i in ups)
    resblock = "1" if "dec.resblocks.0.convs1.0.weight" in params else "2"
    n_kernels = len({int(k.split(".")[2]) for k in params if k.startswith("dec.resblocks.")}) // len(ups)
    convs = "convs1" if resblock == "1" else "convs"
    kernel_sizes, dilations = [], []
    for j in range(n_kernels):
        n_convs = len({k.split(".")[4] for k in params if k.startswith(f"dec.resblocks.{j}.{convs}.")})
        kernel_sizes.append(params[f"dec.resblocks.{j}.{convs}.0.weight"].shape[2])
        dilations.append(
            tuple(attrs[f"dec.resblocks.{j}.{convs}.{c}"]["dilations"][0] for c in range(n_convs))
        )
    speakers = params.get("emb_g.weight")
    return VitsShape(
        n_vocab=params["enc_p.emb.weight"].shape[0],
        inter_channels=params["enc_p.proj.weight"].shape[0] // 2,
        hidden_channels=hidden,
        filter_channels=params["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape[0],
        n_heads=hidden // params["enc_p.encoder.attn_layers.0.emb_rel_k"].shape[2],
        n_layers=len(layers),
        kernel_size=params["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape[2],
        resblock=resblock,
        resblock_kernel_sizes=tuple(kernel_sizes),
        resblock_dilation_sizes=tuple(dilations),
        upsample_rates=up_rates,
        upsample_initial_channel=params["dec.conv_pre.weight"].shape[0],
        upsample_kernel_sizes=up_kernels,
        n_speakers=1 if speakers is None else speakers.shape[0],
        gin_channels=0 if speakers is None else speakers.shape[1],
        use_sdp=any(k.startswith("dp.flows.") for k in params),
    )


def _remove_weight_norm(module) -> None:
    """Fold every weight norm of ``module`` into a plain weight, as the ONNX export did."""
    import importlib

    import torch

    weight_norm = importlib.import_module(
        "torch.nn.utils.weight_norm"
    ).WeightNorm  # the name is shadowed by the function
    for sub in module.modules():
        for hook in list(sub._forward_pre_hooks.values()):
            if isinstance(hook, weight_norm):
                torch.nn.utils.remove_weight_norm(sub, hook.name)


def build_model(onnx_path, device: str = "cpu"):
    """The VITS module of a Piper ``.onnx`` file, with its weights, in eval mode on ``device``."""
    import onnx
    import torch
    from piper.train.vits.models import SynthesizerTrn

    graph = onnx.load(str(onnx_path))
    params = onnx_parameters(graph)
    shape = read_shape(graph, params)
    with warnings.catch_warnings():  # piper's module builds its convolutions with the older weight-norm call
        warnings.simplefilter("ignore", FutureWarning)
        model = _vits(SynthesizerTrn, shape)
    del model.enc_q
    _remove_weight_norm(model)
    state = model.state_dict()
    missing = [key for key in state if key not in params and not key.startswith(UNUSED_IN_INFERENCE)]
    if missing:
        raise ValueError(
            f"{len(missing)} parameters have no initializer in the ONNX file, e.g. {missing[:3]}"
        )
    for key, value in state.items():
        if key in params and tuple(value.shape) != params[key].shape:
            raise ValueError(f"parameter {key}: module shape {tuple(value.shape)}, ONNX {params[key].shape}")
    model.load_state_dict(
        {key: torch.from_numpy(params[key].copy()) for key in state if key in params}, strict=False
    )
    return model.eval().to(device), shape


def _vits(SynthesizerTrn, shape: VitsShape):
    # VitsShape's fields are the module's keyword arguments; the posterior encoder (spec_channels)
    # is training-only and build_model drops it
    return SynthesizerTrn(**dataclasses.asdict(shape), spec_channels=513, segment_size=32, p_dropout=0.0)


def duration_factors(prepared: Phonemized, pieces: Sequence[RenderPiece]) -> np.ndarray:
    """A duration factor for each model id: ``1 / rate`` of the piece it belongs to, and on the
    utterance's last word ``1 + FINAL_LENGTHENING · (1/rate − 1)`` more when that piece is slow."""
    ids = prepared.ids or []
    index = prepared.id_index()
    factors = np.ones(len(ids), np.float32)
    bounds = list(prepared.piece_first) + [len(prepared.phonemes)]
    for piece, (first, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        start_id = 0 if piece == 0 else index[first]
        end_id = len(ids) if piece == len(pieces) - 1 else index[end]
        factors[start_id:end_id] = 1.0 / max(pieces[piece].targets.rate, 1e-3)
    slowing = 1.0 / max(pieces[-1].targets.rate, 1e-3) - 1.0
    if slowing > 0 and prepared.phonemes:
        spoken = [k for k, p in enumerate(prepared.phonemes) if p.strip()]
        if spoken:
            last = spoken[-1]
            first = last
            while first > bounds[-2] and prepared.phonemes[first - 1] != " ":
                first -= 1
            factors[index[first] : len(ids)] *= 1.0 + FINAL_LENGTHENING * slowing
    return factors


def scale_frames(frames: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Frames per id (rows of a batch) times ``factors``, rounded so each run of ids sharing a
    factor keeps its total: rounding each id alone would leave every one-frame phoneme at one
    frame and under-deliver a slower rate. Ids with factor 1 keep their frames exactly."""
    out = frames.astype(np.float64).copy()
    for row in range(frames.shape[0]):
        start = 0
        n = frames.shape[1]
        while start < n:
            end = start + 1
            while end < n and factors[row, end] == factors[row, start]:
                end += 1
            if factors[row, start] != 1.0:
                totals = np.round(np.cumsum(frames[row, start:end] * factors[row, start]))
                out[row, start:end] = np.diff(np.concatenate([[0.0], totals]))
            start = end
    return out.astype(np.float32)


class TorchVoice:
    """One loaded voice: the VITS module and piper's phonemizer and config."""

    def __init__(self, voice: VoiceFile, device: str) -> None:
        from piper import PiperVoice
        from piper.config import PiperConfig

        self.model, self.shape = build_model(voice.model, device)
        self.config = PiperConfig.from_dict(json.loads(voice.config.read_text(encoding="utf-8")))
        self.piper = PiperVoice(session=None, config=self.config)
        self.device = device

    # PiperBackend.prepare reads these off the loaded voice
    def phonemize(self, text: str):
        return self.piper.phonemize(text)

    def phonemes_to_ids(self, phonemes):
        return self.piper.phonemes_to_ids(phonemes)

    def infer(
        self,
        batch: Sequence[Sequence[int]],
        factors: Sequence[np.ndarray] | None = None,
        *,
        noise: bool = False,
        seeds: Sequence[int | None] | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Render id sequences in one padded pass: ``(audio, samples per id)`` for each.

        Each row draws its noise from its own generator seeded by its entry of ``seeds`` (fresh
        when ``None``), so a row sounds the same in any batch as alone."""
        import torch
        from piper.train.vits import commons

        model, config, device = self.model, self.config, self.device
        lengths = torch.tensor([len(ids) for ids in batch], dtype=torch.long, device=device)
        x = torch.zeros((len(batch), int(lengths.max())), dtype=torch.long, device=device)
        scale = np.ones((len(batch), x.shape[1]), np.float32)  # duration factor per id (1 on padding)
        for row, ids in enumerate(batch):
            x[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
            if factors is not None:
                scale[row, : len(ids)] = factors[row]
        generators = []
        for row in range(len(batch)):
            seed = None if seeds is None else seeds[row]
            generators.append(torch.Generator(device=device))
            generators[-1].manual_seed(
                seed if seed is not None else int(np.random.default_rng().integers(2**62))
            )
        with torch.inference_mode():
            x_enc, m_p, logs_p, x_mask = model.enc_p(x, lengths)
            g = None
            if model.n_speakers > 1:
                sid = torch.full(
                    (len(batch),), config.default_speaker_id or 0, dtype=torch.long, device=device
                )
                g = model.emb_g(sid).unsqueeze(-1)
            noise_w = config.noise_w_scale if noise else 0.0
            if model.use_sdp and noise_w:
                # the duration predictor draws from torch's global generator: row by row, seeded
                logw = torch.zeros_like(x_mask)
                for row, ids in enumerate(batch):
                    n = len(ids)
                    with _RNG_LOCK:
                        torch.manual_seed(
                            int(torch.randint(2**62, (1,), generator=generators[row], device=device))
                        )
                        logw[row : row + 1, :, :n] = model.dp(
                            x_enc[row : row + 1, :, :n],
                            x_mask[row : row + 1, :, :n],
                            g=None if g is None else g[row : row + 1],
                            reverse=True,
                            noise_scale=noise_w,
                        )
            elif model.use_sdp:
                logw = model.dp(x_enc, x_mask, g=g, reverse=True, noise_scale=0.0)
            else:
                logw = model.dp(x_enc, x_mask, g=g)
            w_ceil = torch.ceil(torch.exp(logw) * x_mask * config.length_scale)  # the model's own frames
            if factors is not None:
                w_ceil = torch.from_numpy(scale_frames(w_ceil.squeeze(1).cpu().numpy(), scale))
                w_ceil = w_ceil.unsqueeze(1).to(device=device, dtype=x_mask.dtype)
            y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()
            y_mask = torch.unsqueeze(commons.sequence_mask(y_lengths, int(y_lengths.max())), 1).type_as(
                x_mask
            )
            attn_mask = torch.unsqueeze(x_mask, 2) * torch.unsqueeze(y_mask, -1)
            attn = commons.generate_path(w_ceil, attn_mask)
            m_p = torch.matmul(attn.squeeze(1), m_p.transpose(1, 2)).transpose(1, 2)
            logs_p = torch.matmul(attn.squeeze(1), logs_p.transpose(1, 2)).transpose(1, 2)
            noise_scale = config.noise_scale if noise else 0.0
            z_p = m_p
            if noise_scale:
                draws = torch.zeros_like(m_p)
                for row in range(len(batch)):
                    frames_row = int(y_lengths[row])
                    draws[row, :, :frames_row] = torch.randn(
                        (m_p.shape[1], frames_row), generator=generators[row], device=device
                    )
                z_p = m_p + draws * torch.exp(logs_p) * noise_scale
            z = model.flow(z_p, y_mask, g=g, reverse=True)
            audio = model.dec(z * y_mask, g=g).squeeze(1)
        hop = config.hop_length
        audio_np = audio.float().clamp(-1.0, 1.0).cpu().numpy()
        frames = w_ceil.squeeze(1).long().cpu().numpy()
        out = []
        for row, ids in enumerate(batch):
            n = int(y_lengths[row]) * hop
            out.append((audio_np[row, :n].astype(np.float32), frames[row, : len(ids)] * hop))
        return out


class TorchPiperBackend(PiperBackend):
    """Piper voices on PyTorch (CPU or CUDA), ``rate`` rendered per phoneme inside the model."""

    name = "piper"

    def __init__(self, voices_dir=None, *, threads: int | None = None, device: str = "cpu") -> None:
        if device not in {"cpu", "cuda"}:
            raise ConfigError(f"device must be 'cpu' or 'cuda', got {device!r}", key="device")
        check_device(device)
        torch = import_torch()
        if threads:
            torch.set_num_threads(threads)
        super().__init__(voices_dir, threads=threads, device="cpu")  # onnxruntime is not used here
        self._device = device
        self.batch_pays = device == "cuda"
        """On CUDA :meth:`render_batch` beats one by one; on a 2-core CPU it did not: batch 4
        took 1.8×, batch 16 2.3× as long."""

    def _load_file(self, voice: VoiceFile) -> Any:
        try:
            return TorchVoice(voice, self._device)
        except Exception as exc:
            raise VoiceLoadError(
                f"cannot load voice {voice.name!r} from {voice.model} into torch: {exc}"
            ) from exc

    def render(
        self, voice: str, pieces: Sequence[RenderPiece], *, noise: bool = True, seed: int | None = None
    ) -> Rendered:
        return self.render_batch(voice, [pieces], noise=noise, seeds=[seed])[0]

    def render_batch(
        self,
        voice: str,
        utterances: Sequence[Sequence[RenderPiece]],
        *,
        noise: bool = True,
        seeds: Sequence[int | None] | None = None,
    ) -> list[Rendered]:
        """Render several utterances of one voice in one pass of the model; ``seeds``, one per
        utterance, make each sound as it would alone with that seed."""
        loaded: TorchVoice = self.load(voice)
        prepared = [self.prepare(voice, pieces) for pieces in utterances]
        todo = [k for k, p in enumerate(prepared) if p.ids is not None]
        results: list[Rendered | None] = [None] * len(prepared)
        if todo:
            factors = [duration_factors(prepared[k], utterances[k]) for k in todo]
            row_seeds = None if seeds is None else [seeds[k] for k in todo]
            outputs = loaded.infer([prepared[k].ids for k in todo], factors, noise=noise, seeds=row_seeds)
            for k, (audio, id_samples) in zip(todo, outputs):
                results[k] = prepared[k].rendered(audio, id_samples, NATIVE)
        return [r if r is not None else p.silence(len(u)) for r, p, u in zip(results, prepared, utterances)]
