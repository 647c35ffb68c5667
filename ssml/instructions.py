"""Free-text voice instructions ("speak cheerfully", "calm and reassuring") → emotion weights.

OpenAI's speech API takes an ``instructions`` string; :func:`emotion_from_instructions`
reads it into the weights the emotion space mixes, with no model: words are looked up
among the space's labels and aliases (so a plugin's presets count), then through
adverb and comparative forms (*cheerfully* → *cheerful*, *angrily* → *angry*, *calmer* →
*calm*), then in :data:`WORDS`, a table of everyday words that name no preset.

Degree words before an emotion word set its intensity (:data:`MODIFIERS`; 0.7 without
one). A negation (*not*, *don't*, *without*, …) silences emotion words up to the end of
its clause. When several emotion words are found they share the intensity: each adds
``share × intensity / n``, so "calm and reassuring" is as strong in total as "calm".
Nothing recognised gives ``{}`` (neutral). It never raises.
"""

from __future__ import annotations

import re
from typing import Mapping

from emotts_plugin.emotion import EmotionSpace
from emotts_plugin.errors import UnknownEmotionError

#: Intensity of an emotion word with a softening, no, or a strengthening modifier.
SLIGHT, DEFAULT, STRONG = 0.4, 0.7, 1.0

#: Degree words (as word tuples) → intensity of the emotion word that follows.
MODIFIERS: Mapping[tuple[str, ...], float] = {
    ("slightly",): SLIGHT,
    ("a", "bit"): SLIGHT,
    ("a", "little"): SLIGHT,
    ("a", "little", "bit"): SLIGHT,
    ("a", "touch"): SLIGHT,
    ("a", "tad"): SLIGHT,
    ("somewhat",): SLIGHT,
    ("mildly",): SLIGHT,
    ("subtly",): SLIGHT,
    ("faintly",): SLIGHT,
    ("kind", "of"): SLIGHT,
    ("sort", "of"): SLIGHT,
    ("very",): STRONG,
    ("extremely",): STRONG,
    ("really",): STRONG,
    ("super",): STRONG,
    ("so",): STRONG,
    ("incredibly",): STRONG,
    ("totally",): STRONG,
    ("completely",): STRONG,
    ("utterly",): STRONG,
    ("deeply",): STRONG,
    ("highly",): STRONG,
    ("truly",): STRONG,
    ("intensely",): STRONG,
    ("absolutely",): STRONG,
    ("extra",): STRONG,
}
#: How many words may stand between a modifier and its emotion word ("a bit *more* cheerful").
MODIFIER_REACH = 2

#: Words that silence emotion words up to the end of their clause.
NEGATORS = frozenset(
    {"not", "no", "never", "without", "less", "avoid", "neither", "nor", "dont", "cant", "wont"}
)

#: Words that end a clause (and a negation's or modifier's reach), besides punctuation.
CLAUSE_WORDS = frozenset(
    {"but", "and", "yet", "instead", "rather", "though", "although", "while", "when", "if", "because", "then"}
)

#: Everyday words that name no preset → label shares (looked up after the space's own names).
WORDS: Mapping[str, Mapping[str, float]] = {
    # happy
    "cheery": {"happy": 1.0},
    "upbeat": {"happy": 1.0},
    "bright": {"happy": 1.0},
    "smiling": {"happy": 1.0},
    "smile": {"happy": 1.0},
    "playful": {"happy": 1.0},
    "positive": {"happy": 1.0},
    "delighted": {"happy": 1.0},
    "joyous": {"happy": 1.0},
    "jolly": {"happy": 1.0},
    # excited
    "bubbly": {"excited": 1.0},
    "peppy": {"excited": 1.0},
    "hyped": {"excited": 1.0},
    "animated": {"excited": 1.0},
    "passionate": {"excited": 1.0},
    "excitement": {"excited": 1.0},
    # sad, melancholic
    "tearful": {"sad": 1.0},
    "crying": {"sad": 1.0},
    "heartbroken": {"sad": 1.0},
    "grieving": {"sad": 1.0},
    "mournful": {"melancholic": 1.0},
    "somber": {"melancholic": 1.0},
    "sombre": {"melancholic": 1.0},
    "tired": {"melancholic": 1.0},
    "exhausted": {"melancholic": 1.0},
    # angry
    "frustrated": {"angry": 1.0},
    "aggressive": {"angry": 1.0},
    "hostile": {"angry": 1.0},
    "outraged": {"angry": 1.0},
    "exasperated": {"angry": 1.0},
    # afraid
    "panicky": {"afraid": 1.0},
    "tense": {"afraid": 1.0},
    "shaky": {"afraid": 1.0},
    "trembling": {"afraid": 1.0},
    # surprised
    "disbelief": {"surprised": 1.0},
    "incredulous": {"surprised": 1.0},
    # calm
    "relaxing": {"calm": 1.0},
    "steady": {"calm": 1.0},
    "polite": {"calm": 1.0},
    "measured": {"calm": 1.0},
    # gentle
    "reassuring": {"gentle": 1.0},
    "soothing": {"gentle": 1.0},
    "patient": {"gentle": 1.0},
    "quiet": {"gentle": 1.0},
    # empathetic
    "comforting": {"empathetic": 1.0},
    "consoling": {"empathetic": 1.0},
    "supportive": {"empathetic": 1.0},
    "sincere": {"empathetic": 1.0},
    # serious
    "urgent": {"serious": 0.6, "afraid": 0.4},
    "urgency": {"serious": 0.6, "afraid": 0.4},
    "solemn": {"serious": 1.0},
    "commanding": {"serious": 1.0},
    "news": {"serious": 1.0},
    "newsreader": {"serious": 1.0},
    # whispering, shouting
    "whispery": {"whispering": 1.0},
    "hush": {"whispering": 1.0},
    "secretive": {"whispering": 1.0},
    "screaming": {"shouting": 1.0},
    "shouty": {"shouting": 1.0},
}

