"""The converter under hostile and broken checkpoints: code smuggled beside a module, damaged
archives, broken weights, odd state dicts and odd output paths, plus random bytes.

The contract: a ConversionError whose first line names the file (the CLI: exit 2, no
traceback), nothing written, nothing from the file run.
"""

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnninterp.convert.api import ConversionError, convert_checkpoint
from cnninterp.convert.cli import main
from cnninterp.convert.pickle_scan import is_code
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.torch_state import read_checkpoint
from cnninterp.frontend import ExitCode

FUZZ = settings(max_examples=25)  # the rest from the suite's profile (tests/conftest.py)


class ShellCommand:
    """Unpickling this calls os.system, which would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def refused(path: Path, tmp_path: Path, match: str, **kwargs) -> str:
    out = tmp_path / "out.safetensors"
    with pytest.raises(ConversionError) as exc:
        convert_checkpoint(path, out, **kwargs)
    message = str(exc.value)
    assert str(path) in message.splitlines()[0], message
    assert match in message, message
    assert not out.exists() and not out.is_symlink()
    assert not list(tmp_path.glob(".out.safetensors.*"))
    return message


# --- pickles mixing a module with code --------------------------------------------------------


@pytest.mark.parametrize("allow", [False, True])
def test_module_beside_os_system_is_refused_flag_or_not(tmp_path, allow):
    marker = tmp_path / "MARKER"
    path = tmp_path / "mixed.pth"
    torch.save({"model": random_model(4), "hook": ShellCommand(marker)}, path)
    message = refused(path, tmp_path, f"Unpickling it would call {os.system.__module__}.system")
    assert "--allow-pickled-module does not change this" in message
    refused(path, tmp_path, "code, not weights", allow_pickled_module=allow)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, code",
    [
        (("posix", "system"), True),
        (("builtins", "getattr"), True),
        (("__main__", "os.system"), True),  # a dotted path through a module
        (("torch", "load"), True),
        (("torch.nn.modules.module", "torch.load"), True),
        (("subprocess", "Popen"), True),  # a class, but from the standard library
        ("?", True),  # a STACK_GLOBAL the scan could not follow
        (("torch._utils", "_rebuild_tensor_v2"), False),
        (("collections", "OrderedDict"), False),
        (("torch.nn.modules.conv", "Conv2d"), False),
        (("__main__", "CustomResNet"), False),
        (("my_project.models", "UNet.Block"), False),
    ],
)
def test_what_counts_as_code(name, code):
    assert is_code(("?", "?") if name == "?" else name) is code


def test_legacy_format_is_scanned_past_its_first_pickle(tmp_path):
    # torch's pre-zip format writes several pickles one after another; the object is the 4th.
    marker = tmp_path / "MARKER"
    path = tmp_path / "legacy.pth"
    payload = {"conv1.weight": torch.zeros(4, 1, 3, 3), "x": ShellCommand(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=False)
    refused(path, tmp_path, "system", allow_pickled_module=True)
    assert not marker.exists()


# --- corrupt archives -----------------------------------------------------------------------


def test_bit_flip_in_a_tensor_member_fails_its_crc(tmp_path, checkpoint_of):
    raw = bytearray(checkpoint_of(4).read_bytes())
    with zipfile.ZipFile(checkpoint_of(4)) as archive:
        member = max(archive.infolist(), key=lambda i: i.file_size)  # the largest tensor
    # Local header: 30 bytes + name + extra field, then the (stored, uncompressed) data.
    name_len = int.from_bytes(raw[member.header_offset + 26 : member.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[member.header_offset + 28 : member.header_offset + 30], "little")
    raw[member.header_offset + 30 + name_len + extra_len + 100] ^= 0x01
    path = tmp_path / "flipped.pth"
    path.write_bytes(bytes(raw))
    message = refused(path, tmp_path, f"member {member.filename} is damaged")
    assert "CRC-32" in message


# --- broken weights -------------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_nan_weight_and_negative_variance_named_before_parity(tmp_path, force):
    state = random_model(4).state_dict()
    state["resblock2.conv1.weight"][0, 0, 0, 0] = float("nan")
    state["bn1.running_var"][:] = -1.0
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    message = refused(path, tmp_path, "resblock2.conv1.weight holds 1 NaN of", force=force)
    assert "bn1.running_var holds negative BatchNorm variances (min -1)" in message
    assert "weights themselves are broken" in message
    assert "parity" not in message.lower() and "--force" not in message


def test_finite_weights_with_overflowing_outputs_never_written_even_forced(tmp_path):
    state = random_model(4).state_dict()
    state["final.weight"][:] = 3e38  # finite, but the logits overflow float32
    path = tmp_path / "overflow.pth"
    torch.save(state, path)
    refused(path, tmp_path, "outputs are not finite", force=True)


def test_cli_exit_code_for_broken_weights(tmp_path, capsys):
    state = random_model(4).state_dict()
    state["conv1.weight"][0, 0, 0, 0] = float("inf")
    path = tmp_path / "inf.pth"
    torch.save(state, path)
    assert main([str(path), "-o", str(tmp_path / "o.safetensors")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "conv1.weight holds 1 infinite" in err and "Traceback" not in err


# --- odd state dicts and output paths -------------------------------------------------------


def test_scalar_entries_beside_the_tensors_are_ignored_with_a_note(tmp_path):
    state = dict(random_model(4).state_dict()) | {"epoch": 3, "loss": 0.25, "tag": "best"}
    path = tmp_path / "with_epoch.pth"
    torch.save(state, path)
    checkpoint = read_checkpoint(path)
    assert "epoch" not in checkpoint.state and "conv1.weight" in checkpoint.state
    assert any(
        "not tensors: 'epoch' (int), 'loss' (float), 'tag' (str)" in n for n in checkpoint.notes
    )


def test_dict_without_weights_names_the_wrapper_keys_it_has(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": {"a": [1, 2]}, "epoch": 3}, path)
    refused(path, tmp_path, "none of 'model' holds a dict of tensors")


def test_dangling_symlink_output_needs_overwrite(small_checkpoint, tmp_path):
    link = tmp_path / "out.safetensors"
    link.symlink_to(tmp_path / "nowhere" / "target.safetensors")
    with pytest.raises(ConversionError, match="already exists; pass --overwrite"):
        convert_checkpoint(small_checkpoint, link)
    assert link.is_symlink() and not link.exists()


def test_read_only_source_folder_converts_to_an_explicit_output(checkpoint_of, tmp_path):
    source_dir = tmp_path / "ro"
    source_dir.mkdir()
    source = source_dir / "model.pth"
    source.write_bytes(checkpoint_of(4).read_bytes())
    source_dir.chmod(0o500)
    try:
        report = convert_checkpoint(source, tmp_path / "elsewhere.safetensors")
        assert report.out_path.is_file()
        assert sorted(p.name for p in source_dir.iterdir()) == ["model.pth"]
    finally:
        source_dir.chmod(0o700)


# --- property-based -------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=400), prefix=st.sampled_from([b"", b"PK\x03\x04", b"\x80\x02"]))
def test_random_bytes(tmp_path, data, prefix):
    path = tmp_path / "random.pth"
    path.write_bytes(prefix + data)
    with pytest.raises(ConversionError) as exc:
        read_checkpoint(path)
    assert str(path) in str(exc.value).splitlines()[0]


@FUZZ
@given(cut=st.integers(1, 3000), flip=st.integers(0, 10**6))
def test_truncated_or_flipped_checkpoints(tmp_path, checkpoint_of, cut, flip):
    raw = bytearray(checkpoint_of(4).read_bytes())
    raw = raw[: len(raw) - cut]
    raw[flip % len(raw)] ^= 0x40
    path = tmp_path / "damaged.pth"
    path.write_bytes(bytes(raw))
    with pytest.raises(ConversionError) as exc:
        read_checkpoint(path)
    assert str(path) in str(exc.value).splitlines()[0]


@FUZZ
@given(
    obj=st.recursive(
        st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none()),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_pickles_of_plain_data_are_refused_as_not_a_state_dict(tmp_path, obj):
    path = tmp_path / "plain.pth"
    path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(ConversionError) as exc:
        read_checkpoint(path)
    assert str(path) in str(exc.value).splitlines()[0]


# --- the command line -------------------------------------------------------------------------


def test_help_documents_limits_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "--max-pixels" in text and "67,108,864" in text
    assert "exit codes:" in text and "2 bad input" in text and "3 parity failed" in text


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_max_pixels_must_be_a_positive_whole_number(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["x.pth", "--max-pixels", value])
    assert exc.value.code == 2 and "--max-pixels" in capsys.readouterr().err


def test_check_image_over_max_pixels_is_bad_input(small_checkpoint, tmp_path, capsys):
    image = tmp_path / "big.png"
    Image.new("L", (64, 64)).save(image)
    argv = [str(small_checkpoint), "--check-image", str(image), "--max-pixels", "1000"]
    assert main(argv) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "over the limit of 1,000 pixels" in err and "Traceback" not in err
    assert not small_checkpoint.with_suffix(".safetensors").exists()
