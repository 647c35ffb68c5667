"""The WebUI: its JSON endpoints through aiohttp's client, the page in a real browser.

The browser test drives Debian's Chromium through Playwright (no downloaded
browsers) against the real app served on a loopback port from a background
thread: it types markup, picks an emotion, generates, and checks the player,
the download link, the plan table, the legend and the canvas pixels.
Set ``EMOTTS_WEBUI_SCREENSHOT=/tmp/webui.png`` to keep a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
import soundfile
from aiohttp import web

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.webui import EXAMPLE_TEXT, emotion_colour, static_folder
from emotts_plugin.synthesizer import Synthesizer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NEW_TEXT = 'Hello there. <emotion name="happy">This is wonderful news!</emotion>'
NEW_WORDS = ["Hello", "there", "This", "is", "wonderful", "news"]
HEX_COLOUR = re.compile(r"^#[0-9a-f]{6}$")


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


# -- endpoints through aiohttp's client -------------------------------------------------


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth, workers=1))


@pytest.mark.asyncio
async def test_page_and_assets_are_served_with_nothing_external(client):
    page = await client.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    for element_id in (
        "text",
        "voice",
        "emotion",
        "intensity",
        "transition",
        "generate",
        "player",
        "download",
        "plan",
        "plot",
        "warnings",
        "error",
    ):
        assert f'id="{element_id}"' in html, element_id
    assert '<label for="emotion">' in html
    for name, content_type in (("app.js", "text/javascript"), ("style.css", "text/css")):
        asset = await client.get(f"/static/{name}")
        assert asset.status == 200, name
        assert asset.content_type == content_type
        assert f"/static/{name}" in html
        assert not re.search(r"https?://|//cdn|@import", await asset.text()), (
            f"{name} loads something from elsewhere"
        )
    assert not re.search(r"https?://", html)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path", ["/static/missing.js", "/static/.hidden.js", "/static/..%2Fwebui.py", "/static/webui.py"]
)
async def test_static_refuses_other_files(client, path):
    response = await client.get(path)
    assert response.status == 404
    assert "error" in await response.json()


@pytest.mark.asyncio
async def test_options_list_voices_labels_colours_and_defaults(client, synth):
    response = await client.get("/v1/webui/options")
    assert response.status == 200
    options = await response.json()
    assert "joe" in [voice["name"] for voice in options["voices"]]
    labels = [emotion["label"] for emotion in options["emotions"]]
    assert labels == list(synth.runtime.space.labels)
    assert {"sad", "happy", "gentle", "neutral"} <= set(labels)
    colours = [emotion["colour"] for emotion in options["emotions"]]
    assert all(HEX_COLOUR.match(colour) for colour in colours), colours
    assert len(set(colours)) == len(colours), "two labels share a colour"
    defaults = options["defaults"]
    assert defaults["transition_ms"] == synth.config.transition_ms
    assert defaults["intensity"] == synth.config.intensity
    assert defaults["voice"] == synth.config.voice
    assert '<emotion name="gentle"' in options["example"]


def test_labels_from_plugins_get_a_stable_colour():
    assert emotion_colour("sarcastic") == emotion_colour("sarcastic")
    assert HEX_COLOUR.match(emotion_colour("sarcastic"))
    assert emotion_colour("sarcastic") != emotion_colour("smug")


@pytest.mark.asyncio
async def test_render_answers_audio_plan_spans_pitch_and_loudness(client):
    response = await client.post(
        "/v1/webui/render",
        json={"input": EXAMPLE_TEXT, "voice": "joe", "emotion": None, "intensity": 1.0, "transition_ms": 200},
    )
    assert response.status == 200, await response.text()
    body = await response.json()

    audio, rate = soundfile.read(io.BytesIO(base64.b64decode(body["audio_wav_base64"])), dtype="float32")
    assert rate == body["sample_rate"]
    assert abs(len(audio) / rate - body["duration_s"]) < 1e-3
    assert body["duration_s"] > 3.0
    assert np.abs(audio).max() > 0.1

    segments = body["plan"]["segments"]
    assert [segment["emotion"] for segment in segments] == [{}, {"gentle": 0.6}, {"happy": 0.8}]
    spans = body["spans"]
    assert [span["emotion"] for span in spans] == ["neutral", "gentle", "happy"]
    assert [span["segment"] for span in spans] == [0, 1, 2]
    assert spans[1]["text"] == segments[1]["text"]
    assert 0.0 <= spans[0]["start_s"] < 0.3
    for before, after in zip(spans, spans[1:]):
        assert before["start_s"] < before["end_s"] <= after["start_s"]
    assert abs(spans[-1]["end_s"] - body["duration_s"]) < 0.05  # the spans reach the end of the audio

    pitch, loudness = body["pitch"], body["loudness"]
    assert len(pitch["times"]) == len(pitch["hz"]) > 0.8 * body["duration_s"] / 0.01
    assert len(loudness["times"]) == len(loudness["db"]) > 0.8 * body["duration_s"] / 0.01
    voiced = [hz for hz in pitch["hz"] if hz is not None]
    assert len(voiced) > 100
    assert None in pitch["hz"]  # the break is unvoiced
    assert 60 <= np.median(voiced) <= 300
    assert max(loudness["db"]) - min(loudness["db"]) > 20  # speech against the break
    assert body["warnings"] == []


@pytest.mark.asyncio
async def test_render_answers_word_timings_within_the_audio(client):
    response = await client.post("/v1/webui/render", json={"input": NEW_TEXT, "transition_ms": 0})
    assert response.status == 200, await response.text()
    body = await response.json()
    timings = body["timings"]
    assert abs(timings["duration"] - body["duration_s"]) < 2e-3
    words = timings["words"]
    assert [word["text"] for word in words] == NEW_WORDS
    assert [word["segment"] for word in words] == [0, 0, 1, 1, 1, 1]
    for word in words:
        assert 0.0 <= word["start"] < word["end"] <= body["duration_s"] + 1e-3, word
        span = body["spans"][word["segment"]]
        assert span["start_s"] - 0.02 <= word["start"] and word["end"] <= span["end_s"] + 0.02, (word, span)
    for before, after in zip(words, words[1:]):
        assert before["end"] <= after["start"], (before, after)
    assert NEW_TEXT[slice(*words[4]["source"])] == "wonderful"
    assert timings["visemes"] and timings["viseme_set"] == "azure"


@pytest.mark.asyncio
async def test_render_applies_the_emotion_override_and_intensity(client):
    response = await client.post(
        "/v1/webui/render", json={"input": NEW_TEXT, "emotion": "sad", "intensity": 0.5, "transition_ms": 0}
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert [segment["emotion"] for segment in body["plan"]["segments"]] == [{"sad": 0.5}, {"happy": 1.0}]
    assert [span["emotion"] for span in body["spans"]] == ["sad", "happy"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"input": "   "}, "input is empty"),
        ({}, "input must be a string"),
        ({"input": 42}, "input must be a string"),
        ({"input": "Hi.", "intensity": 2}, "intensity must be within 0..1"),
        ({"input": "Hi.", "intensity": "high"}, "intensity must be a number"),
        ({"input": "Hi.", "transition_ms": -5}, "transition_ms must be within"),
        ({"input": "Hi.", "speed": 2}, "unknown key 'speed'"),
        ({"input": "Hi.", "mode": "sloppy"}, "mode must be one of"),
        ({"input": "Hi.", "emotion": "grumpy"}, "unknown emotion 'grumpy'"),
        ({"input": "Hi.", "voice": "nobody"}, "unknown voice 'nobody'"),
        ({"input": "<speak>Hi <emotion name='sad'>there</speak>", "mode": "strict"}, "line 1"),
    ],
)
async def test_bad_render_requests_are_400_with_a_clear_message(client, body, words):
    response = await client.post("/v1/webui/render", json=body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert words in error["message"], error


@pytest.mark.asyncio
async def test_render_refuses_a_body_that_is_not_json(client):
    response = await client.post(
        "/v1/webui/render", data=b"input=hello", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "not valid JSON" in (await response.json())["error"]["message"]


def test_static_files_are_package_data():
    names = {entry.name for entry in static_folder().iterdir()}
    assert {"index.html", "app.js", "style.css"} <= names


# -- the page in Chromium ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(synth):
    """The real app on a free loopback port, served from a thread with its own loop."""
    app = create_app(synth.config, synthesizer=synth, workers=1)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="webui-test-server", daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    if failure:
        raise failure[0]
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page_at(browser, live_server):
    """Open the WebUI at a viewport size; fails the test on any script error or outside request."""
    contexts = []
    problems: list[str] = []

    def open_page(width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
        page.on(
            "request",
            lambda req: (
                None
                if req.url.startswith((live_server, "blob:", "data:"))
                else problems.append(f"outside request: {req.url}")
            ),
        )
        page.goto(live_server + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not problems, problems


PIXELS_JS = """([r, g, b]) => {
  // pixels inside the plot area (between the axes): inked at all, and near the colour (r, g, b)
  const canvas = document.querySelector('#plot');
  const scale = canvas.width / canvas.clientWidth;
  const [x0, y0, x1, y1] = (canvas.dataset.area || '0,0,0,0').split(',')\
.map(v => Math.round(Number(v) * scale));
  const total = Math.max(0, x1 - x0 - 4) * Math.max(0, y1 - y0 - 4);
  if (!total) return {ink: 0, near: 0, total: 0};
  const data = canvas.getContext('2d').getImageData(x0 + 2, y0 + 2, x1 - x0 - 4, y1 - y0 - 4).data;
  let ink = 0, near = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240) ink++;
    if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 60) near++;
  }
  return {ink, near, total};
}"""


def _rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


def _generate_and_wait(page) -> None:
    previous = page.evaluate("document.querySelector('#player').src")
    page.click("#generate")
    page.wait_for_function(
        """(previous) => {
             const p = document.querySelector('#player');
             return (p.src && p.src !== previous && p.dataset.duration && p.duration > 0)"""
        """ || !document.querySelector('#error').hidden;
           }""",
        arg=previous,
        timeout=30_000,
    )
    assert page.is_hidden("#error"), page.text_content("#error")


def test_browser_types_picks_an_emotion_generates_and_sees_audio_plan_and_plot(page_at, tmp_path):
    page = page_at(1280, 800)
    assert '<emotion name="gentle"' in page.input_value("#text")
    assert page.get_attribute("#plot", "data-drawn") is None  # nothing drawn yet
    blank = page.evaluate(
        "(() => { const c = document.querySelector('#plot');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " return d.filter((v, i) => i % 4 < 3 && v < 240).length; })()"
    )
    assert blank == 0
    assert page.get_attribute("#download", "aria-disabled") == "true"

    page.get_by_label("Text or markup").fill(NEW_TEXT)
    labels = page.eval_on_selector_all("#emotion option", "options => options.map(o => o.value)")
    assert labels[0] == "" and {"sad", "happy", "angry", "neutral"} <= set(labels[1:])
    page.get_by_label("Emotion", exact=True).select_option("sad")
    page.get_by_label("Intensity").fill("0.5")
    assert page.text_content("#intensity-value") == "0.50"
    page.get_by_label("Transition").fill("150")
    _generate_and_wait(page)

    duration = page.evaluate("document.querySelector('#player').duration")
    assert 1.5 < duration < 10
    assert abs(float(page.get_attribute("#player", "data-duration")) - duration) < 1e-6

    href = page.get_attribute("#download", "href")
    assert href.startswith("blob:")
    assert page.get_attribute("#download", "download").endswith(".wav")
    header = page.evaluate(
        """async (url) => { const b = new Uint8Array(await (await fetch(url)).arrayBuffer());
                            return String.fromCharCode(...b.slice(0, 4))"""
        """ + String.fromCharCode(...b.slice(8, 12)); }""",
        href,
    )
    assert header == "RIFFWAVE"

    rows = page.eval_on_selector_all(
        "#plan tbody tr",
        "rows => rows.map(r => [r.dataset.emotion, r.cells[2].textContent, r.cells[3].textContent])",
    )
    assert len(rows) >= 2
    assert rows[0][0] == "sad" and "Hello there." in rows[0][1] and "sad 0.50" in rows[0][2]
    assert rows[1][0] == "happy" and "wonderful news" in rows[1][1]

    legend = page.eval_on_selector_all(
        "#legend li[data-emotion]", "items => items.map(i => i.dataset.emotion)"
    )
    assert legend == ["sad", "happy"]
    assert page.get_attribute("#plot", "data-drawn") == "true"
    assert int(page.get_attribute("#plot", "data-points")) > 50
    assert page.get_attribute("#plot", "data-segments") == "2"

    pixels = page.evaluate(PIXELS_JS, _rgb(emotion_colour("sad")))
    assert pixels["ink"] > 0.3 * pixels["total"], pixels  # bands, loudness and lines cover the plot
    assert pixels["near"] > 100, pixels  # the sad part of the pitch line
    assert page.evaluate(PIXELS_JS, _rgb(emotion_colour("happy")))["near"] > 100

    page.screenshot(path=str(tmp_path / "webui.png"), full_page=True)
    keep = os.environ.get("EMOTTS_WEBUI_SCREENSHOT")
    if keep:
        shutil.copyfile(tmp_path / "webui.png", keep)


def test_browser_shows_an_error_and_keeps_working(page_at):
    page = page_at(1280, 800)
    page.fill("#text", "")
    page.click("#generate")
    page.wait_for_selector("#error:not([hidden])", timeout=10_000)
    assert "input is empty" in page.text_content("#error")
    assert page.is_enabled("#generate")

    page.fill("#text", "<speak>Hi <emotion name='sad'>there</speak>")
    page.check("#strict")
    page.click("#generate")
    page.wait_for_function("document.querySelector('#error').textContent.includes('line 1')", timeout=10_000)

    page.uncheck("#strict")
    page.fill("#text", "Still working.")
    _generate_and_wait(page)
    assert page.is_hidden("#error")
    assert page.evaluate("document.querySelector('#player').duration") > 0.3
    assert page.eval_on_selector_all("#plan tbody tr[data-emotion]", "rows => rows.length") == 1


def test_browser_layout_fits_a_phone(page_at, tmp_path):
    page = page_at(390, 844)
    page.fill("#text", 'Short. <emotion name="angry">Now!</emotion>')
    _generate_and_wait(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    player = page.locator("#player").bounding_box()
    assert player["height"] >= 30 and player["width"] > 300
    plot = page.locator("#plot").bounding_box()
    assert plot["width"] > 300 and plot["x"] >= 0 and plot["x"] + plot["width"] <= 390
    assert page.evaluate(PIXELS_JS, _rgb(emotion_colour("angry")))["near"] > 20
    page.screenshot(path=str(tmp_path / "webui-phone.png"), full_page=True)
    keep = os.environ.get("EMOTTS_WEBUI_SCREENSHOT")
    if keep:
        shutil.copyfile(tmp_path / "webui-phone.png", Path(keep).with_name(Path(keep).stem + "-phone.png"))


def test_browser_uploads_a_reference_and_speaks_in_its_manner(page_at, synth, tmp_path):
    sad = synth.synthesize("I am so sorry for the wait. We will call you back tomorrow.", emotion="sad")
    recording = tmp_path / "agent.wav"
    soundfile.write(recording, sad.audio, sad.sample_rate)
    page = page_at(1280, 900)
    page.fill("#text", "Your order has shipped.")
    page.select_option("#emotion", "")
    assert page.is_disabled("#reference-weight")
    page.set_input_files("#reference-file", str(recording))
    page.wait_for_function(
        "document.querySelector('#reference-info').textContent.includes('sounds')", timeout=30_000
    )
    info = page.text_content("#reference-info")
    assert "agent.wav" in info and any(label in info for label in ("sad", "melancholic", "gentle", "calm"))
    assert page.is_enabled("#reference-weight") and page.is_enabled("#reference-clear")
    _generate_and_wait(page)
    pitch = page.eval_on_selector_all(
        "#plan tbody tr[data-emotion] td.num",
        "cells => cells.map(c => c.textContent).find(t => t.endsWith(' st'))",
    )
    assert pitch.startswith("\u2212"), (
        pitch
    )  # (a minus sign) the plan's pitch target took the sad reference's lower level

    page.click("#reference-clear")
    assert page.is_disabled("#reference-weight")
    notes = tmp_path / "notes.wav"
    notes.write_text("minutes of the meeting")
    page.set_input_files("#reference-file", str(notes))
    page.wait_for_selector("#error:not([hidden])", timeout=10_000)
    assert "not audio that can be read" in page.text_content("#error")
    assert "No reference" in page.text_content("#reference-info")


WORDS_GEOMETRY_JS = """() => {
  // where each word of #words is drawn, against the canvas's content box and its plot area
  const canvas = document.querySelector('#plot');
  const box = canvas.getBoundingClientRect();
  const [x0, y0, x1, y1] = canvas.dataset.area.split(',').map(Number);
  const left = box.left + canvas.clientLeft;
  return {
    plot: {x0: left + x0, x1: left + x1, bottom: box.bottom},
    words: [...document.querySelectorAll('#words > li')].map((li) => {
      const bar = li.querySelector('.word-span').getBoundingClientRect();
      const text = li.querySelector('button').getBoundingClientRect();
      return {text: li.textContent, bar: [bar.left, bar.right, bar.top],
              box: [text.left, text.right, text.top, text.bottom]};
    }),
  };
}"""

SAMPLE_WORDS_JS = """async ([count, every]) => {
  // every `every` ms, at the next animation frame: the player's time and the word(s) marked current
  const player = document.querySelector('#player');
  const samples = [];
  for (let i = 0; i < count; i++) {
    await new Promise((done) => setTimeout(done, every));
    await new Promise((done) => requestAnimationFrame(() => done()));
    samples.push({
      time: player.currentTime,
      paused: player.paused,
      current: [...document.querySelectorAll('#words li.current')].map((li) => Number(li.dataset.index)),
      aria: [...document.querySelectorAll('#words [aria-current]')].map((node) => node.textContent),
    });
  }
  return samples;
}"""

SEEK_JS = """async (time) => {
  // pause, seek to `time`, and say which word is marked current once the seek is done
  const player = document.querySelector('#player');
  player.pause();
  await new Promise((done) => {
    player.addEventListener('seeked', done, {once: true});
    player.currentTime = time;
  });
  await new Promise((done) => requestAnimationFrame(() => done()));
  return {
    time: player.currentTime,
    current: [...document.querySelectorAll('#words li.current')].map((li) => Number(li.dataset.index)),
    aria: [...document.querySelectorAll('#words [aria-current]')].map((node) => node.textContent),
  };
}"""

#: Seconds either side of a word's edge where the highlight may still show the word before
#: (it follows the player at the next animation frame).
EDGE_S = 0.05


def _words_at(words: list[dict], time: float) -> list[int]:
    return [index for index, word in enumerate(words) if word["start"] <= time < word["end"]]


def test_browser_shows_the_words_under_the_plot_and_highlights_the_one_heard(page_at):
    page = page_at(1280, 800)
    assert page.is_hidden("#words")
    page.fill("#text", NEW_TEXT)
    with page.expect_response("**/v1/webui/render") as answer:
        _generate_and_wait(page)
    body = answer.value.json()
    words, duration = body["timings"]["words"], body["duration_s"]
    assert [word["text"] for word in words] == NEW_WORDS

    # the words, as text in order, each under the plot at its start..end on the plot's time axis
    assert page.is_visible("#words")
    assert page.get_attribute("#words", "aria-label")
    assert page.eval_on_selector_all("#words > li", "items => items.map(li => li.textContent)") == NEW_WORDS
    geometry = page.evaluate(WORDS_GEOMETRY_JS)
    plot = geometry["plot"]
    x_of = lambda t: plot["x0"] + t / duration * (plot["x1"] - plot["x0"])  # noqa: E731
    for word, drawn in zip(words, geometry["words"]):
        bar_left, bar_right, bar_top = drawn["bar"]
        assert abs(bar_left - x_of(word["start"])) < 1.5, (word, drawn, plot)
        assert abs(bar_right - x_of(word["end"])) < 1.5, (word, drawn, plot)
        assert plot["bottom"] <= bar_top < plot["bottom"] + 120, (word, drawn, plot)
        text_left, text_right, text_top, text_bottom = drawn["box"]
        assert abs(text_left - bar_left) < 1.5 and text_top >= bar_top  # the text starts at the bar
    lefts = [drawn["box"][0] for drawn in geometry["words"]]
    assert lefts == sorted(lefts)
    assert page.eval_on_selector_all("#words li.current, #words [aria-current]", "nodes => nodes.length") == 0

    # playing from the first word (a click: a user gesture, so the browser lets it play), the
    # highlight follows the audio
    page.click("#words > li:first-child button")
    samples = page.evaluate(SAMPLE_WORDS_JS, [14, 120])
    playing = [sample for sample in samples if not sample["paused"]]
    assert len(playing) >= 10, samples
    times = [sample["time"] for sample in playing]
    assert times[0] >= words[0]["start"] - 0.01 and times == sorted(times) and times[-1] - times[0] > 1.0, (
        times
    )
    checked, seen = 0, set()
    for sample in playing:
        seen.update(sample["current"])
        assert len(sample["current"]) <= 1 and len(sample["aria"]) == len(sample["current"]), sample
        if any(abs(sample["time"] - word[edge]) < EDGE_S for word in words for edge in ("start", "end")):
            continue
        checked += 1
        expected = _words_at(words, sample["time"])
        assert sample["current"] == expected, (sample, words)
        assert sample["aria"] == [words[index]["text"] for index in expected], sample
    assert checked >= 5, samples
    assert len(seen) >= 3, samples  # the highlight moved from word to word

    # seeking (paused) marks exactly the word whose span holds the new time, or none in a gap
    for index, word in enumerate(words):
        state = page.evaluate(SEEK_JS, (word["start"] + word["end"]) / 2)
        assert state["current"] == [index] and state["aria"] == [word["text"]], (word, state)
    gap = (words[1]["end"] + words[2]["start"]) / 2  # the pause between the sentences
    state = page.evaluate(SEEK_JS, gap)
    assert state["current"] == [] and state["aria"] == [], state

    # one tab stop for the words; arrow keys and End move along them, Enter plays from one
    page.focus("#words > li:first-child button")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.textContent") == "there"
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.textContent") == "news"
    assert page.eval_on_selector_all("#words button", "buttons => buttons.map(b => b.tabIndex)") == [
        -1
    ] * 5 + [0]
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(start) => { const p = document.querySelector('#player');"
        " return p.currentTime >= start && !p.paused || p.ended; }",
        arg=words[-1]["start"],
        timeout=5_000,
    )
