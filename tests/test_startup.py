"""One-shot commands load only what they use (benchmarks/startup.py times them beside piper's CLI).

Each case runs in a fresh interpreter, since this test session has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Loaded by the emotion DSP's stages, the Praat measurements and the servers; not by a neutral ``say``.
NOT_FOR_SAY = ("scipy", "parselmouth", "pyworld", "aiohttp", "wyoming")
#: ``--help`` and ``parse`` load no voice either.
NOT_FOR_PARSE = (*NOT_FOR_SAY, "onnx", "onnxruntime", "piper")
MARKUP = '<speak><emotion name="gentle">The front door is open.</emotion></speak>'

_RUN = """
import json, sys
from emotts_plugin.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(*args: str, stdin: str = "") -> set[str]:
    """Top-level packages in ``sys.modules`` after ``emotts ARGS`` in a fresh interpreter."""
    command = [sys.executable, "-c", _RUN, *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["code"] == 0, done.stderr
    return {name.split(".")[0] for name in answer["modules"]}


@pytest.mark.parametrize("args", [("--help",), ("parse", "-")], ids=["help", "parse"])
def test_help_and_parse_load_no_voice_dsp_stage_or_server(args):
    loaded = _loaded(*args, stdin=MARKUP)
    assert loaded.isdisjoint(NOT_FOR_PARSE), sorted(loaded & set(NOT_FOR_PARSE))


def test_a_neutral_say_loads_no_dsp_stage_praat_or_server(tmp_path):
    loaded = _loaded("say", "The front door is open.", "-o", str(tmp_path / "out.wav"))
    assert (tmp_path / "out.wav").stat().st_size > 1000
    assert loaded.isdisjoint(NOT_FOR_SAY), sorted(loaded & set(NOT_FOR_SAY))
