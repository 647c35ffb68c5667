"""Stage directions and free-text instructions → what they ask of the voice.

One vocabulary serves two readers. OpenAI's speech API takes an ``instructions`` string
("speak cheerfully", "quietly and fast", "like a pirate"); chat models write stage directions
into their text (``*laughs*``, ``(sighs)``, ``[whispers]``, ``[very happy]``, ``(softly)``,
``[in a calm voice]``), which the markup scanner hands over without their brackets.
:func:`read_direction` reads either into a :class:`Direction`, with no model:

- **emotion**: words are looked up among the space's labels and aliases (so a plugin's presets
  count), then in :data:`WORDS` (everyday words and verb forms: *whispers*, *shouts*, *sobs*)
  and :data:`STYLES` (manners no preset names: *sarcastic*, *deadpan*), each also through its
  adverb and comparative forms (:data:`SUFFIXES`: *cheerfully*, *angrily*, *calmer*);
- **prosody**: :data:`PROSODY` words (*slowly*, *fast*, *quietly*, *loudly*, *high-pitched*,
  *deep*) set a rate factor, a volume and a pitch shift. They are looked up *before* the space,
  so *loud*, *low* and *hushed* (aliases of shouting, melancholic and whispering) mean a
  louder, lower or quieter voice, not a preset;
- **sounds**: :data:`SOUNDS` (*laughs*, *sighs deeply*, *clears throat*) are pauses;
- **function words** (:data:`FUNCTION_WORDS`: *speak*, *in*, *a*, *voice*, *like*, …) mean
  nothing and are not reported; every other word is reported as ``unknown`` (*pirate*,
  *British*, *accent*), so a caller can say what was not understood.

Degree words before a word (:data:`MODIFIERS`, within :data:`MODIFIER_REACH` words) set an
emotion's intensity (0.7 without one) and scale a prosody word by ``intensity / 0.7``
(*very slowly* is slower than *slowly*, *a bit faster* milder than *faster*). A negation
(*not*, *don't*, *without*, …) silences everything up to the end of its clause. When several
emotion words are found they share the intensity: each adds ``share × intensity / n``, so
"calm and reassuring" is as strong in total as "calm". It never raises. :func:`direction_kind`
tells the markup stages how a bracketed or parenthesised direction reads (a cue, a pause, text).

Vocabulary decisions:

- *soft*, *softly*, *softer* stay the **gentle** preset (an alias in ``presets/gentle.yaml``;
  gentle is already 4 dB quieter), because "(softly)" from a chat model asks for warmth as
  much as level; *quiet*, *quietly* and *hushed* are the words for volume alone, so
  "quietly and fast" is quieter and faster with no slow emotion.
- *sarcastic*, *sarcastically*, *ironic*, *mocking*, *snarky* read as a trace (half the
  intensity) of **disgusted** with a rate of 0.9: among the presets only disgusted carries the
  contempt of sarcasm ("cold and dismissive … drawn-out slow delivery with falling ends"), and
  sarcasm is marked by a drawn-out, slower delivery rather than by a full emotion.
- *dry*, *dryly*, *deadpan*, *wry* read as half-intensity **serious**: the flattest preset that
  is neither sad nor soft ("restrained range, steady pace and falling ends").
- *laughs*, *laughing*, *laughingly* are a sound (a 400 ms pause), not happiness; *cries*,
  *sobs*, *weeps* are **sad**; *whispers* is **whispering**; *shouts*, *yells*, *screams* are
  **shouting**.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping

from emotts_plugin.emotion import TARGET_BOUNDS, EmotionSpace
from emotts_plugin.errors import UnknownEmotionError

#: Intensity of an emotion word with a softening, no, or a strengthening modifier.
SLIGHT, DEFAULT, STRONG = 0.4, 0.7, 1.0

#: Degree words (as word tuples) → intensity of the emotion word that follows; a prosody word
#: that follows is scaled by ``intensity / DEFAULT``.
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
    ("quite",): DEFAULT,
    ("fairly",): DEFAULT,
    ("very",): STRONG,
    ("extremely",): STRONG,
    ("really",): STRONG,
    ("super",): STRONG,
    ("so",): STRONG,
    ("much",): STRONG,
    ("a", "lot"): STRONG,
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
    {"not", "no", "never", "nothing", "without", "less", "avoid", "neither", "nor", "dont", "cant", "wont"}
)

#: Words that end a clause (and a negation's or modifier's reach), besides punctuation.
CLAUSE_WORDS = frozenset(
    {"but", "and", "yet", "instead", "rather", "though", "although", "while", "when", "if", "because", "then"}
)

#: Words that carry no direction of their own: neither understood nor unknown. *like* and *as*
#: are here too, so in "like a pirate" only *pirate* is left over (and reported as unknown).
FUNCTION_WORDS = frozenset(
    {
        # verbs of speaking and sounding
        "speak", "speaks", "speaking", "spoken", "say", "says", "said", "saying", "read", "reads",
        "reading", "talk", "talks", "talking", "tell", "tells", "narrate", "deliver", "delivered",
        "sound", "sounds", "sounding", "make", "makes", "keep", "use", "act", "try",
        # what is spoken and how
        "voice", "voices", "voiced", "tone", "tones", "manner", "way", "style", "delivery",
        "pitch", "pitched", "pace", "tempo", "volume", "words", "text", "line", "lines",
        "everything", "aloud", "out", "up", "down", "all",
        # articles, pronouns, prepositions
        "a", "an", "the", "this", "that", "these", "those", "it", "its", "it's", "i", "i'm",
        "me", "my", "we", "we're", "us", "our", "you", "you're", "your", "he", "she", "they",
        "they're", "him", "her", "his", "them", "their", "one", "someone", "something",
        "in", "with", "of", "to", "at", "for", "on", "by", "from", "into", "about", "like", "as",
        "or", "than", "how", "what", "let's",
        # auxiliaries and filler
        "be", "is", "are", "am", "was", "were", "been", "being", "do", "does", "can", "could",
        "should", "would", "will", "must", "please", "just", "more", "bit", "too", "also",
        "still", "now", "here", "there", "overall", "throughout", "lot",
    }
)  # fmt: skip

#: Everyday words that name no preset → label shares (looked up after the space's own names).
WORDS: Mapping[str, Mapping[str, float]] = {
    # happy
    "cheery": {"happy": 1.0},
    "upbeat": {"happy": 1.0},
    "bright": {"happy": 1.0},
    "smiling": {"happy": 1.0},
    "smiles": {"happy": 1.0},
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
    "cries": {"sad": 1.0},
    "cried": {"sad": 1.0},
    "sobs": {"sad": 1.0},
    "sobbing": {"sad": 1.0},
    "sobbed": {"sad": 1.0},
    "weeps": {"sad": 1.0},
    "weeping": {"sad": 1.0},
    "wept": {"sad": 1.0},
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
    "snaps": {"angry": 1.0},
    "growls": {"angry": 1.0},
    # afraid
    "panicky": {"afraid": 1.0},
    "tense": {"afraid": 1.0},
    "shaky": {"afraid": 1.0},
    "trembling": {"afraid": 1.0},
    "trembles": {"afraid": 1.0},
    "stammering": {"afraid": 1.0},
    "stammers": {"afraid": 1.0},
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
    "whispers": {"whispering": 1.0},
    "whispery": {"whispering": 1.0},
    "hush": {"whispering": 1.0},
    "secretive": {"whispering": 1.0},
    "shouts": {"shouting": 1.0},
    "shouted": {"shouting": 1.0},
    "yells": {"shouting": 1.0},
    "yelled": {"shouting": 1.0},
    "screams": {"shouting": 1.0},
    "screamed": {"shouting": 1.0},
    "screaming": {"shouting": 1.0},
    "shouty": {"shouting": 1.0},
}


@dataclass(frozen=True, slots=True)
class Manner:
    """What one word of :data:`PROSODY` or :data:`STYLES` asks for, at the default intensity."""

    emotion: Mapping[str, float] = field(default_factory=dict)
    """Label shares, as in :data:`WORDS` (``{}``: none)."""
    weight: float = 1.0
    """Factor on the emotion's intensity: below 1 for a style that is only a trace of a preset."""
    rate: float = 1.0
    """Speaking-rate factor (> 1 is faster)."""
    volume_db: float = 0.0
    """Loudness change in dB."""
    pitch_st: float = 0.0
    """Pitch shift in semitones."""