#: Aliases too common in free text to read as emotions ("you are an *assistant*", "a *low* voice").
IGNORED = frozenset({"chat", "assistant", "content", "low", "interested", "like"})

#: Suffix rewrites tried, in order, when a word is not known as it stands.
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ically", "ic"),  # enthusiastically
    ("ily", "y"),  # angrily, happily
    ("ly", ""),  # cheerfully, calmly, excitedly
    ("ly", "le"),  # gently
    ("iest", "y"),
    ("ier", "y"),  # happier
    ("est", ""),
    ("er", ""),  # calmer
    ("iness", "y"),
    ("ness", ""),  # calmness
)

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|[.,;:!?…()\[\]\"“”—–]")
_BOUNDARY = object()


def _tokens(text: str) -> list:
    out: list = []
    for match in _TOKEN.finditer(text.lower().replace("’", "'")):
        token = match.group()
        out.append(token if token[0].isalpha() else _BOUNDARY)
    return out


def _is_negator(token: str) -> bool:
    return token in NEGATORS or token.endswith("n't")


def _modifier(tokens: list, i: int) -> tuple[float, int] | None:
    """The longest modifier starting at ``tokens[i]``: (intensity, word count)."""
    for length in (3, 2, 1):
        words = tuple(tokens[i : i + length])
        if len(words) == length and words in MODIFIERS:
            return MODIFIERS[words], length
    return None


def _known(word: str, space: EmotionSpace) -> dict[str, float] | None:
    if word in IGNORED:
        return None
    try:
        return {space.resolve(word): 1.0}
    except UnknownEmotionError:
        pass
    shares = WORDS.get(word)
    if shares is None:
        return None
    return {label: share for label, share in shares.items() if label in space.labels} or None


def _lookup(word: str, space: EmotionSpace) -> dict[str, float] | None:
    """Label shares of one word: as it stands, then through its suffix forms."""
    shares = _known(word, space)
    if shares is not None:
        return shares
    for suffix, replacement in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            shares = _known(word[: -len(suffix)] + replacement, space)
            if shares is not None:
                return shares
    return None


def emotion_from_instructions(text: str, space: EmotionSpace) -> dict[str, float]:
    """Emotion weights ({label: weight including intensity}) named by free-text instructions.

    :param text: e.g. ``"speak cheerfully"``, ``"calm and reassuring"``, ``"sound a bit sad"``.
    :param space: the emotion space whose labels and aliases are recognised.
    :return: weights rounded to 3 places; ``{}`` (neutral) when nothing is recognised.
    """
    if not isinstance(text, str) or not text.strip():
        return {}
    tokens = _tokens(text)
    found: list[tuple[dict[str, float], float]] = []
    pending: tuple[float, int] | None = None  # (intensity, last index it reaches)
    negated = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token is _BOUNDARY or token in CLAUSE_WORDS:
            pending, negated = None, False
            i += 1
            continue
        if _is_negator(token):
            negated = True
            i += 1
            continue
        modifier = _modifier(tokens, i)
        if modifier is not None:
            intensity, length = modifier
            pending = (intensity, i + length - 1 + MODIFIER_REACH)
            i += length
            continue
        shares = None
        if i + 1 < len(tokens) and tokens[i + 1] is not _BOUNDARY:
            shares = _known(f"{token}_{tokens[i + 1]}", space)  # two-word aliases: "sports commentary"
            if shares is not None:
                i += 1
        if shares is None:
            shares = _lookup(token, space)
        if shares is not None:
            shares = {label: share for label, share in shares.items() if label != "neutral"}
        if shares:
            if not negated:
                intensity = pending[0] if pending is not None and i <= pending[1] else DEFAULT
                found.append((shares, intensity))
            pending = None
        i += 1
    weights: dict[str, float] = {}
    for shares, intensity in found:
        for label, share in shares.items():
            weights[label] = weights.get(label, 0.0) + share * intensity / len(found)
    return {label: round(weight, 3) for label, weight in weights.items() if weight > 0}
