"""The ``emotts`` command line.

Exit status: 0 on success (lenient repairs print warnings and still exit 0),
2 for refused input, strict-mode markup errors, bad configuration or usage, and
for anything that stops a start (an unusable ``cache.dir``, a taken port, a
voice that cannot load): one ``error: …`` line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import ports, subtitles
from .audio import AudioFormat, StreamEncoder, format_for_path, open_output
from .config import DEVICES, ENGINES, Config, load_config, split_wyoming_uri
from .emotion import EmotionVector
from .errors import ConfigError, EmottsError
from .options import SpeechOptions
from .runtime import Runtime
from .ssml.encoding import decode_markup
from .synthesizer import Synthesizer, check_spoken
from .timings import Timings

if TYPE_CHECKING:
    from .registry import ServeContext, Server

_LOGGER = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration (overrides plugin.yaml and config files)")
    group.add_argument(
        "--config",
        action="append",
        metavar="FILE",
        help="user config file (repeatable; default $EMOTTS_CONFIG)",
    )
    group.add_argument(
        "-p",
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="load a plugin module (repeatable)",
    )
    group.add_argument("--emotion", help="emotion of text outside any emotion tag (label, alias or mixture)")
    group.add_argument("--intensity", type=float, help="intensity 0..1 of --emotion")
    group.add_argument("--transition-ms", type=int, help="glide time at emotion changes, in ms")
    group.add_argument("--lang", help="language of text that declares none (e.g. en-US)")
    group.add_argument("--voice", help="voice used when the markup names none")
    group.add_argument("--engine", choices=ENGINES, help="what runs the Piper voices (torch: extra [torch])")
    group.add_argument("--device", choices=DEVICES, help="where voice models run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emotts",
        description="Emotional speech from marked-up text: SSML, vendor emotion dialects, chat-style cues.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "-q", "--quiet", dest="log_quiet", action="store_true", help="log errors only (no warnings)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_parse = sub.add_parser("parse", help="print the segment plan of markup (FILE or - for stdin)")
    p_parse.add_argument("input", metavar="FILE|-", help="markup file, or - to read standard input")
    p_parse.add_argument("--strict", action="store_true", help="report markup problems as errors (exit 2)")
    p_parse.add_argument(
        "--json", action="store_true", help="print the plan as JSON (the documented contract)"
    )
    _common(p_parse)

    p_say = sub.add_parser("say", help="speak text or markup into an audio file")
    p_say.add_argument("text", nargs="?", metavar="TEXT_OR_SSML", help="what to say (plain text or markup)")
    p_say.add_argument("-f", "--file", metavar="FILE", help="read the text from FILE (- for stdin) instead")
    p_say.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default="emotts.wav",
        help="output file, - for stdout (default: emotts.wav); its extension chooses the encoding: "
        + ", ".join(f".{ext}" for fmt in SAY_FORMATS for ext in fmt.extensions),
    )
    p_say.add_argument(
        "--format",
        choices=[fmt.name for fmt in SAY_FORMATS],
        help="encoding (default: from OUT's extension; wav for - or a name without one)",
    )
    p_say.add_argument(
        "--sample-rate",
        type=int,
        metavar="HZ",
        help="output sample rate (default: the voice's; 48000 for opus, 8000 for ulaw and alaw; "
        "sln is 8000, sln16 and wav16 16000)",
    )
    p_say.add_argument(
        "--timings",
        metavar="OUT.json",
        help="also write when each sentence, word, <mark> and mouth shape (viseme) is heard, as JSON "
        "(- for stdout when OUT is a file)",
    )
    p_say.add_argument(
        "--subtitles",
        metavar="OUT.vtt|OUT.srt",
        help="also write subtitles of the spoken words: WebVTT (.vtt) or SRT (.srt), by the extension",
    )
    p_say.add_argument("--seed", type=int, help="seed for the voice's natural variation (repeatable output)")
    p_say.add_argument("--strict", action="store_true", help="report markup problems as errors (exit 2)")
    p_say.add_argument(
        "--reference", metavar="REF", help="speak in the manner of this recording (WAV, FLAC, OGG, MP3)"
    )
    p_say.add_argument(
        "--reference-weight",
        type=float,
        default=1.0,
        metavar="W",
        help="0..1: how far towards the reference's manner, blended with the emotion labels (default 1)",
    )
    _common(p_say)

    p_analyze = sub.add_parser(
        "analyze", help="measure a reference recording's manner into the emotion space"
    )
    p_analyze.add_argument(
        "reference", metavar="REF", help="2-30 s of speech: WAV, FLAC, OGG or MP3, 8-48 kHz"
    )
    p_analyze.add_argument(
        "--json", action="store_true", help='print {"vector", "nearest", "measurements", ...} as JSON'
    )
    _common(p_analyze)

    p_voices = sub.add_parser("voices", help="list the voices that can speak")
    p_voices.add_argument("--json", action="store_true", help="print as JSON")
    _common(p_voices)

    p_emotions = sub.add_parser("emotions", help="list emotion labels with their aliases and vectors")
    p_emotions.add_argument("--json", action="store_true", help="print as JSON")
    _common(p_emotions)

    p_plugins = sub.add_parser("plugins", help="list loaded plugins and the hooks they implement")
    _common(p_plugins)

    p_serve = sub.add_parser("serve", help="run the HTTP server (native API, OpenAI-compatible speech)")
    p_serve.add_argument("--host", help="interface to listen on (default: server.http_host, 127.0.0.1)")
    p_serve.add_argument("--port", type=int, help="TCP port (default: server.http_port, 7860)")
    p_serve.add_argument(
        "--wyoming",
        metavar="URI",
        help="also serve the Wyoming protocol (Home Assistant) on URI: tcp://0.0.0.0:10200, "
        "unix://PATH or stdio:// (default: server.wyoming_uri; null runs none)",
    )
    p_serve.add_argument(
        "--audiosocket",
        metavar="HOST:PORT",
        help="also run the AudioSocket server for Asterisk calls (default: server.audiosocket)",
    )
    p_serve.add_argument("--no-http", action="store_true", help="do not run the HTTP server (with --wyoming)")
    p_serve.add_argument(
        "--no-zeroconf",
        action="store_true",
        help="do not announce the Wyoming server on the local network (default: server.zeroconf; "
        "only a tcp:// server beyond loopback is announced)",
    )
    # also after the command; SUPPRESS keeps `emotts -v serve` from being reset by these defaults
    p_serve.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages"
    )
    p_serve.add_argument(
        "-q",
        "--quiet",
        dest="log_quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log errors only (no warnings)",
    )
    p_serve.add_argument(
        "--replace",
        action="store_true",
        help="stop another emotts server that holds one of these ports (SIGTERM), wait for it, then start; "
        "a port held by anything else is still an error",
    )
    _common(p_serve)

    from .adapters.telephony import TelephoneFormat

    p_ivr = sub.add_parser(
        "ivr", help="IVR prompt files for Asterisk, FreeSWITCH and other telephony platforms"
    )
    ivr_sub = p_ivr.add_subparsers(dest="ivr_command", required=True, metavar="IVR_COMMAND")
    p_render = ivr_sub.add_parser(
        "render", help="render every prompt of a flow file into telephone sound files"
    )
    p_render.add_argument(
        "flow",
        metavar="FLOW.yaml",
        help="flow file: a 'prompts' list of id, text or ssml, emotion, intensity, voice",
    )
    p_render.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder for <id>.<ext> files and manifest.json (made if missing); "
        "files of formats not rendered are kept",
    )
    p_render.add_argument(
        "--format",
        action="append",
        choices=[f.value for f in TelephoneFormat],
        help="encoding; repeat it for several side by side, e.g. --format ulaw --format alaw "
        "(default: wav, 8 kHz 16-bit PCM as Asterisk's own prompts)",
    )
    p_render.add_argument(
        "--force", action="store_true", help="render every prompt, even those whose file is current"
    )
    p_render.add_argument(
        "--prune",
        action="store_true",
        help="delete the files (in the formats rendered) of prompts no longer in the flow",
    )
    p_render.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _common(p_render)
    return parser


def _runtime(args: argparse.Namespace) -> Runtime:
    overrides = {
        "emotion": args.emotion,
        "intensity": args.intensity,
        "transition_ms": args.transition_ms,
        "lang": args.lang,
        "voice": args.voice,
        "engine": args.engine,
        "device": args.device,
    }
    server = {}
    if getattr(args, "audiosocket", None):
        server["audiosocket"] = args.audiosocket
    if getattr(args, "no_zeroconf", False):
        server["zeroconf"] = False
    if server:
        overrides["server"] = server
    config = load_config(args.config, overrides)
    return Runtime(config, plugins=args.plugin)


def _read_input(name: str, *, strict: bool) -> str:
    """The markup in file ``name`` (``-``: standard input), decoded in the encoding its bytes
    declare (:func:`~emotts_plugin.ssml.encoding.decode_markup`); its warnings go to stderr."""
    if name == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:  # standard input replaced by a text stream: already decoded
            return sys.stdin.read()
        data, where = stdin.read(), "standard input"
    else:
        try:
            with open(name, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ConfigError(f"cannot read {name!r}: {exc.strerror}") from exc
        where = repr(name)
    text, warnings = decode_markup(data, strict=strict, where=where)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return text


def _argument_text(text: str, *, strict: bool) -> str:
    """Markup given as an argument: bytes the locale could not decode (kept by Python as lone
    surrogates) are decoded as :func:`_read_input` decodes a file's."""
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    decoded, warnings = decode_markup(os.fsencode(text), strict=strict, where="the text argument")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return decoded


