"""What each dialect's elements do here: the README's coverage table is generated from this module.

    .venv/bin/python -m emotts_plugin.ssml.coverage     # prints the table (Markdown)

Each :data:`ELEMENTS` row names an element (or an attribute form) of a dialect, how it is handled
— **rendered**, **approximated** (rendered another way than the vendor does), **accepted**
(valid markup, not rendered: a warning in both modes, its words spoken) or a **gap** (known not
to come out as its author meant) — and a note. ``tests/test_coverage.py`` checks that every
element named here has a tag handler, that the handler's kind matches the status, and that the
README holds exactly this table.

Strict-mode policy: strict refuses what is malformed XML, hostile, or invalid by the dialect's
rules as far as we read them (a bad attribute value, an unknown emotion in our own ``<emotion>``
tag, an element no dialect defines). A valid element of a known dialect that we do not render
is accepted with a warning in both modes, and so is a vendor style name we do not know (a
custom voice's style).
"""

from __future__ import annotations

from dataclasses import dataclass

RENDERED, APPROXIMATED, ACCEPTED, GAP = "rendered", "approximated", "accepted", "gap"


@dataclass(frozen=True, slots=True)
class Coverage:
    """One row of the coverage table."""

    dialect: str
    elements: str
    """Element names as written (``mstts:viseme``), space-separated when they share a row."""
    status: str
    note: str = ""
    form: str = ""
    """The attribute form the row is about (``phonation="soft"``), if only one."""

    @property
    def locals(self) -> tuple[str, ...]:
        """The local names the tag handler table is keyed by."""
        return tuple(name.split(":")[-1] for name in self.elements.split())


ELEMENTS: tuple[Coverage, ...] = (
    Coverage("W3C SSML 1.1", "speak", RENDERED),
    Coverage("W3C SSML 1.1", "p s", RENDERED, "segment boundaries"),
    Coverage("W3C SSML 1.1", "break", RENDERED, "time, strength"),
    Coverage("W3C SSML 1.1", "prosody", RENDERED, "pitch, rate, volume, range, contour; duration accepted"),
    Coverage("W3C SSML 1.1", "emphasis", RENDERED, "levels as pitch, rate and loudness changes"),
    Coverage("W3C SSML 1.1", "say-as", RENDERED, "the forms of `emotts_plugin.ssml.sayas`, in English"),
    Coverage("W3C SSML 1.1", "sub", RENDERED, "the alias is spoken"),
    Coverage("W3C SSML 1.1", "mark", RENDERED, "reported with its time"),
    Coverage("W3C SSML 1.1", "lang", RENDERED, "and `xml:lang` on any element"),
    Coverage(
        "W3C SSML 1.1",
        "voice",
        RENDERED,
        form="name",
        note="an installed voice; another name falls back with a warning",
    ),
    Coverage(
        "W3C SSML 1.1",
        "voice",
        APPROXIMATED,
        form="gender, language(s)",
        note="the nearest installed voice: the language first, then the gender (a warning says what "
        "did not match); age and variant are not used",
    ),
    Coverage("W3C SSML 1.1", "phoneme", APPROXIMATED, "the written word is spoken, not `ph`"),
    Coverage("W3C SSML 1.1", "audio", APPROXIMATED, "never fetched: its fallback text is spoken"),
    Coverage("W3C SSML 1.1", "desc meta metadata lexicon", RENDERED, "never spoken"),
    Coverage("W3C SSML 1.1", "token w lookup", RENDERED, "their text is spoken"),
    Coverage("ours", "emotion", RENDERED, "name (mixtures), intensity, transition"),
    Coverage(
        "Azure",
        "mstts:express-as",
        RENDERED,
        "style → emotion, styledegree → intensity; a style we do not know is neutral with a warning; "
        "role accepted",
    ),
    Coverage("Azure", "mstts:silence", RENDERED, "as a break"),
    Coverage("Azure", "bookmark", RENDERED, "as a mark"),
    Coverage(
        "Azure",
        "mstts:viseme",
        ACCEPTED,
        "no viseme events; every render's visemes are in its [timings](#timings)",
    ),
    Coverage("Azure", "mstts:backgroundaudio", ACCEPTED, "never fetched"),
    Coverage("Azure", "mstts:audioduration", ACCEPTED, "the length is not forced"),
    Coverage("Azure", "mstts:ttsembedding", ACCEPTED, "its text is spoken"),
    Coverage("Azure", "mstts:prompt", ACCEPTED),
    Coverage("Google", "google:style", RENDERED, "style → emotion"),
    Coverage(
        "Google",
        "say-as",
        RENDERED,
        form='interpret-as="expletive"',
        note="the word is covered by a 1 kHz tone of its length at the voice's level",
    ),
    Coverage(
        "Google",
        "par seq media",
        APPROXIMATED,
        "children one after another, never joined; begin → a pause before; soundLevel → volume; "
        "end, repeatCount, fades accepted",
    ),
    Coverage("Amazon Polly / Alexa", "amazon:emotion", RENDERED, "excited, disappointed → sad; intensity"),
    Coverage("Amazon Polly / Alexa", "amazon:domain", APPROXIMATED, "each domain as a speaking style"),
    Coverage("Amazon Polly / Alexa", "amazon:effect", RENDERED, form='name="whispered"', note="whispering"),
    Coverage(
        "Amazon Polly / Alexa",
        "amazon:effect",
        APPROXIMATED,
        form='phonation="soft"',
        note="breathier, 4 dB quieter, darker",
    ),
    Coverage(
        "Amazon Polly / Alexa", "amazon:effect", ACCEPTED, form="vocal-tract-length", note="no formant shift"
    ),
    Coverage("Amazon Polly / Alexa", "amazon:effect", ACCEPTED, form='name="drc"'),
    Coverage(
        "Amazon Polly / Alexa",
        "amazon:breath",
        APPROXIMATED,
        "a pause of the breath's length, no breath sound",
    ),
    Coverage(
        "Amazon Polly / Alexa",
        "amazon:auto-breaths",
        APPROXIMATED,
        "a short pause at each clause mark (100-250 ms by frequency), no breath sound",
    ),
    Coverage("EmotionML", "emotionml", RENDERED, "as a container"),
    Coverage(
        "EmotionML",
        "emotion category dimension",
        RENDERED,
        "categories by name, PAD dimensions by their nearest labels",
    ),
    Coverage("EmotionML", "info vocabulary trace", RENDERED, "never spoken"),
    Coverage(
        "EmotionML",
        "appraisal action-tendency",
        ACCEPTED,
        "and dimensions and vocabularies other than pleasure/arousal/dominance",
    ),
    Coverage("EmotionML", "emotion", RENDERED, "with no text of its own: annotates the rest of its element"),
    Coverage(
        "Azure", "mstts:dialog mstts:turn", APPROXIMATED, "each turn apart; one voice speaks every turn"
    ),
    Coverage("Azure", "mstts:voiceconversion", ACCEPTED),
    Coverage("Azure", "math", ACCEPTED, "MathML read as its symbols"),
)


