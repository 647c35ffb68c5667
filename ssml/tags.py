"""Built-in tag handlers: W3C SSML 1.1, our ``<emotion>``, and vendor dialects.

Registered through :func:`emotts_register_tag_handlers` like any plugin's.
Each handler reads its element, changes the scope or emits text, breaks and
marks through the :class:`~.parser.ParseContext`, and returns a
:class:`~.parser.TagAction` when it needs more than "walk my content".
"""

from __future__ import annotations

import math

from lxml import etree

from emotts_plugin.emotion import EmotionVector, parse_intensity
from emotts_plugin.errors import UnknownEmotionError
from emotts_plugin.hookspecs import hookimpl
from emotts_plugin.plan import AUTO_VOICE, Emphasis

from . import prosody, sayas
from .parser import ParseContext, TagAction, TagHandler

_PAD_NAMES = {
    "pleasure": 0,
    "valence": 0,
    "arousal": 1,
    "activation": 1,
    "dominance": 2,
    "potency": 2,
    "power": 2,
}
# Alexa <amazon:domain name>: the speaking style each domain reads with (label, intensity)
_AMAZON_DOMAINS = {
    "news": ("serious", 0.6),
    "long-form": ("calm", 0.4),
    "conversational": ("neutral", 1.0),
    "music": ("happy", 0.3),
    "fun": ("happy", 0.6),
}
_AZURE_DEFAULT_DEGREE = 1.0


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _attr(element: etree._Element, name: str) -> str | None:
    """Attribute by local name (namespaced or bare)."""
    value = element.get(name)
    if value is not None:
        return value
    for key, value in element.attrib.items():
        if etree.QName(key).localname == name:
            return value
    return None


def _transition(ctx: ParseContext, element: etree._Element) -> int | None:
    value = _attr(element, "transition")
    if value is None:
        return None
    try:
        return prosody.break_ms(value, None)
    except ValueError as exc:
        ctx.problem(f"transition: {exc}".replace("break time", "time"), element)
        return None


def _intensity(ctx: ParseContext, element: etree._Element, default: float = 1.0) -> float:
    value = _attr(element, "intensity")
    if value is None:
        return default
    try:
        return parse_intensity(value)
    except ValueError as exc:
        ctx.problem(f"{exc}; intensity {default:g} used", element)
        return default


def _scaled(weights: dict[str, float], intensity: float) -> dict[str, float]:
    return {label: weight * intensity for label, weight in weights.items()}


# --------------------------------------------------------------------------
# Emotion: ours, Alexa's and EmotionML's <emotion> share one local name
# --------------------------------------------------------------------------


def emotion(ctx: ParseContext, element: etree._Element) -> TagAction | None:
    """``<emotion name intensity transition>``, ``<amazon:emotion>``, EmotionML ``<emotion>``."""
    name = _attr(element, "name") or _attr(element, "category")
    if name is not None:
        weights = ctx.emotion_weights(name, element)
        intensity = _intensity(ctx, element)
        ctx.set_emotion(_scaled(weights, intensity) if weights else {}, _transition(ctx, element))
        return None
    weights = _emotionml_weights(ctx, element)
    if weights is None:
        ctx.problem(
            "<emotion> needs a name attribute or <category>/<dimension>/<appraisal>/<action-tendency> "
            "children; spoken neutral",
            element,
        )
        weights = {}
    ctx.set_emotion(weights, _transition(ctx, element), enclosing=not _has_text(element))
    return None


def _has_text(element: etree._Element) -> bool:
    """Whether an element holds words of its own (not only EmotionML descriptions)."""
    if (element.text or "").strip():
        return True
    return any(
        (child.tail or "").strip() or (isinstance(child.tag, str) and _local(child) not in EMOTIONML_PARTS)
        for child in element
    )


