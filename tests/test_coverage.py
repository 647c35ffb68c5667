"""The README's dialect coverage table is the code's (``ssml/coverage.py``), and every element it
names is handled the way it says."""

from __future__ import annotations

from pathlib import Path

from emotts_plugin.ssml import coverage, tags

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_holds_the_generated_table():
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- coverage:start -->\n", 1)[1].split("<!-- coverage:end -->", 1)[0]
    assert table == coverage.markdown()


def test_every_element_in_the_table_has_a_handler_of_its_kind():
    for row in coverage.ELEMENTS:
        for local in row.locals:
            handler = tags.BUILTIN_TAGS.get(local)
            assert handler is not None, f"{row.elements}: no tag handler for <{local}>"
            if row.status == coverage.ACCEPTED and not row.form:  # it says so: a warning
                assert handler not in (tags.container, tags.skip), row


def test_accepted_elements_are_warnings_in_strict_mode_and_keep_their_words(runtime):
    markup = (
        '<speak xmlns:mstts="https://www.w3.org/2001/mstts">'
        '<mstts:viseme type="redlips_front"/><mstts:ttsembedding>Hello there.</mstts:ttsembedding> '
        '<mstts:express-as style="my-custom-style">Custom style.</mstts:express-as></speak>'
    )
    plan = runtime.parse(markup, mode="strict")
    assert plan.text == "Hello there. Custom style."
    assert [w.message.split(";")[0] for w in plan.warnings] == [
        "<mstts:viseme> is accepted but not rendered",
        "<mstts:ttsembedding> is accepted but not rendered",
        "unknown emotion 'my-custom-style'",
    ]


def test_auto_breaths_pause_at_each_clause_mark(runtime):
    plan = runtime.parse(
        '<speak><amazon:auto-breaths frequency="high">First, we go home; then we eat.'
        "</amazon:auto-breaths> Done.</speak>",
        mode="strict",
    )
    assert [(s.text, s.break_after_ms) for s in plan.segments] == [
        ("First,", 200),
        ("we go home;", 200),
        ("then we eat.", 0),
        ("Done.", 0),
    ]


def test_an_emotionml_annotation_colours_the_rest_of_its_sentence(runtime):
    markup = (
        '<speak xmlns:emo="http://www.w3.org/2009/10/emotionml"><s><emo:emotion>'
        '<emo:category name="worried" value="0.4"/></emo:emotion> Do you need help?</s> Fine.</speak>'
    )
    plan = runtime.parse(markup, mode="strict")
    assert [(s.text, dict(s.emotion)) for s in plan.segments] == [
        ("Do you need help?", {"afraid": 0.4}),
        ("Fine.", {}),
    ]