#: Speaking-rate factor of *slow* and *fast*; volume of *quiet* and *loud*; pitch of *high* and *low*.
SLOW, FAST, QUIET_DB, LOUD_DB, HIGH_ST, LOW_ST = 0.8, 1.2, -6.0, 6.0, 3.0, -3.0

#: Prosody words and phrases (looked up before the space's names, through :data:`SUFFIXES`:
#: *slowly*, *slower*, *louder*, *higher*) → rate, volume, pitch at the default intensity.
PROSODY: Mapping[str, Manner] = {
    "slow": Manner(rate=SLOW),
    "slow down": Manner(rate=SLOW),
    "unhurried": Manner(rate=0.9),
    "leisurely": Manner(rate=0.85),
    "fast": Manner(rate=FAST),
    "quick": Manner(rate=FAST),
    "rapid": Manner(rate=FAST),
    "speed up": Manner(rate=FAST),
    "hurried": Manner(rate=1.15),
    "rushed": Manner(rate=1.15),
    "brisk": Manner(rate=1.1),
    "quiet": Manner(volume_db=QUIET_DB),
    "hushed": Manner(volume_db=QUIET_DB),
    "mutters": Manner(volume_db=QUIET_DB),
    "muttering": Manner(volume_db=QUIET_DB),
    "mumbles": Manner(volume_db=QUIET_DB),
    "mumbling": Manner(volume_db=QUIET_DB),
    "low volume": Manner(volume_db=QUIET_DB),
    "lower volume": Manner(volume_db=QUIET_DB),
    "lower the volume": Manner(volume_db=QUIET_DB),
    "lower your voice": Manner(volume_db=QUIET_DB),
    "loud": Manner(volume_db=LOUD_DB),
    "raise your voice": Manner(volume_db=LOUD_DB),
    "speak up": Manner(volume_db=LOUD_DB),
    "booming": Manner(volume_db=LOUD_DB),
    "high": Manner(pitch_st=HIGH_ST),
    "squeaky": Manner(pitch_st=HIGH_ST),
    "shrill": Manner(pitch_st=HIGH_ST),
    "low": Manner(pitch_st=LOW_ST),
    "deep": Manner(pitch_st=LOW_ST),
}