def cmd_parse(args: argparse.Namespace) -> int:
    runtime = _runtime(args)
    text = _read_input(args.input, strict=args.strict)
    plan = runtime.parse(text, mode="strict" if args.strict else None)
    if args.json:
        json.dump(plan.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        for i, segment in enumerate(plan.segments, 1):
            emotion = ", ".join(f"{label} {weight:.2f}" for label, weight in segment.emotion) or "neutral"
            extras = []
            if segment.break_before_ms:
                extras.append(f"pause before {segment.break_before_ms} ms")
            if segment.break_after_ms:
                extras.append(f"pause after {segment.break_after_ms} ms")
            if segment.emphasis:
                extras.append(f"emphasis {segment.emphasis.value}")
            if segment.marks:
                extras.append(f"marks {', '.join(segment.marks)}")
            if segment.voice:
                extras.append(f"voice {segment.voice}")
            suffix = f"  ({'; '.join(extras)})" if extras else ""
            print(f"{i:3d}. [{emotion}] [{segment.lang}] {segment.text}{suffix}")
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _synthesizer(args: argparse.Namespace):
    runtime = _runtime(args)
    check_cache_dir(runtime.config)
    return Synthesizer(runtime=runtime)


def check_cache_dir(config: Config) -> None:
    """Make ``cache.dir`` (when set) and prove a file can be written there, before any voice loads;
    :class:`ConfigError` naming the folder and ``cache.dir`` otherwise."""
    folder = config.cache.dir
    if folder is None:
        return
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".emotts-check-"):
            pass
    except OSError as exc:
        if path.exists() and not path.is_dir():
            reason = "it is a file, not a folder"
        elif isinstance(exc, (NotADirectoryError, FileExistsError)):
            reason = "a part of its path is a file, not a folder"
        else:
            reason = exc.strerror or str(exc)
        raise ConfigError(f"cache.dir {folder!r} cannot be used: {reason}", key="cache.dir") from None