def _emotionml_weights(ctx: ParseContext, element: etree._Element) -> dict[str, float] | None:
    categories: dict[str, float] = {}
    pad = [0.0, 0.0, 0.0]
    found_category = found_dimension = found_other = False
    for child in element:
        if not isinstance(child.tag, str):
            continue
        kind = _local(child)
        if kind not in EMOTIONML_PARTS:
            continue
        name = _attr(child, "name")
        if not name:
            ctx.problem(f"<{kind}> without a name attribute ignored", child)
            continue
        value = _unit_value(ctx, child)
        if kind in ("appraisal", "action-tendency"):
            found_other = True
            ctx.warn(f"<{kind} name={name!r}> is accepted but not rendered", child)
        elif kind == "category":
            found_category = True
            # EmotionML vocabularies are open: a name we do not know is valid, spoken neutral
            for label, weight in _vendor_style(ctx, name, child).items():
                categories[label] = categories.get(label, 0.0) + weight * value
        else:
            index = _PAD_NAMES.get(name.strip().lower())
            if index is None:
                known = ", ".join(sorted(_PAD_NAMES))
                ctx.warn(f"dimension {name!r} is accepted but not rendered (read: {known})", child)
                found_other = True
                continue
            found_dimension = True
            pad[index] = 2.0 * value - 1.0  # EmotionML scales are 0..1 with 0.5 neutral
    if not (found_category or found_dimension):
        return {} if found_other else None
    weights = dict(categories)
    if found_dimension:
        for label, weight in ctx.space.from_pad(*pad).items():
            weights[label] = weights.get(label, 0.0) + weight
    return weights


def _unit_value(ctx: ParseContext, element: etree._Element) -> float:
    raw = _attr(element, "value")
    if raw is None:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        ctx.problem(f"value {raw!r} must be a number within 0..1; 1.0 used", element)
        return 1.0
    return value


def emotionml_part(ctx: ParseContext, element: etree._Element) -> TagAction:
    """``<category>``/``<dimension>`` are read by their ``<emotion>``; alone they are a problem."""
    parent = element.getparent()
    if parent is None or _local(parent) != "emotion":
        ctx.problem(f"<{_local(element)}> outside an EmotionML <emotion> ignored", element)
    return TagAction.SKIP


def express_as(ctx: ParseContext, element: etree._Element) -> None:
    """Azure ``<mstts:express-as style styledegree role>``; degree 0.01–2 → intensity degree/2."""
    style = _attr(element, "style")
    if not style:
        ctx.problem("<express-as> needs a style attribute; spoken neutral", element)
        ctx.set_emotion({})
        return
    degree_text = _attr(element, "styledegree")
    degree = _AZURE_DEFAULT_DEGREE
    if degree_text is not None:
        try:
            degree = float(degree_text)
            if not 0.01 <= degree <= 2.0:
                raise ValueError
        except ValueError:
            ctx.problem(f"styledegree {degree_text!r} must be within 0.01..2; 1 used", element)
            degree = _AZURE_DEFAULT_DEGREE
    if _attr(element, "role") is not None:
        ctx.warn(f"role {_attr(element, 'role')!r} is not supported; the voice is unchanged", element)
    weights = _vendor_style(ctx, style, element)
    ctx.set_emotion(_scaled(weights, min(1.0, degree / 2.0)) if weights else {}, _transition(ctx, element))


def _vendor_style(ctx: ParseContext, name: str, element: etree._Element) -> dict[str, float]:
    """A vendor's style name in the emotion space; a style we do not know (a custom voice's, a new
    one) is valid markup: spoken neutral with a warning in both modes."""
    try:
        return ctx.space.parse_mixture(name)
    except (UnknownEmotionError, ValueError) as exc:
        ctx.warn(f"{exc}; spoken neutral", element)
        return {}


def google_style(ctx: ParseContext, element: etree._Element) -> None:
    """Google ``<google:style name>``."""
    name = _attr(element, "name")
    if not name:
        ctx.problem("<style> needs a name attribute; spoken neutral", element)
        ctx.set_emotion({})
        return
    ctx.set_emotion(_vendor_style(ctx, name, element), _transition(ctx, element))


def amazon_domain(ctx: ParseContext, element: etree._Element) -> None:
    """Alexa ``<amazon:domain name>``: each domain reads with a fixed style."""
    name = (_attr(element, "name") or "").strip().lower()
    if name not in _AMAZON_DOMAINS:
        ctx.problem(f"unknown domain {name!r}; known: {', '.join(_AMAZON_DOMAINS)}", element)
        return
    label, intensity = _AMAZON_DOMAINS[name]
    ctx.set_emotion({label: intensity})