#: A trace of disgusted, drawn out: sarcasm's contempt and slower delivery (module docstring).
_SARCASM = Manner(emotion={"disgusted": 1.0}, weight=0.5, rate=0.9)
#: Half-intensity serious: the flattest preset that is neither sad nor soft.
_DEADPAN = Manner(emotion={"serious": 1.0}, weight=0.5)

#: Manners no preset names → emotion and prosody (looked up after the space and :data:`WORDS`,
#: so a plugin preset named *sarcastic* wins).
STYLES: Mapping[str, Manner] = {
    "sarcastic": _SARCASM,
    "sarcasm": _SARCASM,
    "ironic": _SARCASM,
    "irony": _SARCASM,
    "mocking": _SARCASM,
    "snarky": _SARCASM,
    "dry": _DEADPAN,
    "deadpan": _DEADPAN,
    "wry": _DEADPAN,
}

#: Non-verbal sounds (stage directions) → a pause in ms; phrases are matched before words.
SOUNDS: Mapping[str, int] = {
    "pause": 500,
    "pauses": 500,
    "short pause": 250,
    "brief pause": 250,
    "long pause": 1000,
    "beat": 300,
    "a beat": 300,
    "sigh": 500,
    "sighs": 500,
    "sighing": 500,
    "sighs deeply": 800,
    "sighs heavily": 800,
    "heavy sigh": 800,
    "deep sigh": 800,
    "breath": 300,
    "breathes": 300,
    "breathe": 300,
    "inhales": 300,
    "inhale": 300,
    "exhales": 300,
    "exhale": 300,
    "deep breath": 600,
    "takes a breath": 300,
    "take a breath": 300,
    "takes a deep breath": 600,
    "take a deep breath": 600,
    "laugh": 400,
    "laughs": 400,
    "laughing": 400,
    "laughingly": 400,
    "laughter": 400,
    "chuckle": 300,
    "chuckles": 300,
    "chuckling": 300,
    "giggle": 300,
    "giggles": 300,
    "giggling": 300,
    "snort": 250,
    "snorts": 250,
    "gasp": 300,
    "gasps": 300,
    "gasping": 300,
    "cough": 400,
    "coughs": 400,
    "coughing": 400,
    "sniff": 250,
    "sniffs": 250,
    "sniffles": 250,
    "groan": 500,
    "groans": 500,
    "yawn": 600,
    "yawns": 600,
    "hum": 400,
    "hums": 400,
    "humming": 400,
    "whistle": 400,
    "whistles": 400,
    "clears throat": 400,
    "clears his throat": 400,
    "clears her throat": 400,
    "clears their throat": 400,
    "clearing throat": 400,
}
#: Longest pause a reading adds up to, however many sounds it names.
MAX_PAUSE_MS = 5000
#: Longest phrase (in words) in :data:`SOUNDS` and :data:`PROSODY`.
_LONGEST_PHRASE = max(len(key.split()) for key in (*SOUNDS, *PROSODY))