@dataclasses.dataclass(frozen=True, slots=True)
class SayFormat:
    """An encoding ``emotts say`` writes (those the HTTP API offers), named by ``--format`` or by the
    extension of ``-o``."""

    name: str
    """What ``--format`` calls it."""
    extensions: tuple[str, ...]
    """Extensions of ``-o`` that ask for it (lower case, no dot)."""
    codec: tuple[str, str] | None = None
    """libsndfile (container, subtype) of a format :class:`AudioFormat` lacks; ``None``: the
    :class:`AudioFormat` of the same name (or, for ``aac``, PyAV)."""
    rate: int | None = None
    """The one sample rate of the format (Asterisk's ``sln``, ``sln16``, ``wav16``); ``None``: any."""
    default_rate: int | None = None
    """Sample rate without ``--sample-rate``; ``None``: the voice's."""
    rates: tuple[int, ...] = ()
    """The sample rates the codec takes; empty: any."""

    def open(self, file, sample_rate: int):
        """An encoder (:class:`StreamEncoder`'s methods) of this format into ``file``."""
        if self.rates and sample_rate not in self.rates:
            allowed = ", ".join(str(rate) for rate in self.rates)
            raise ConfigError(
                f"{self.name} cannot hold {sample_rate} Hz audio; give --sample-rate, one of {allowed}"
            )
        if self.codec is not None:
            return StreamEncoder(file, sample_rate, *self.codec)
        if self.name == "aac":
            from .adapters.openai_api import open_encoder

            return open_encoder(file, sample_rate, "aac")
        return StreamEncoder.for_format(file, sample_rate, AudioFormat(self.name))

    def problem(self) -> str | None:
        """Why this machine cannot write the format (a codec libsndfile or PyAV lacks), or ``None``."""
        if self.name not in ("mp3", "opus", "aac"):
            return None
        from .adapters.openai_api import format_problem_raw

        return format_problem_raw(self.name)