def amazon_effect(ctx: ParseContext, element: etree._Element) -> None:
    """Polly/Alexa ``<amazon:effect>``: ``name="whispered"`` whispers; ``phonation="soft"`` is
    breathier and quieter; ``vocal-tract-length`` and ``name="drc"`` are accepted, not rendered."""
    name = (_attr(element, "name") or "").strip().lower()
    phonation = (_attr(element, "phonation") or "").strip().lower()
    tract = _attr(element, "vocal-tract-length")
    if name == "whispered":
        ctx.set_emotion({"whispering": 1.0})
    elif name:
        ctx.warn(f'<amazon:effect name="{name}"> is accepted but not rendered', element)
    if phonation == "soft":
        composed, _ = ctx.scope.prosody.compose(SOFT_PHONATION).clamped()
        ctx.update(prosody=composed)
    elif phonation:
        ctx.problem(f"phonation {phonation!r} is not one of: soft", element)
    if tract is not None:
        ctx.warn(f"vocal-tract-length {tract!r} is accepted but not rendered", element)
    if not (name or phonation or tract):
        ctx.problem("<amazon:effect> needs name, phonation or vocal-tract-length", element)


def auto_breaths(ctx: ParseContext, element: etree._Element) -> None:
    """Polly ``<amazon:auto-breaths frequency>``: a short pause at each clause mark inside (no breath
    sound); ``frequency`` low/medium/high/x-high sets its length."""
    frequency = (_attr(element, "frequency") or "medium").strip().lower()
    if frequency not in AUTO_BREATH_MS:
        ctx.problem(f"frequency {frequency!r}; use one of {', '.join(AUTO_BREATH_MS)}; medium used", element)
        frequency = "medium"
    ctx.update(breaths_ms=AUTO_BREATH_MS[frequency])


def breath(ctx: ParseContext, element: etree._Element) -> TagAction:
    """Polly ``<amazon:breath duration volume>``: a pause of the breath's length (no breath sound)."""
    ctx.add_break(
        BREATH_MS.get((_attr(element, "duration") or "medium").strip().lower(), BREATH_MS["medium"])
    )
    return TagAction.SKIP


# --------------------------------------------------------------------------
# Google timing containers, Azure bookmarks, accepted elements
# --------------------------------------------------------------------------


def timed(ctx: ParseContext, element: etree._Element) -> TagAction:
    """Google ``<par>``, ``<seq>``, ``<media>``: their children are spoken one after another, each
    apart; a ``begin`` offset is a pause before the element, ``soundLevel`` a volume change."""
    begin = _attr(element, "begin")
    if begin is not None:
        # "2.0s", or an offset after another element ("question.end+2.0s"): a pause here
        offset = begin.strip().rpartition("+")[2] if "." in begin.split("+")[0] else begin.strip().lstrip("+")
        try:
            ctx.add_break(prosody.break_ms(offset, None))
        except ValueError:
            ctx.warn(f"begin {begin!r} is not rendered (only offsets that wait are); ignored", element)
    level = _attr(element, "soundLevel")
    if level is not None:
        try:
            composed, _ = ctx.scope.prosody.compose(
                EmotionVector(volume_db=prosody.volume_db(level))
            ).clamped()
            ctx.update(prosody=composed)
        except ValueError as exc:
            ctx.problem(f"{exc}; soundLevel ignored", element)
    for name in ("end", "dur", "repeatCount", "repeatDur", "fadeInDur", "fadeOutDur"):
        if _attr(element, name) is not None:
            ctx.warn(f"{name} on <{_local(element)}> is accepted but not rendered", element)
    return TagAction.BOUNDARY


def turn(ctx: ParseContext, element: etree._Element) -> TagAction:
    """Azure ``<mstts:turn speaker>`` in a ``<mstts:dialog>``: each turn apart; the speaker of a
    multi-talker voice is not rendered (one voice speaks every turn)."""
    speaker = _attr(element, "speaker")
    if speaker:
        ctx.warn(
            f"speaker {speaker!r} is accepted but not rendered; the current voice speaks the turn", element
        )
    return TagAction.BOUNDARY


def mathml(ctx: ParseContext, element: etree._Element) -> TagAction:
    """MathML ``<math>`` (Azure): accepted; its symbols are spoken as written, not as an
    expression ("x 2", not "x squared")."""
    ctx.warn("<math> is accepted but not rendered as speech; its symbols are read as written", element)
    ctx.text(" ".join(" ".join(element.itertext()).split()), separate=True)
    return TagAction.SKIP


def bookmark(ctx: ParseContext, element: etree._Element) -> TagAction:
    """Azure ``<bookmark mark>``: a mark, as ``<mark name>``."""
    name = _attr(element, "mark")
    if not name:
        ctx.problem("<bookmark> needs a mark attribute", element)
    else:
        ctx.add_mark(name)
    return TagAction.SKIP