#: Aliases too common in free text to read as emotions ("you are an *assistant*").
IGNORED = frozenset({"chat", "assistant", "content", "interested", "like"})

#: Suffix rewrites tried, in order, when a word is not known as it stands.
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ically", "ic"),  # enthusiastically, sarcastically
    ("ily", "y"),  # angrily, happily, drily
    ("ly", ""),  # cheerfully, calmly, excitedly, slowly, quietly
    ("ly", "le"),  # gently
    ("iest", "y"),
    ("ier", "y"),  # happier
    ("est", ""),
    ("er", ""),  # calmer, faster, louder, higher
    ("iness", "y"),
    ("ness", ""),  # calmness
)


@dataclass(frozen=True, slots=True)
class Direction:
    """What a stage direction or a free-text instruction asks for."""

    emotion: Mapping[str, float] = field(default_factory=dict)
    """Label → weight including intensity, rounded to 3 places (``{}``: none named)."""
    rate: float = 1.0
    """Speaking-rate factor ("slowly" 0.8, "fast" 1.2, "very slowly" lower)."""
    volume_db: float = 0.0
    """Loudness change in dB ("quietly" −6, "loudly" +6; degree words scale it)."""
    pitch_st: float = 0.0
    """Pitch shift in semitones ("high-pitched" +3, "deep voice" −3)."""
    pause_ms: int = 0
    """A non-verbal sound read as a pause ("laughs" 400, "sighs" 500), summed, at most
    :data:`MAX_PAUSE_MS`."""
    understood: tuple[str, ...] = ()
    """The words that mapped to something, as written, each once, in order; with their degree
    word ("very slowly") or as "not …" when negated."""
    unknown: tuple[str, ...] = ()
    """Content words that map to nothing ("pirate"), as written, each once, in order."""

    @property
    def empty(self) -> bool:
        """Whether nothing was understood."""
        return not self.understood


_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|[.,;:!?…()\[\]\"“”—–*]")
_BOUNDARY = object()


