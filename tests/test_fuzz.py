"""Input nobody planned for: the parser under generated tag soup, the HTTP server under malformed requests.

``benchmarks/fuzz.py`` runs the parser side at scale (100 000+ inputs); this file keeps a fast
slice of it in the suite. The Wyoming server's malformed events are in tests/test_wyoming.py.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.errors import EmottsError, HostileInputError
from emotts_plugin.synthesizer import Synthesizer

PIECES = [
    "<speak>",
    "</speak>",
    '<emotion name="happy">',
    "</emotion>",
    "<![CDATA[",
    "]]>",
    "<![CDATA[x < y]]>",
    "<!--",
    "-->",
    "&",
    "&amp;",
    "&#0;",
    "&#x1F600;",
    "&bogus;",
    "<",
    ">",
    "</",
    "<>",
    '<prosody rate="',
    "</prosody>",
    "[calm]",
    "(laughs)",
    '<break time="1e9ms"/>',
    '<say-as interpret-as="digits">',
    "</say-as>",
    "<mstts:express-as>",
    "\x07",
]
SOUP = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(PIECES)), max_size=30).map(" ".join)


def test_cdata_that_lxml_refuses_falls_back_to_plain_text(runtime):
    # found by benchmarks/fuzz.py: the plain-text fallback itself used to raise on CDATA
    plan = runtime.parse("δγ <![CDATA[ç < ç]]> <break/> words", mode="lenient")
    assert "δγ" in plan.text and "words" in plan.text
    plan = runtime.parse("a &#7; <![CDATA[b]]> < c", mode="lenient")
    assert plan.text.split()[0] == "a" and "c" in plan.text


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=SOUP)
def test_lenient_raises_nothing_undocumented_and_strict_only_our_errors(runtime, text):
    try:
        runtime.parse(text, mode="lenient")
    except HostileInputError:
        pass
    try:
        runtime.parse(text, mode="strict")
    except EmottsError as exc:
        assert isinstance(exc, ValueError)


# -- HTTP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False))


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


ROUTES = ["/v1/synthesize", "/v1/plan", "/v1/audio/speech", "/v1/ivr/calls/fuzz/say", "/v1/webui/render"]
BODIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b'{"input": }',
    b"\xff\xfe\x00garbage",
    b'{"input": "\xff"}',
    b'{"input": "hi", "input": 5}',
    b'{"input": {"nested": [1, 2, 3]}}',
    b'{"input": "' + b"a" * 10 + b'", "format": ["wav"], "response_format": ["wav"], "intensity": "x"}',
    b'{"input": "hi", "intensity": "NaN"}',
    b'{"input": "hi", "intensity": 1e400}',
    b'{"text": null, "voice": 7}',
]


async def still_serving(client) -> None:
    response = await client.post("/v1/plan", json={"input": "Still here."})
    assert response.status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
async def test_malformed_bodies_are_4xx_in_the_error_shape(client, path, body):
    response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status < 500, (response.status, (await response.read())[:200])
    error = (await response.json())["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    await still_serving(client)


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FIELDS = [
    "input",
    "voice",
    "emotion",
    "intensity",
    "transition_ms",
    "format",
    "sample_rate",
    "seed",
    "strict",
    "stream",
    "reference",
    "reference_weight",
    "model",
    "speed",
    "instructions",
    "response_format",
    "text",
    "mark",
    "barge_in",
]


@pytest.mark.asyncio
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_generated_request_objects_never_get_a_500(client, data):
    # only types that cannot render long audio: the point is validation, not synthesis
    body = data.draw(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUE, max_size=6))
    if isinstance(body.get("input"), str) or isinstance(body.get("text"), str):
        body["format"] = "bogus"  # a valid request would render; keep each example fast
    path = data.draw(st.sampled_from(ROUTES))
    response = await client.post(path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status < 500, (path, body, (await response.read())[:200])


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "method, path, headers, data",
    [
        ("POST", "/v1/synthesize", {"Content-Type": "text/plain"}, b"hello"),
        (
            "POST",
            "/v1/synthesize",
            {"Content-Type": "application/json", "X-Junk": "x" * 7000},
            b'{"input": "hi", "format": "x"}',
        ),
        ("GET", "/v1/synthesize", {}, b""),
        ("PUT", "/v1/audio/speech", {}, b"{}"),
        ("GET", "/v1/ivr/prompt.exe", {}, b""),
        ("GET", "/v1/ivr/calls/" + "x" * 300, {}, b""),
        ("POST", "/v1/references", {"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nbroken"),
        ("GET", "/static/../../etc/passwd", {}, b""),
        ("GET", "/nowhere", {}, b""),
    ],
)
async def test_odd_methods_paths_and_content_types(client, method, path, headers, data):
    response = await client.request(method, path, headers=headers, data=data)
    assert 400 <= response.status < 500, (response.status, (await response.read())[:200])
    await still_serving(client)