def accepted(ctx: ParseContext, element: etree._Element) -> TagAction:
    """A valid element of a known dialect whose effect is not rendered: a warning in both modes;
    its text (if any) is spoken."""
    ctx.warn(f"<{_display(element)}> is accepted but not rendered; its text is spoken", element)
    return TagAction.CONTENT


def accepted_silent(ctx: ParseContext, element: etree._Element) -> TagAction:
    """A valid element that holds no words to speak (a viseme request, background audio): a warning
    in both modes, its content skipped."""
    ctx.warn(f"<{_display(element)}> is accepted but not rendered", element)
    return TagAction.SKIP


def _display(element: etree._Element) -> str:
    prefix = element.prefix
    return f"{prefix}:{_local(element)}" if prefix and prefix != "emo" else _local(element)


# --------------------------------------------------------------------------
# W3C SSML 1.1
# --------------------------------------------------------------------------


def container(ctx: ParseContext, element: etree._Element) -> None:
    """Elements that only scope their content (``speak``, ``lang``, ``token``, …)."""


def sentence(ctx: ParseContext, element: etree._Element) -> TagAction:
    """``<p>`` and ``<s>`` end the current segment before and after."""
    return TagAction.BOUNDARY


def skip(ctx: ParseContext, element: etree._Element) -> TagAction:
    """Elements whose content is never spoken (``desc``, ``meta``, ``lexicon``, …)."""
    return TagAction.SKIP


def voice(ctx: ParseContext, element: etree._Element) -> None:
    """``<voice name>``: the voice for the content. Without a name, ``gender`` and ``language``
    (Google) or ``languages`` (W3C) ask for the nearest installed voice (``age`` and ``variant``
    are not used)."""
    name = (_attr(element, "name") or "").strip()
    language = (_attr(element, "language") or (_attr(element, "languages") or "").split(" ")[0]).strip()
    gender = (_attr(element, "gender") or "").strip().lower()
    if language:
        ctx.update(lang=language)
    if gender and gender not in ("female", "male", "neutral"):
        ctx.problem(f"gender {gender!r} is not one of female, male, neutral; ignored", element)
        gender = ""
    if name:
        ctx.update(voice=name)
    elif gender or language:
        ctx.update(voice=f"{AUTO_VOICE}:{gender}" if gender else AUTO_VOICE)
    else:
        ctx.warn("<voice> without a name, gender or language keeps the current voice", element)


def break_(ctx: ParseContext, element: etree._Element) -> TagAction:
    """``<break time strength>``."""
    try:
        ms = prosody.break_ms(_attr(element, "time"), _attr(element, "strength"))
    except ValueError as exc:
        ctx.problem(f"{exc}; a medium break used", element)
        ms = prosody.BREAK_STRENGTHS["medium"]
    ctx.add_break(ms)
    return TagAction.SKIP


def silence(ctx: ParseContext, element: etree._Element) -> TagAction:
    """Azure ``<mstts:silence type value>``: a break of ``value``."""
    try:
        ms = prosody.break_ms(_attr(element, "value") or "0ms", None)
    except ValueError as exc:
        ctx.problem(str(exc), element)
        return TagAction.SKIP
    ctx.add_break(ms)
    return TagAction.SKIP


def prosody_(ctx: ParseContext, element: etree._Element) -> None:
    """``<prosody pitch rate volume range contour>`` composed over the emotion."""
    values: dict[str, float] = {}
    for name, (field, read) in prosody.ATTRIBUTES.items():
        raw = _attr(element, name)
        if raw is None:
            continue
        try:
            values[field] = read(raw)
        except ValueError as exc:
            ctx.problem(f"{exc}; attribute ignored", element)
    if _attr(element, "duration") is not None:
        ctx.warn("prosody duration is not supported; use rate", element)
    composed, moved = ctx.scope.prosody.compose(EmotionVector(**values)).clamped()
    if moved:
        ctx.warn(
            f"nested prosody goes beyond the allowed range of {', '.join(moved)}; held at the limit", element
        )
    ctx.update(prosody=composed)


_EMPHASIS = {e.value: e for e in Emphasis}


def emphasis(ctx: ParseContext, element: etree._Element) -> None:
    """``<emphasis level>`` (default moderate)."""
    level = (_attr(element, "level") or "moderate").strip().lower()
    if level not in _EMPHASIS:
        ctx.problem(f"emphasis level {level!r}; use one of {', '.join(_EMPHASIS)}; moderate used", element)
        level = "moderate"
    ctx.update(emphasis=_EMPHASIS[level])