_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
#: What ``emotts say`` writes; the extensions of the :class:`AudioFormat` ones are those
#: :func:`~emotts_plugin.audio.format_for_path` reads.
SAY_FORMATS = (
    SayFormat("wav", ("wav",)),
    SayFormat("flac", ("flac",)),
    SayFormat("ogg", ("ogg",)),
    SayFormat("opus", ("opus",), codec=("OGG", "OPUS"), default_rate=48000, rates=_OPUS_RATES),
    SayFormat("mp3", ("mp3",), codec=("MP3", "MPEG_LAYER_III"), rates=_MP3_RATES),
    SayFormat("aac", ("aac",)),
    SayFormat("pcm16", ("pcm", "raw")),
    SayFormat("ulaw", ("ulaw", "ul"), default_rate=8000),
    SayFormat("alaw", ("alaw", "al"), default_rate=8000),
    SayFormat("sln", ("sln",), codec=("RAW", "PCM_16"), rate=8000),
    SayFormat("sln16", ("sln16",), codec=("RAW", "PCM_16"), rate=16000),
    SayFormat("wav16", ("wav16",), codec=("WAV", "PCM_16"), rate=16000),
)


def say_format(output: str, name: str | None = None) -> SayFormat:
    """The format ``emotts say`` writes to ``output``: ``name`` (``--format``) when given, else the
    one ``output``'s extension asks for; ``wav`` for ``-`` and names without an extension.

    :raises ConfigError: an extension it cannot write (naming those it can), an extension that
        names another format than ``name``, or a codec this machine lacks.
    """
    by_name = {fmt.name: fmt for fmt in SAY_FORMATS}
    base = os.path.basename(output)
    extension = base.rsplit(".", 1)[-1].lower() if output != "-" and "." in base.strip(".") else None
    from_path = None
    if extension is not None:
        known = format_for_path(base)
        from_path = (
            by_name[known.value]
            if known
            else next((fmt for fmt in SAY_FORMATS if extension in fmt.extensions), None)
        )
        if from_path is None and name is None:
            supported = ", ".join(f".{ext}" for fmt in SAY_FORMATS for ext in fmt.extensions)
            raise ConfigError(
                f"cannot write {output!r}: emotts say does not know the extension .{extension}; "
                f"use one of {supported} (or --format NAME)"
            )
    if name is not None and from_path is not None and from_path.name != name:
        raise ConfigError(
            f"--format {name} does not match {output!r}, whose extension asks for {from_path.name}"
        )
    chosen = by_name[name] if name is not None else from_path or by_name["wav"]
    problem = chosen.problem()
    if problem:
        raise ConfigError(f"cannot write {chosen.name}: {problem}")
    return chosen


