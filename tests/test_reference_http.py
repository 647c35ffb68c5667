"""Reference recordings over HTTP: upload, analysis, the bounded store, synthesis in a reference's manner."""

from __future__ import annotations

import dataclasses
import io

import pytest
import pytest_asyncio
import soundfile
from aiohttp import FormData

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.references import MAX_UPLOAD_BYTES, REFERENCES
from emotts_plugin.models.measure import f0_stats
from emotts_plugin.synthesizer import Synthesizer

pytestmark = pytest.mark.asyncio
TEXT = "I am so sorry for the wait. We will call you back tomorrow morning."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False))


@pytest.fixture(scope="module")
def sad_wav(synth) -> bytes:
    result = synth.synthesize(TEXT, emotion="sad")
    buffer = io.BytesIO()
    soundfile.write(buffer, result.audio, result.sample_rate, format="WAV")
    return buffer.getvalue()


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


def form(data: bytes, name: str = "agent.wav") -> FormData:
    body = FormData()
    body.add_field("file", data, filename=name, content_type="audio/wav")
    return body


async def upload(client, data: bytes, name: str = "agent.wav") -> dict:
    response = await client.post("/v1/references", data=form(data, name))
    assert response.status == 201, await response.text()
    return await response.json()


async def test_upload_answers_an_id_and_the_analysis(client, sad_wav):
    body = await upload(client, sad_wav)
    analysis = body["analysis"]
    assert len(body["id"]) == 16 and analysis["source"] == "agent.wav"
    assert set(analysis) >= {"vector", "nearest", "measurements", "register"}
    assert {"sad", "melancholic", "gentle", "calm"} & set(list(analysis["nearest"])[:2])
    assert analysis["vector"]["pitch_st"] < -0.5
    listed = await (await client.get("/v1/references")).json()
    assert body["id"] in [item["id"] for item in listed["references"]]
    one = await (await client.get(f"/v1/references/{body['id']}")).json()
    assert one["analysis"] == analysis


async def test_raw_audio_upload_and_delete(client, sad_wav):
    response = await client.post(
        "/v1/references?name=raw.wav", data=sad_wav, headers={"Content-Type": "audio/wav"}
    )
    assert response.status == 201
    ref_id = (await response.json())["id"]
    assert (await client.delete(f"/v1/references/{ref_id}")).status == 200
    gone = await client.get(f"/v1/references/{ref_id}")
    assert gone.status == 404 and (await gone.json())["error"]["reason"] == "unknown_reference"
    assert (await client.delete(f"/v1/references/{ref_id}")).status == 404


async def test_synthesize_speaks_in_the_references_manner(client, sad_wav):
    ref_id = (await upload(client, sad_wav))["id"]
    request = {"input": "Your order has shipped and will arrive on Friday.", "seed": 3}
    plain = await client.post("/v1/synthesize", json=request)
    moved = await client.post("/v1/synthesize", json={**request, "reference": ref_id})
    half = await client.post("/v1/synthesize", json={**request, "reference": ref_id, "reference_weight": 0.5})
    levels = []
    for response in (plain, moved, half):
        assert response.status == 200, await response.text()
        audio, rate = soundfile.read(io.BytesIO(await response.read()), dtype="float32")
        levels.append(f0_stats(audio, rate).median_st)
    assert levels[1] < levels[2] < levels[0], levels  # weight 1 lower than weight 0.5, lower than none


@pytest.mark.parametrize(
    "name, data, status, reason",
    [
        ("empty.wav", b"", 400, "empty"),
        ("notes.wav", b"these are the minutes of the meeting\n" * 50, 400, "unreadable"),
        ("blip.wav", None, 400, "too_short"),
    ],
)
async def test_bad_uploads_say_why(client, sad_wav, name, data, status, reason):
    if data is None:
        audio, rate = soundfile.read(io.BytesIO(sad_wav), dtype="float32")
        buffer = io.BytesIO()
        soundfile.write(buffer, audio[: rate // 3], rate, format="WAV")
        data = buffer.getvalue()
    response = await client.post("/v1/references", data=form(data, name))
    assert response.status == status
    error = (await response.json())["error"]
    assert error["code"] == "ReferenceAudioError" and error["reason"] == reason and name in error["message"]


async def test_upload_limits_and_request_errors(client, sad_wav):
    huge = await client.post("/v1/references", data=form(b"\0" * (MAX_UPLOAD_BYTES + 1)))
    assert huge.status == 413
    wrong = await client.post("/v1/references", json={"file": "x"})
    assert wrong.status == 415 and "multipart/form-data" in (await wrong.json())["error"]["message"]
    no_file = FormData(default_to_multipart=True)
    no_file.add_field("comment", "hello")
    missing = await client.post("/v1/references", data=no_file)
    assert missing.status == 400 and "no file" in (await missing.json())["error"]["message"]
    unknown = await client.post("/v1/synthesize", json={"input": "Hi.", "reference": "0123456789abcdef"})
    assert unknown.status == 404 and (await unknown.json())["error"]["reason"] == "unknown_reference"
    ref_id = (await upload(client, sad_wav))["id"]
    bad_weight = await client.post(
        "/v1/synthesize", json={"input": "Hi.", "reference": ref_id, "reference_weight": 3}
    )
    assert bad_weight.status == 400 and "reference_weight" in (await bad_weight.json())["error"]["message"]
    alone = await client.post("/v1/synthesize", json={"input": "Hi.", "reference_weight": 0.5})
    assert alone.status == 400 and "needs 'reference'" in (await alone.json())["error"]["message"]


async def test_the_store_is_bounded(client, sad_wav):
    store = client.server.app[REFERENCES]
    store.limit = 3
    ids = [(await upload(client, sad_wav, f"r{i}.wav"))["id"] for i in range(4)]
    listed = [item["id"] for item in (await (await client.get("/v1/references")).json())["references"]]
    assert listed == ids[1:]  # the oldest was dropped
