"""CORS: browsers on the origins of ``server.cors_origins`` may call the HTTP API, others not.

Through aiohttp's test client on the real voice (noise off): preflights (``OPTIONS`` with
``Access-Control-Request-Method``) as a browser sends them before a ``POST`` with JSON and an
``Authorization`` header, and the headers of the answers that follow, plain, streamed and errors.
"""

from __future__ import annotations

import dataclasses

import pytest
import pytest_asyncio

from emotts_plugin import load_config
from emotts_plugin.adapters.http import CORS_MAX_AGE_S, Cors, create_app
from emotts_plugin.synthesizer import Synthesizer

APP = "https://app.example"
OTHER = "https://evil.example"
#: What a browser's preflight asks before the OpenAI JS SDK's ``POST /v1/audio/speech``.
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os,x-stainless-retry-count",
}
SPEECH = {"model": "tts-1", "voice": "alloy", "input": "Hi there.", "response_format": "wav"}


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


def with_origins(synth, origins: str | None):
    config = synth.config
    return create_app(
        dataclasses.replace(config, server=dataclasses.replace(config.server, cors_origins=origins)),
        synthesizer=synth,
    )


@pytest_asyncio.fixture
async def listed(aiohttp_client, synth):
    return await aiohttp_client(with_origins(synth, f"{APP}, http://localhost:3000/"))


def cors_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def words(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


def test_the_setting_is_read_as_origins_or_any():
    assert Cors.from_setting(None) is None and Cors.from_setting(" , ") is None
    policy = Cors.from_setting("https://App.example/, http://localhost:3000")
    assert policy.allow_origin("https://app.EXAMPLE") == "https://app.EXAMPLE"
    assert policy.allow_origin("http://localhost:3000") == "http://localhost:3000"
    assert policy.allow_origin("http://localhost:3001") is None and policy.allow_origin(None) is None
    assert Cors.from_setting("*").allow_origin("null") == "*"


@pytest.mark.asyncio
async def test_off_by_default(aiohttp_client, synth):
    assert synth.config.server.cors_origins is None
    client = await aiohttp_client(create_app(synth.config, synthesizer=synth))
    preflight = await client.options("/v1/audio/speech", headers={"Origin": APP, **PREFLIGHT})
    assert preflight.status == 405 and not cors_headers(preflight)
    models = await client.get("/v1/models", headers={"Origin": APP})
    assert models.status == 200 and not cors_headers(models) and "Vary" not in models.headers


@pytest.mark.asyncio
async def test_preflight_from_a_listed_origin_allows_the_sdk_request(listed):
    response = await listed.options("/v1/audio/speech", headers={"Origin": APP, **PREFLIGHT})
    assert response.status == 204
    headers = cors_headers(response)
    assert headers["Access-Control-Allow-Origin"] == APP
    assert {"get", "post", "delete", "options"} <= words(headers["Access-Control-Allow-Methods"])
    assert {"authorization", "content-type", "x-stainless-os", "x-stainless-retry-count"} <= words(
        headers["Access-Control-Allow-Headers"]
    )
    assert headers["Access-Control-Max-Age"] == str(CORS_MAX_AGE_S)
    assert "Access-Control-Allow-Credentials" not in headers
    assert "origin" in words(response.headers["Vary"])
    # an origin is compared without case or trailing slash, and answered as sent
    again = await listed.options("/v1/models", headers={"Origin": "http://LOCALHOST:3000", **PREFLIGHT})
    assert again.status == 204 and again.headers["Access-Control-Allow-Origin"] == "http://LOCALHOST:3000"


@pytest.mark.asyncio
async def test_preflight_from_another_origin_gets_no_cors_headers(listed):
    response = await listed.options("/v1/audio/speech", headers={"Origin": OTHER, **PREFLIGHT})
    assert response.status == 403 and not cors_headers(response)
    body = await response.json()
    assert (
        body["error"]["code"] == "CorsOriginNotAllowed" and "server.cors_origins" in body["error"]["message"]
    )
    for origin in ("https://app.example.evil", "http://app.example", "null"):
        response = await listed.options("/v1/audio/speech", headers={"Origin": origin, **PREFLIGHT})
        assert response.status == 403 and not cors_headers(response), origin


@pytest.mark.asyncio
async def test_an_options_request_that_is_no_preflight_goes_to_the_routes(listed):
    response = await listed.options("/v1/audio/speech", headers={"Origin": APP})
    assert response.status == 405  # no Access-Control-Request-Method: not a preflight
    assert response.headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.asyncio
async def test_answers_to_a_listed_origin_carry_and_expose_the_emotts_headers(listed):
    response = await listed.post("/v1/audio/speech", json=SPEECH, headers={"Origin": APP})
    assert response.status == 200
    await response.read()
    assert response.headers["Access-Control-Allow-Origin"] == APP
    exposed = words(response.headers["Access-Control-Expose-Headers"])
    assert {"x-emotts-warnings", "x-emotts-sample-rate", "x-emotts-duration", "retry-after"} <= exposed
    assert "origin" in words(response.headers["Vary"])
    # a streamed answer's head goes out before its body: the headers are there too
    streamed = await listed.post(
        "/v1/audio/speech", json={**SPEECH, "response_format": "pcm"}, headers={"Origin": APP}
    )
    assert streamed.status == 200 and "Content-Length" not in streamed.headers
    await streamed.read()
    assert streamed.headers["Access-Control-Allow-Origin"] == APP
    assert "x-emotts-warnings" in words(streamed.headers["Access-Control-Expose-Headers"])
    # errors too, so that a page can read what went wrong
    error = await listed.post("/v1/audio/speech", json={**SPEECH, "voice": "nobody"}, headers={"Origin": APP})
    assert error.status == 400 and error.headers["Access-Control-Allow-Origin"] == APP
    missing = await listed.get("/v1/nothing", headers={"Origin": APP})
    assert missing.status == 404 and missing.headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.asyncio
async def test_answers_to_another_origin_or_none_carry_no_cors_headers(listed):
    for headers in ({"Origin": OTHER}, {}):
        response = await listed.get("/v1/models", headers=headers)
        assert response.status == 200 and not cors_headers(response)
        assert "origin" in words(response.headers["Vary"])  # a cache must not serve it to APP


@pytest.mark.asyncio
async def test_any_origin(aiohttp_client, synth, tmp_path):
    config_file = tmp_path / "cors.yaml"
    config_file.write_text('server:\n  cors_origins: "*"\n')
    config = dataclasses.replace(load_config([config_file]), noise=False, threads=2)
    client = await aiohttp_client(create_app(config, synthesizer=synth))
    for origin in (APP, OTHER, "null"):
        preflight = await client.options("/v1/audio/speech", headers={"Origin": origin, **PREFLIGHT})
        assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "authorization" in words(preflight.headers["Access-Control-Allow-Headers"])
        simple = await client.get("/v1/models", headers={"Origin": origin})
        assert simple.status == 200 and simple.headers["Access-Control-Allow-Origin"] == "*"
    plain = await client.get("/v1/models")  # no Origin: not a CORS request
    assert not cors_headers(plain)