def _say_rate(fmt: SayFormat, asked: int | None) -> int | None:
    """The sample rate to render ``fmt`` at (``None``: the voice's); :class:`ConfigError` for a rate
    the format cannot hold."""
    if fmt.rate is not None:
        if asked not in (None, fmt.rate):
            raise ConfigError(f"{fmt.name} is {fmt.rate} Hz audio; --sample-rate {asked} does not fit it")
        return fmt.rate
    rate = asked if asked is not None else fmt.default_rate
    if rate is not None and fmt.rates and rate not in fmt.rates:
        allowed = ", ".join(str(r) for r in fmt.rates)
        raise ConfigError(f"{fmt.name} cannot hold {rate} Hz audio; give --sample-rate, one of {allowed}")
    return rate


def _check_side_outputs(args: argparse.Namespace) -> None:
    """Refuse, before anything is rendered, a ``--subtitles`` extension that is not ``.vtt`` or
    ``.srt``, two outputs that are one file, and a folder for ``--timings`` or ``--subtitles`` that is
    not there."""
    named = {"-o": args.output, "--timings": args.timings, "--subtitles": args.subtitles}
    if args.subtitles is not None:
        try:
            subtitles.subtitle_format(args.subtitles)
        except ValueError as exc:
            raise ConfigError(f"--subtitles: {exc}") from None
    if args.timings == "-" and args.output == "-":
        raise ConfigError("-o - and --timings - both ask for standard output: give --timings a file")
    seen: dict[str, str] = {}
    for option, path in named.items():
        if path is None or path == "-":
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise ConfigError(f"{seen[key]} and {option} name the same file, {path!r}: give each its own")
        seen[key] = option
        if option != "-o" and (os.path.isdir(path) or not os.path.isdir(os.path.dirname(key))):
            problem = "is a folder" if os.path.isdir(path) else "is in a folder that does not exist"
            raise ConfigError(f"cannot write {option} {path!r}: it {problem}")


