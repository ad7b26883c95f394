"""Bad input: each case gets one clear ConversionError, and nothing is written or run."""

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from cnninterp.convert.api import ConversionError, convert_checkpoint
from cnninterp.convert.key_map import check_state, infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.torch_state import read_checkpoint


class RunsCodeWhenUnpickled:
    """Unpickling this calls exec, which would create `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def assert_refused(path, match, tmp_path, **kwargs):
    out = tmp_path / "out.safetensors"
    with pytest.raises(ConversionError, match=match):
        convert_checkpoint(path, out, **kwargs)
    assert not out.exists()
    assert not list(out.parent.glob(".out.safetensors.*"))  # no temporary left behind


def test_missing_file(tmp_path):
    assert_refused(tmp_path / "nope.pth", "no such file", tmp_path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"just some notes\n", "not a PyTorch checkpoint"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a PyTorch checkpoint"),
        (b"\x80\x02" + bytes(range(256)) * 4, "corrupt"),
    ],
    ids=["empty", "text", "png", "garbage-pickle"],
)
def test_not_a_checkpoint(tmp_path, content, match):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    assert_refused(path, match, tmp_path)


def test_truncated_checkpoint(tmp_path, checkpoint_of):
    data = checkpoint_of(4).read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    assert_refused(path, "truncated or corrupt", tmp_path)


@pytest.mark.parametrize("container", ["torch-zip", "raw-pickle"])
@pytest.mark.parametrize("allow", [False, True])
def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, container, allow):
    marker = tmp_path / "MARKER"
    payload = {"conv1.weight": torch.zeros(4, 1, 3, 3), "evil": RunsCodeWhenUnpickled(marker)}
    path = tmp_path / "evil.pth"
    if container == "torch-zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    assert_refused(path, r"refused.*builtins\.exec", tmp_path, allow_pickled_module=allow)
    assert not marker.exists()


def test_pickled_module_is_refused_with_a_remedy(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(random_model(4), path)
    assert_refused(path, r"whole pickled nn\.Module.*CustomResNet(?s:.*)state_dict\(\)", tmp_path)
    assert_refused(path, "--allow-pickled-module", tmp_path)


def test_pickled_module_loads_with_the_opt_in_and_warns(tmp_path, capsys):
    path = tmp_path / "whole_model.pth"
    torch.save({"epoch": 3, "model": random_model(4)}, path)
    checkpoint = read_checkpoint(path, allow_pickled_module=True)
    assert "WARNING" in capsys.readouterr().err
    assert checkpoint.bn_eps == 1e-5
    assert checkpoint.state.keys() == random_model(4).state_dict().keys()


def test_another_architecture_gets_one_message_listing_everything(tmp_path):
    """A torchvision resnet18 state dict, built by hand (torchvision is not installed)."""
    state = OrderedDict()

    def bn(name, c):
        for part in ("weight", "bias", "running_mean", "running_var"):
            state[f"{name}.{part}"] = torch.ones(c)
        state[f"{name}.num_batches_tracked"] = torch.tensor(0)

    state["conv1.weight"] = torch.zeros(64, 3, 7, 7)
    bn("bn1", 64)
    c_in = 64
    for layer, c in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            prefix = f"layer{layer}.{block}"
            state[f"{prefix}.conv1.weight"] = torch.zeros(c, c_in if block == 0 else c, 3, 3)
            bn(f"{prefix}.bn1", c)
            state[f"{prefix}.conv2.weight"] = torch.zeros(c, c, 3, 3)
            bn(f"{prefix}.bn2", c)
            if block == 0 and c != c_in:
                state[f"{prefix}.downsample.0.weight"] = torch.zeros(c, c_in, 1, 1)
                bn(f"{prefix}.downsample.1", c)
        c_in = c
    state["fc.weight"] = torch.zeros(1000, 512)
    state["fc.bias"] = torch.zeros(1000)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    with pytest.raises(ConversionError) as caught:
        convert_checkpoint(path, tmp_path / "out.safetensors")
    message = str(caught.value)
    assert "different architecture" in message
    assert "missing (" in message and "resblock1.conv1.weight" in message
    assert "unexpected (" in message and "layer1.0.conv1.weight" in message
    assert "conv1.weight is [64, 3, 7, 7], expected [64, 1, 3, 3]" in message
    assert not (tmp_path / "out.safetensors").exists()


def test_near_miss_lists_missing_unexpected_and_misshaped_together(checkpoint_of):
    state = dict(read_checkpoint(checkpoint_of(4)).state)
    del state["resblock2.bn1.running_var"]
    state["resblock2.extra.weight"] = np.zeros(3, np.float32)
    state["upconv3.weight"] = np.zeros((16, 8, 2, 2), np.float32)
    config = infer_config(state, "m.pth")
    with pytest.raises(ConversionError) as caught:
        check_state(state, config, "m.pth")
    message = str(caught.value)
    assert "missing (1): resblock2.bn1.running_var" in message
    assert "unexpected (1): resblock2.extra.weight" in message
    assert "mis-shaped (1): upconv3.weight is [16, 8, 2, 2], expected [16, 8, 3, 3]" in message
    assert "different architecture" not in message


def test_wrapped_and_dataparallel_checkpoints_are_unwrapped(tmp_path):
    state = random_model(4).state_dict()
    path = tmp_path / "wrapped.pth"
    torch.save({"epoch": 7, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    checkpoint = read_checkpoint(path)
    assert checkpoint.state.keys() == state.keys()
    assert any("'state_dict'" in n for n in checkpoint.notes)
    assert any("module." in n for n in checkpoint.notes)


def test_dict_without_a_state_dict(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, path)
    assert_refused(path, "no state dict found", tmp_path)


def test_output_in_a_missing_or_non_directory_parent(small_checkpoint, tmp_path):
    for out in (tmp_path / "no" / "such" / "m.safetensors", small_checkpoint / "m.safetensors"):
        with pytest.raises(ConversionError, match="cannot write there"):
            convert_checkpoint(small_checkpoint, out)


def test_output_in_a_read_only_directory(small_checkpoint, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes")
        with pytest.raises(ConversionError, match="not writable"):
            convert_checkpoint(small_checkpoint, folder / "m.safetensors")
    finally:
        folder.chmod(0o700)


def test_existing_output_is_never_replaced_silently(small_checkpoint):
    out = small_checkpoint.with_suffix(".safetensors")
    out.write_bytes(b"precious")
    with pytest.raises(ConversionError, match="already exists.*--overwrite"):
        convert_checkpoint(small_checkpoint)
    assert out.read_bytes() == b"precious"
    report = convert_checkpoint(small_checkpoint, overwrite=True)
    assert report.out_path == out and out.read_bytes() != b"precious"


def test_output_may_not_replace_the_input(small_checkpoint):
    with pytest.raises(ConversionError, match="replace the checkpoint"):
        convert_checkpoint(small_checkpoint, small_checkpoint, overwrite=True)