def _tokens(text: str) -> tuple[list, list[str]]:
    """Lookup keys (lowercase words, or ``_BOUNDARY`` for punctuation) and the words as written."""
    keys: list = []
    surfaces: list[str] = []
    for match in _TOKEN.finditer(text.replace("’", "'")):
        token = match.group()
        keys.append(token.lower() if token[0].isalpha() else _BOUNDARY)
        surfaces.append(token)
    return keys, surfaces


def _is_negator(token: str) -> bool:
    return token in NEGATORS or token.endswith("n't")


def _modifier(tokens: list, i: int) -> tuple[float, int] | None:
    """The longest modifier starting at ``tokens[i]``: (intensity, word count)."""
    for length in (3, 2, 1):
        words = tuple(tokens[i : i + length])
        if len(words) == length and words in MODIFIERS:
            return MODIFIERS[words], length
    return None


def _known(word: str, space: EmotionSpace) -> Manner | None:
    """The emotion of one word as it stands: a space name, :data:`WORDS`, then :data:`STYLES`."""
    if word in IGNORED:
        return None
    try:
        return Manner(emotion={space.resolve(word): 1.0})
    except UnknownEmotionError:
        pass
    shares = WORDS.get(word)
    if shares is not None:
        return Manner(emotion={label: share for label, share in shares.items() if label in space.labels})
    style = STYLES.get(word)
    if style is not None:
        emotion = {label: share for label, share in style.emotion.items() if label in space.labels}
        return Manner(emotion=emotion, weight=style.weight, rate=style.rate)
    return None


def _lookup(word: str, space: EmotionSpace) -> Manner | None:
    """The manner of one word: as it stands, then through its suffix forms; at each form a
    :data:`PROSODY` word first, then an emotion (:func:`_known`)."""
    forms = [word]
    for suffix, replacement in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + replacement)
    for form in forms:
        manner = PROSODY.get(form) or _known(form, space)
        if manner is not None:
            return manner
    return None


def _phrase(keys: list, i: int) -> tuple[int | Manner, int] | None:
    """A :data:`SOUNDS` or :data:`PROSODY` phrase of two or more words at ``keys[i]``:
    (pause ms or manner, word count)."""
    for length in range(_LONGEST_PHRASE, 1, -1):
        words = keys[i : i + length]
        if len(words) < length or any(word is _BOUNDARY for word in words):
            continue
        key = " ".join(words)
        if key in SOUNDS:
            return SOUNDS[key], length
        if key in PROSODY:
            return PROSODY[key], length
    return None


def _unique(words: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(words))


def _bounded(name: str, value: float) -> float:
    low, high = TARGET_BOUNDS[name]
    return min(high, max(low, value))