def _write_side_outputs(args: argparse.Namespace, found: Timings) -> None:
    """Write ``--timings`` (JSON) and ``--subtitles`` of the render whose audio was just written."""
    if args.timings == "-":
        json.dump(found.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif args.timings is not None:
        with open(args.timings, "w", encoding="utf-8") as handle:
            json.dump(found.to_dict(), handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        counts = [(found.words, "word"), (found.sentences, "sentence"), (found.marks, "mark")]
        counted = ", ".join(_count(len(items), noun) for items, noun in [*counts, (found.visemes, "viseme")])
        print(f"wrote {args.timings} ({counted})", file=sys.stderr)
    if args.subtitles is not None:
        made = subtitles.write(args.subtitles, found)
        kind = subtitles.subtitle_format(args.subtitles)
        print(f"wrote {args.subtitles} ({_count(len(made), 'cue')}, {kind})", file=sys.stderr)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def cmd_say(args: argparse.Namespace) -> int:
    if (args.text is None) == (args.file is None):
        raise ConfigError("give the text to say, or -f FILE (not both)")
    fmt = say_format(args.output, args.format)
    sample_rate = _say_rate(fmt, args.sample_rate)
    _check_side_outputs(args)
    if args.text is not None:
        text = _argument_text(args.text, strict=args.strict)
    else:
        text = _read_input(args.file, strict=args.strict)
    reference = None
    if args.reference is not None:
        from .reference import check_weight

        check_weight(args.reference_weight)
    synthesizer = _synthesizer(args)
    if args.reference is not None:
        from .reference import analyze

        reference = analyze(args.reference, synthesizer.runtime.space)
        named = ", ".join(f"{label} {weight:.2f}" for label, weight in reference.nearest.items())
        print(f"reference {args.reference}: {named} (weight {args.reference_weight:g})", file=sys.stderr)
    said = []  # each chunk without its audio, for check_spoken
    total = 0.0
    show_progress = sys.stderr.isatty()
    options = SpeechOptions(
        mode="strict" if args.strict else None,
        seed=args.seed,
        sample_rate=sample_rate,
        reference=reference,
        reference_weight=args.reference_weight,
    )
    stream = synthesizer.stream(text, options)
    # encoded sentence by sentence, so memory does not grow with the length of the audio
    with open_output(args.output) as out:
        encoder = None
        try:
            for chunk in stream:
                for warning in chunk.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                if encoder is None:
                    encoder = fmt.open(out, chunk.sample_rate)
                encoder.write(chunk.audio)
                said.append(dataclasses.replace(chunk, audio=chunk.audio[:0]))
                total += chunk.duration_s
                if show_progress:
                    print(f"\rrendered {total:6.1f} s of audio", end="", file=sys.stderr, flush=True)
            if show_progress:
                print(file=sys.stderr)
            check_spoken(said)
        finally:
            if encoder is not None:
                encoder.close()  # finishes the stream; on an error the file is then removed
    if args.output != "-":
        print(f"wrote {args.output} ({total:.2f} s, {fmt.name}, {encoder.sample_rate} Hz)", file=sys.stderr)
    if args.timings is not None or args.subtitles is not None:
        # the chunks kept hold no audio, so the length is the one the encoder was given
        _write_side_outputs(args, dataclasses.replace(Timings.of_chunks(said), duration_s=total))
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .reference import analyze

    runtime = _runtime(args)
    result = analyze(args.reference, runtime.space)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    m = result.measurements
    print(
        f"{result.source}: {m.duration_s:.2f} s of speech, {result.register} register"
        f"{', whispered' if result.whispered else ''}"
    )
    print("nearest: " + ", ".join(f"{label} {weight:.2f}" for label, weight in result.nearest.items()))
    print(
        "vector:  " + ", ".join(f"{dim}={value:g}" for dim, value in result.vector.to_dict(ndigits=2).items())
    )
    print("measured:")
    for name, value in m.to_dict().items():
        print(f"  {name:22s} {value:g}")
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    voices = _synthesizer(args).voices()
    if args.json:
        rows = [v.to_dict() for v in voices]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for voice in voices:
        print(
            f"{voice.name:16s} {voice.backend:8s} {','.join(voice.languages):12s} "
            f"{voice.sample_rate:6d} Hz  {voice.description}"
        )
    return 0


def cmd_emotions(args: argparse.Namespace) -> int:
    runtime = _runtime(args)
    presets = [runtime.space.preset(label) for label in runtime.space.labels]
    if args.json:
        json.dump([p.to_dict() for p in presets], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    dims = EmotionVector.dims()
    for preset in presets:
        vector = ", ".join(f"{d}={getattr(preset.vector, d):g}" for d in dims)
        print(f"{preset.name}: {preset.description}")
        print(f"    vector: {vector}")
        print(f"    aliases: {', '.join(preset.aliases) or '-'}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    runtime = _runtime(args)
    for name, plugin in runtime.pm.list_name_plugin():
        hooks = sorted(caller.name for caller in runtime.pm.get_hookcallers(plugin) or [])
        print(f"{name}: {', '.join(hooks)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run every server the adapters offer (``AdapterSpec.server``): HTTP unless ``--no-http``,
    Wyoming with a URI, and any a plugin adds (:mod:`emotts_plugin.registry`)."""
    from .registry import ServeContext, ServeOptions

    if args.wyoming:
        split_wyoming_uri(args.wyoming, key="--wyoming")
    if args.no_http and args.audiosocket:
        raise ConfigError(
            "--audiosocket runs inside the HTTP server (its calls are fed by POST /v1/ivr/calls); "
            "drop --no-http"
        )
    runtime = _runtime(args)
    options = ServeOptions(host=args.host, port=args.port, wyoming_uri=args.wyoming, http=not args.no_http)
    context = ServeContext(runtime, options)
    servers = [
        server
        for spec in runtime.adapters().values()
        if spec.server is not None
        for server in [spec.server(context)]
        if server is not None
    ]
    if not servers:
        raise ConfigError(
            "--no-http needs a Wyoming server (--wyoming URI or server.wyoming_uri) or a plugin's server; "
            "otherwise there is nothing to serve"
        )
    endpoints = [endpoint for server in servers for endpoint in server.endpoints]
    _claim(endpoints, replace=args.replace)
    check_cache_dir(runtime.config)
    try:
        run_servers(servers, context)
    except OSError as exc:
        # taken between the check and the bind: name it as the check would have
        conflict = next(iter(ports.conflicts(endpoints)), None)
        if conflict is None:
            raise
        raise ConfigError(conflict.message(), key=conflict.endpoint.key) from exc
    return 0


def run_servers(servers: Sequence[Server], context: ServeContext) -> None:
    """Load the synthesizer the servers share, then run them until SIGTERM or Ctrl+C, or until
    one of them stops (the order of the calls is in :mod:`emotts_plugin.registry`).

    :raises OSError: a server could not bind its address.
    """
    import asyncio
    import contextlib

    from .render_queue import default_workers, threads_per_worker

    runtime = context.runtime
    if runtime.config.threads is None:  # the render threads work at once: a share of the cores each
        threads = threads_per_worker(default_workers())
        runtime = Runtime(dataclasses.replace(runtime.config, threads=threads), pm=runtime.pm)
    context.synthesizer = Synthesizer(runtime=runtime)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(servers, context))


async def _serve_until_stopped(servers: Sequence[Server], context: ServeContext) -> None:
    import asyncio
    import contextlib
    import signal

    stopped = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or not the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    started: list[Server] = []
    try:
        for server in servers:
            await server.start(context)
            started.append(server)
        waits = [asyncio.ensure_future(server.wait()) for server in started]
        waits.append(asyncio.ensure_future(stopped.wait()))
        ready = asyncio.ensure_future(_say_ready(started, context))
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (*waits, ready):
                waiting.cancel()
        for finished in done:
            finished.result()  # a server that failed ends the others with its error
    finally:
        for server in reversed(started):
            try:
                await server.close()
            except Exception:  # the others still close
                _LOGGER.exception("closing %s failed", type(server).__name__)


#: Seconds ``emotts serve`` waits for every server to listen before it gives up saying it is ready.
READY_TIMEOUT_S = 60.0
#: How addresses are written in the ready line, by server (others as ``HOST:PORT``).
_SCHEMES = {"HTTP": "http://", "Wyoming": "tcp://"}


async def _say_ready(servers: Sequence[Server], context: ServeContext) -> None:
    """Once every address of ``servers`` is listening (a server may bind in the background after
    its start), print one line naming them all: ``emotts: ready: HTTP http://127.0.0.1:7860,
    Wyoming tcp://0.0.0.0:10200 (Ctrl+C to stop)``."""
    import asyncio

    endpoints = [endpoint for server in servers for endpoint in server.endpoints]
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    waiting = list(endpoints)
    while waiting:
        waiting = [endpoint for endpoint in waiting if not await asyncio.to_thread(_listening, endpoint)]
        if waiting and asyncio.get_running_loop().time() > deadline:
            _LOGGER.warning("not listening after %g s: %s", READY_TIMEOUT_S, ", ".join(map(str, waiting)))
            return
        if waiting:
            await asyncio.sleep(0.05)
    named = [_address(endpoint) for endpoint in endpoints]
    uri = context.options.wyoming_uri or context.runtime.config.server.wyoming_uri
    if uri and uri.startswith("stdio:"):
        named.append(f"Wyoming {uri} (standard input and output)")
    print(f"emotts: ready: {', '.join(named)} (Ctrl+C to stop)", file=sys.stderr, flush=True)


def _listening(endpoint: ports.Endpoint) -> bool:
    """Whether something listens on ``endpoint`` now: its TCP address cannot be bound (or it has
    port 0, which cannot be checked), its Unix socket file is there."""
    import errno
    import stat

    if endpoint.path is not None:
        try:
            return stat.S_ISSOCK(os.stat(endpoint.path).st_mode)
        except OSError:
            return False
    if not endpoint.port:
        return True
    error = ports.check(endpoint)
    return error is not None and error.errno == errno.EADDRINUSE


def _address(endpoint: ports.Endpoint) -> str:
    if endpoint.path is not None:
        scheme = "unix://" if endpoint.server == "Wyoming" else ""
        return f"{endpoint.server} {scheme}{endpoint.path}"
    return f"{endpoint.server} {_SCHEMES.get(endpoint.server, '')}{endpoint}"


def _claim(endpoints: list[ports.Endpoint], *, replace: bool) -> None:
    """Make sure every endpoint is free: with ``replace``, stop the emotts servers that hold some
    (and nothing else); :class:`ConfigError` naming the first one still taken."""
    conflicts = ports.conflicts(endpoints)
    if conflicts and replace and all(conflict.emotts_only for conflict in conflicts):
        holders = list({holder.pid: holder for conflict in conflicts for holder in conflict.holders}.values())
        for holder in holders:
            print(f"stopping the emotts server {holder.describe()} (--replace)", file=sys.stderr)
        ports.stop(holders, endpoints)
        conflicts = ports.conflicts(endpoints)
    if conflicts:
        first = next((c for c in conflicts if not c.emotts_only), conflicts[0]) if replace else conflicts[0]
        raise ConfigError(first.message(replace=replace), key=first.endpoint.key)


def cmd_ivr_render(args: argparse.Namespace) -> int:
    from .adapters.ivr_flow import load_flow, parse_formats, render_flow

    formats = parse_formats(args.format or ["wav"])  # wav and wav-ulaw (one file name) refused first
    synthesizer = _synthesizer(args)
    flow = load_flow(args.flow, synthesizer=synthesizer)
    for warning in flow.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    report = render_flow(
        synthesizer, flow, args.out, formats, force=args.force, prune=args.prune, progress=not args.quiet
    )
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.stale:
        print(
            "warning: these files hold an earlier version of their prompt (render their formats too): "
            + ", ".join(report.stale),
            file=sys.stderr,
        )
    if report.orphaned and args.prune:
        print(
            "warning: no longer in the flow, kept as files of formats this run did not render "
            f"(--prune with their --format deletes them): {', '.join(report.orphaned)}",
            file=sys.stderr,
        )
    elif report.orphaned:
        print(
            f"warning: no longer in the flow (kept; --prune deletes them): {', '.join(report.orphaned)}",
            file=sys.stderr,
        )
    print(report.summary(), file=sys.stderr)
    return 0


def cmd_ivr(args: argparse.Namespace) -> int:
    return {"render": cmd_ivr_render}[args.ivr_command](args)


COMMANDS = {
    "analyze": cmd_analyze,
    "say": cmd_say,
    "voices": cmd_voices,
    "parse": cmd_parse,
    "emotions": cmd_emotions,
    "plugins": cmd_plugins,
    "serve": cmd_serve,
    "ivr": cmd_ivr,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.log_quiet:
        parser.error("-v (debug messages) and -q (errors only) contradict each other")
    # one level for every logger, so every server's messages (HTTP, Wyoming, AudioSocket) follow
    # -v and -q alike; errors are always logged
    level = logging.DEBUG if args.verbose else logging.ERROR if args.log_quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (EmottsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the machine refused something (a file, a folder, a socket): the operator's
        _LOGGER.debug("stopped by", exc_info=True)
        print(f"error: {_os_error_text(exc)}", file=sys.stderr)
        return 2


def _os_error_text(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename!r}"
    return exc.strerror or str(exc) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
