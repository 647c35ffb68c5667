"""The voice model patched at the protobuf level equals the model patched whole with ``onnx``."""

from __future__ import annotations

import onnx
import pytest
from piper.patch_voice_with_alignment import add_alignment_output

from emotts_plugin.models.piper import _field_spans, bundled_voices, make_seedable, patched_model

JOE = bundled_voices()[0]


def _patched_whole(model: onnx.ModelProto) -> bytes:
    try:
        add_alignment_output(model)
    except ValueError:  # already patched
        pass
    make_seedable(model)
    return model.SerializeToString()


def test_the_patched_voice_is_the_same_bytes_as_patching_the_whole_model():
    assert patched_model(JOE.model) == _patched_whole(onnx.load(str(JOE.model)))


def test_a_voice_that_already_has_the_alignment_output_gets_only_the_noise_inputs(tmp_path):
    model = onnx.load(str(JOE.model))
    add_alignment_output(model)
    path = tmp_path / "aligned.onnx"
    path.write_bytes(model.SerializeToString())
    patched = patched_model(path)
    assert patched == _patched_whole(onnx.load(str(path)))
    assert [output.name for output in onnx.load_from_string(patched).graph.output] == [
        output.name for output in model.graph.output
    ]


@pytest.mark.parametrize(
    "data, words",
    [(b"\x0a\x05ab", "the field at byte 0 runs past byte 4"), (b"\x08\x01\x0b", "wire type 3 at byte 2")],
)
def test_a_malformed_field_is_a_value_error_naming_its_byte(data, words):
    with pytest.raises(ValueError, match=words):
        list(_field_spans(memoryview(data), 0, len(data)))