def read_direction(text: str, space: EmotionSpace) -> Direction:
    """What a stage direction (``"laughs"``, ``"very happy"``, ``"in a calm voice"``) or a
    free-text instruction (``"speak slowly and sadly, like a pirate"``) asks for.

    :param text: the direction without its brackets or asterisks, or a whole instruction.
    :param space: the emotion space whose labels and aliases are recognised.
    :return: emotion weights, prosody, a pause, and the words understood and not understood;
        :attr:`Direction.empty` when nothing was understood. Never raises.
    """
    if not isinstance(text, str) or not text.strip():
        return Direction()
    keys, surfaces = _tokens(text)
    found: list[tuple[Mapping[str, float], float]] = []
    log_rate = volume = pitch = 0.0
    pause = 0
    understood: list[str] = []
    unknown: list[str] = []
    pending: tuple[float, int, int] | None = None  # (intensity, last index it reaches, its index)
    negated = False
    i = 0
    while i < len(keys):
        key = keys[i]
        if key is _BOUNDARY or key in CLAUSE_WORDS:
            pending, negated = None, False
            i += 1
            continue
        if _is_negator(key):
            negated = True
            i += 1
            continue
        modifier = _modifier(keys, i)
        if modifier is not None:
            intensity, length = modifier
            pending = (intensity, i + length - 1 + MODIFIER_REACH, i)
            i += length
            continue
        meaning: int | Manner | None = None
        length = 1
        phrase = _phrase(keys, i)
        if phrase is not None:
            meaning, length = phrase
        elif key in SOUNDS:
            meaning = SOUNDS[key]
        elif key in FUNCTION_WORDS:
            i += 1
            continue
        elif i + 1 < len(keys) and keys[i + 1] is not _BOUNDARY:
            meaning = _known(f"{key}_{keys[i + 1]}", space)  # two-word aliases: "sports commentary"
            length = 2 if meaning is not None else 1
        if meaning is None:
            meaning = _lookup(key, space)
        if meaning is None:
            if key not in IGNORED:
                unknown.append(surfaces[i])
            i += 1
            continue
        words = " ".join(surfaces[i : i + length])
        reach = pending if pending is not None and i <= pending[1] else None
        if negated:
            understood.append(f"not {words}")
        elif isinstance(meaning, int):
            understood.append(words)
            pause += meaning
        else:
            intensity = reach[0] if reach is not None else DEFAULT
            understood.append(" ".join(surfaces[reach[2] : i + length]) if reach is not None else words)
            emotion = {label: share for label, share in meaning.emotion.items() if label != "neutral"}
            if emotion:
                found.append((emotion, intensity * meaning.weight))
            scale = intensity / DEFAULT
            log_rate += math.log(meaning.rate) * scale
            volume += meaning.volume_db * scale
            pitch += meaning.pitch_st * scale
        pending = None
        i += length
    weights: dict[str, float] = {}
    for shares, intensity in found:
        for label, share in shares.items():
            weights[label] = weights.get(label, 0.0) + share * intensity / len(found)
    return Direction(
        emotion={label: round(weight, 3) for label, weight in weights.items() if round(weight, 3) > 0},
        rate=round(_bounded("rate", math.exp(max(-50.0, min(50.0, log_rate)))), 4),
        volume_db=round(_bounded("volume_db", volume), 2) + 0.0,
        pitch_st=round(_bounded("pitch_st", pitch), 2) + 0.0,
        pause_ms=min(pause, MAX_PAUSE_MS),
        understood=_unique(understood),
        unknown=_unique(unknown),
    )


def emotion_from_instructions(text: str, space: EmotionSpace) -> dict[str, float]:
    """Emotion weights ({label: weight including intensity}) named by free-text instructions:
    the emotion of :func:`read_direction`.

    :param text: e.g. ``"speak cheerfully"``, ``"calm and reassuring"``, ``"sound a bit sad"``.
    :param space: the emotion space whose labels and aliases are recognised.
    :return: weights rounded to 3 places; ``{}`` (neutral) when nothing is recognised.
    """
    return dict(read_direction(text, space).emotion)


#: What a stage direction's words may look like to be read at all (letters, spaces, ``'``, ``-``).
DIRECTION_WORDS = re.compile(r"[A-Za-z][A-Za-z' -]{0,60}")


def direction_kind(words: str, space: EmotionSpace, *, bracket: bool) -> str:
    """How the markup reads a stage direction's ``words`` (inside ``[…]`` when ``bracket``, else
    inside ``(…)`` or ``*…*``), by the same rules as the chat stage of the scanner.

    :return: ``"cue"`` when it names an emotion or a rate, volume or pitch (it opens a cue);
        ``"opaque"`` when it is only a pause, or a bracket that means nothing (dropped);
        ``"text"`` when it is ordinary words (parentheses not read fully as a direction).
        Never raises.
    """
    if not isinstance(words, str):
        return "text"
    if words.strip().lower() in SOUNDS:
        return "opaque"
    direction = read_direction(words, space) if DIRECTION_WORDS.fullmatch(words) else None
    if direction is None or direction.empty or (direction.unknown and not bracket):
        return "opaque" if bracket else "text"
    prosody = direction.rate != 1.0 or direction.volume_db or direction.pitch_st
    return "cue" if direction.emotion or prosody else "opaque"