def _content(element: etree._Element) -> str:
    return "".join(element.itertext())


def say_as(ctx: ParseContext, element: etree._Element) -> TagAction:
    """``<say-as interpret-as format detail>``: the content expanded to words; an expletive is
    rendered, then covered by a tone of its length."""
    raw = _content(element)
    kind = _attr(element, "interpret-as") or ""
    if kind.strip().lower() in BLEEPED:
        ctx.update(bleep=True)
        ctx.text(raw.strip(), separate=True)
        return TagAction.SKIP
    try:
        ctx.text(
            sayas.expand(raw.strip(), kind, _attr(element, "format"), _attr(element, "detail")), separate=True
        )
    except ValueError as exc:
        ctx.problem(f"{exc}; read as written", element)
        ctx.text(raw)
    return TagAction.SKIP


def sub(ctx: ParseContext, element: etree._Element) -> TagAction:
    """``<sub alias>``: the alias is spoken instead of the content."""
    alias = _attr(element, "alias")
    if alias is None:
        ctx.problem("<sub> needs an alias attribute; its text is spoken", element)
        ctx.text(_content(element))
    else:
        ctx.text(alias, separate=True)
    return TagAction.SKIP


def mark(ctx: ParseContext, element: etree._Element) -> TagAction:
    """``<mark name>``: reported at the start of the following text."""
    name = _attr(element, "name")
    if not name:
        ctx.problem("<mark> needs a name attribute", element)
    else:
        ctx.add_mark(name)
    return TagAction.SKIP


def audio(ctx: ParseContext, element: etree._Element) -> None:
    """``<audio src>`` is never fetched; its fallback content is spoken."""
    src = _attr(element, "src") or ""
    ctx.warn(f"<audio src={src!r}> is not fetched; its fallback text is spoken instead", element)


def phoneme(ctx: ParseContext, element: etree._Element) -> None:
    """``<phoneme ph alphabet>``: the written content is spoken."""


#: EmotionML's descriptions inside an ``<emotion>``.
EMOTIONML_PARTS = frozenset({"category", "dimension", "appraisal", "action-tendency"})
#: ``interpret-as`` values that are bleeped (Google and Polly document ``expletive``).
BLEEPED = frozenset({"expletive", "bleep"})
#: Polly ``<amazon:auto-breaths frequency>`` → the pause at each clause mark, in ms.
AUTO_BREATH_MS = {"x-low": 100, "low": 120, "medium": 160, "high": 200, "x-high": 250, "default": 160}
#: Polly ``<amazon:breath duration>`` → pause in ms.
BREATH_MS = {"x-short": 150, "short": 250, "medium": 350, "long": 500, "x-long": 700}
#: Polly ``phonation="soft"``: breathier, quieter, a little lower.
SOFT_PHONATION = EmotionVector(breathiness=0.35, volume_db=-4.0, tilt_db=-2.0)

BUILTIN_TAGS: dict[str, TagHandler] = {
    "emotts-root": container,
    "speak": container,
    "lang": container,
    "token": container,
    "w": container,
    "phoneme": phoneme,
    "p": sentence,
    "paragraph": sentence,
    "s": sentence,
    "sentence": sentence,
    "voice": voice,
    "break": break_,
    "prosody": prosody_,
    "emphasis": emphasis,
    "say-as": say_as,
    "sub": sub,
    "mark": mark,
    "audio": audio,
    "desc": skip,
    "meta": skip,
    "metadata": skip,
    "lexicon": skip,
    "lookup": container,
    "emotion": emotion,
    "category": emotionml_part,
    "dimension": emotionml_part,
    "express-as": express_as,
    "style": google_style,
    "domain": amazon_domain,
    "effect": amazon_effect,
    "silence": silence,
    "auto-breaths": auto_breaths,
    "breath": breath,
    "par": timed,
    "seq": timed,
    "media": timed,
    "bookmark": bookmark,
    "emotionml": container,
    "info": skip,
    "vocabulary": skip,
    "item": skip,
    "appraisal": emotionml_part,
    "action-tendency": emotionml_part,
    "trace": skip,
    "dialog": container,
    "turn": turn,
    "voiceconversion": accepted,
    "math": mathml,
    "viseme": accepted_silent,
    "backgroundaudio": accepted_silent,
    "audioduration": accepted_silent,
    "ttsembedding": accepted,
    "prompt": accepted_silent,
}


@hookimpl
def emotts_register_tag_handlers():
    return BUILTIN_TAGS
