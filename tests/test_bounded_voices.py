"""Broken voices in ``voices_dir``: named in a warning at start-up, refused with a 400 at use.

Each broken voice sits beside working ones: random bytes, a truncated copy of the bundled
model, a ``.onnx.json`` that is not JSON, one that lacks the phoneme ids, and a small model
whose top level is sound but whose graph onnxruntime refuses (only loading it can tell).
Every refusal names the voice and its file, and a normal request succeeds right after.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
import soundfile
from onnx import TensorProto, helper

from emotts_plugin import cli, load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.errors import VoiceFileError
from emotts_plugin.models.piper import PiperBackend, bundled_voices, model_file_problem
from emotts_plugin.synthesizer import Synthesizer

JOE = bundled_voices()[0]
#: voice name → (file at fault, words of the reason) for every voice broken in a way seen at start-up.
SEEN_AT_START = {
    "noise": ("noise.onnx", "is not an ONNX model"),
    "cut": ("cut.onnx", "early (truncated?)"),
    "notjson": ("notjson.onnx.json", "is not valid JSON"),
    "noids": ("noids.onnx.json", "has no phoneme_id_map"),
}
#: A model sound at the top level whose graph onnxruntime refuses: found when it is loaded.
BAD_GRAPH = "badgraph"


def _bad_graph_model() -> bytes:
    node = helper.make_node("NoSuchOperator", ["input"], ["output"], domain="emotts.test")
    graph = helper.make_graph(
        [node],
        "broken",
        [helper.make_tensor_value_info("input", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture(scope="module")
def voices_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("voices")
    config = json.loads(JOE.config.read_text(encoding="utf-8"))
    model = JOE.model.read_bytes()

    def voice(name: str, model_bytes: bytes | None, config_text: str) -> None:
        if model_bytes is None:
            os.symlink(JOE.model, folder / f"{name}.onnx")
        else:
            (folder / f"{name}.onnx").write_bytes(model_bytes)
        (folder / f"{name}.onnx.json").write_text(config_text, encoding="utf-8")

    voice("noise", np.random.default_rng(15).bytes(200_000), json.dumps(config))
    voice("cut", model[: len(model) // 3], json.dumps(config))
    voice("notjson", None, '{"audio": {"sample_rate": 22050},')
    voice("noids", None, json.dumps({key: value for key, value in config.items() if key != "phoneme_id_map"}))
    voice(BAD_GRAPH, _bad_graph_model(), json.dumps(config))
    voice("copy", None, json.dumps(config))  # a working voice of the folder
    return folder


@pytest.fixture(scope="module")
def synth_and_log(voices_dir):
    """The synthesizer, and the warnings logged while it was built."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("emotts_plugin.models.piper")
    logger.addHandler(handler)
    try:
        synth = Synthesizer(
            dataclasses.replace(load_config([]), voices_dir=str(voices_dir), noise=False, threads=2)
        )
    finally:
        logger.removeHandler(handler)
    return synth, [record.getMessage() for record in records]


@pytest_asyncio.fixture
async def client(aiohttp_client, synth_and_log):
    synth, _ = synth_and_log
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


@pytest.mark.parametrize("voice", sorted(SEEN_AT_START))
def test_a_broken_voice_is_named_with_its_file_and_fault_at_start_up(synth_and_log, voices_dir, voice):
    _, warnings = synth_and_log
    file, reason = SEEN_AT_START[voice]
    mine = [message for message in warnings if f"voice {voice!r}" in message]
    assert len(mine) == 1, warnings
    assert str(voices_dir / file) in mine[0] and reason in mine[0]


def test_working_voices_and_a_fault_only_loading_finds_are_not_warned_about(synth_and_log):
    _, warnings = synth_and_log
    assert not [message for message in warnings if "'copy'" in message or "'joe'" in message]
    assert not [message for message in warnings if repr(BAD_GRAPH) in message]


def test_the_start_up_look_reads_the_bundled_model_as_sound():
    assert model_file_problem(JOE.model) is None


async def _spoken(client, voice: str) -> float:
    response = await client.post(
        "/v1/synthesize", json={"input": "Hello there.", "voice": voice, "format": "wav"}
    )
    assert response.status == 200, await response.text()
    audio, rate = soundfile.read(io.BytesIO(await response.read()))
    return len(audio) / rate


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", [*sorted(SEEN_AT_START), BAD_GRAPH])
async def test_asking_for_a_broken_voice_is_a_400_naming_it_and_its_file(client, voice):
    file = SEEN_AT_START.get(voice, (f"{BAD_GRAPH}.onnx", ""))[0]
    for _ in range(2):  # refused the same way again, without a second try at loading
        response = await client.post("/v1/synthesize", json={"input": "Hello there.", "voice": voice})
        assert response.status == 400, await response.text()
        error = (await response.json())["error"]
        assert error["code"] == "VoiceFileError" and error["type"] == "invalid_request_error"
        assert f"voice {voice!r}" in error["message"] and file in error["message"]
        assert "/" not in error["message"], "the server's folders stay out of client messages"
    assert await _spoken(client, "joe") > 0.5
    assert await _spoken(client, "copy") > 0.5


@pytest.mark.asyncio
async def test_the_openai_route_refuses_a_broken_voice_with_its_error_shape(client):
    body = {"model": "tts-1", "input": "Hello there.", "voice": "noise", "response_format": "wav"}
    response = await client.post("/v1/audio/speech", json=body)
    assert response.status == 400, await response.text()
    assert "'noise'" in (await response.json())["error"]["message"]
    response = await client.post("/v1/audio/speech", json={**body, "voice": "alloy"})
    assert response.status == 200, await response.text()


def test_a_graph_fault_found_when_loading_is_logged_once_with_the_path(voices_dir, caplog):
    backend = PiperBackend(voices_dir)
    with caplog.at_level(logging.WARNING, logger="emotts_plugin.models.piper"):
        caplog.clear()
        with pytest.raises(VoiceFileError) as first:
            backend.load(BAD_GRAPH)
        with pytest.raises(VoiceFileError) as again:
            backend.load(BAD_GRAPH)
    assert isinstance(first.value, ValueError) and first.value.path == voices_dir / f"{BAD_GRAPH}.onnx"
    assert again.value is first.value
    logged = [record.getMessage() for record in caplog.records if repr(BAD_GRAPH) in record.getMessage()]
    assert (
        len(logged) == 1
        and str(voices_dir / f"{BAD_GRAPH}.onnx") in logged[0]
        and "cannot be loaded" in logged[0]
    )
    assert backend.load("copy") is not None


def test_a_broken_default_voice_stops_the_cli_with_exit_2(voices_dir, tmp_path, capsys):
    config = tmp_path / "emotts.yaml"
    config.write_text(f"voices_dir: {json.dumps(str(voices_dir))}\nvoice: cut\n", encoding="utf-8")
    status = cli.main(["say", "Hello.", "--config", str(config), "-o", str(tmp_path / "out.wav")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: voice 'cut' cannot be used: its file cut.onnx"), err
    assert "Traceback" not in err
    assert not (tmp_path / "out.wav").exists()
    good = tmp_path / "good.yaml"
    good.write_text(f"voices_dir: {json.dumps(str(voices_dir))}\nvoice: copy\n", encoding="utf-8")
    assert cli.main(["say", "Hello.", "--config", str(good), "-o", str(tmp_path / "out.wav")]) == 0
    assert soundfile.info(str(tmp_path / "out.wav")).duration > 0.5