def markdown() -> str:
    """The coverage table as Markdown (the README's)."""
    rows = ["| dialect | element | handled | note |", "|---|---|---|---|"]
    for row in ELEMENTS:
        elements = " ".join(f"`<{name}>`" for name in row.elements.split())
        if row.form:
            elements += f" {row.form}"
        rows.append(f"| {row.dialect} | {elements} | {row.status} | {row.note} |")
    rows += ["", "Known gaps in the conformance set (`tests/data/vendor_ssml.yaml`):", ""]
    rows += [f"- `{example}`: {why}" for example, why in KNOWN_GAPS.items()]
    return "\n".join(rows) + "\n"


#: Examples of ``tests/data/vendor_ssml.yaml`` known not to come out as their authors meant, and why.
KNOWN_GAPS: dict[str, str] = {
    "azure-silence-02": '`<mstts:silence type="comma-exact">` and the other punctuation types are one pause '
    "where the element stands, not a pause at each comma or semicolon",
    "azure-say-as-date-01": 'years are read in pairs ("twenty sixteen"); Azure says "two thousand sixteen"',
    "azure-say-as-date-02": 'years are read in pairs ("twenty sixteen"); Azure says "two thousand sixteen"',
    "azure-say-as-telephone-01": "a telephone number without `format` is read in digit groups; Azure adds "
    '"area code"',
    "azure-say-as-currency-01": 'USD is "dollars"; Azure says "US dollars"',
    "azure-mathml-01": 'MathML is read as its symbols, not as an expression ("a two", not "a squared")',
    "google-say-as-date-02": 'a day-month date is read month first ("September tenth"); Google says "the '
    'tenth of September"',
    "w3c-xml-lang-01": "say-as reads English only: an Italian date is read in English",
    "espeak-markup-doc-01": 'espeak\'s unitless pitch scale (`pitch="75"`) is refused in strict mode',
}


if __name__ == "__main__":
    print(markdown(), end="")
