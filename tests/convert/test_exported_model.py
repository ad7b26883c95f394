"""Any segmentation model to a generic model file, end to end through the command line: a .pt2
from torch.export.save (route a) and the user's own code with --from (route b); both proven in
float64 against PyTorch, both refused with exit 2 when unsafe, unsupported or unimportable."""

import json
import zipfile
from dataclasses import replace

import pytest
import torch

from cnninterp.convert import exported_model
from cnninterp.convert.cli import main, parse_normalize
from cnninterp.convert.errors import ConversionError
from cnninterp.convert.exported_model import convert_exported
from cnninterp.convert.from_code import export_from_code
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.model.graph_file import load_graph_model, model_kind
from tests import torch_models
from tests.convert import user_models

pytestmark = pytest.mark.slow  # each conversion compiles a float64 gradient program

SMALL = "tests.convert.user_models:small_unet"


@pytest.fixture(scope="session")
def small_pt2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pt2")
    return torch_models.save_pt2(user_models.small_unet(), 1, folder / "small.pt2")


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("state") / "small.pth"
    torch.save(user_models.small_unet().state_dict(), path)
    return path


def test_pt2_converts_to_a_file_that_loads(small_pt2, tmp_path, capsys):
    out = tmp_path / "small.safetensors"
    assert main([str(small_pt2), "-o", str(out), "--class-names", "background,vessel"]) == 0
    printed = capsys.readouterr().out
    assert "local, radius" in printed and "float64" in printed and "conv2d" in printed
    loaded = load_graph_model(out)
    assert model_kind(out) == "graph"
    assert loaded.config.input_channels == 1 and loaded.config.classes == 2
    assert loaded.config.activation == "softmax" and loaded.config.explained_class == 1
    assert loaded.config.class_names == ("background", "vessel")
    assert loaded.config.receptive_radius is not None and loaded.config.size_multiple == 16
    parity = loaded.info["parity"]
    assert parity["passed"] and parity["max_relative"] < 1e-10
    assert parity["float32_logits_max_abs"] < 1e-3
    assert loaded.info["route"] == "pt2" and loaded.info["ops"]["conv2d"] > 0


def test_from_code_with_weights(small_weights, tmp_path):
    out = tmp_path / "from_code.safetensors"
    argv = ["--from", SMALL, "--weights", str(small_weights), "-o", str(out)]
    assert main([*argv, "--normalize", "0.5,0.25", "--activation", "sigmoid"]) == 0
    loaded = load_graph_model(out)
    assert loaded.info["route"] == "from-code" and loaded.info["parity"]["max_relative"] < 1e-10
    assert loaded.config.normalize == {"mean": [0.5], "std": [0.25]}
    assert loaded.config.activation == "sigmoid"


def test_smp_unet_agrees_with_pytorch_below_1e_10(tmp_path):
    pt2 = torch_models.save_pt2(user_models.smp_unet(), 1, tmp_path / "smp.pt2")
    report = convert_exported(pt2, tmp_path / "smp.safetensors")
    assert report.parity.passed and report.parity.max_rel < 1e-10
    assert report.config.size_multiple == 32 and report.config.receptive_radius is not None


def test_unsupported_op_is_refused_naming_op_and_layer(tmp_path, capsys):
    out = tmp_path / "fft.safetensors"
    code = main(["--from", "tests.convert.user_models:WithFft", "-o", str(out)])
    assert code == ExitCode.BAD_INPUT and not out.exists()
    message = capsys.readouterr().err
    assert "fft" in message and "spectrum" in message


def test_pt2_with_a_pickled_member_exits_2_and_writes_nothing(small_pt2, tmp_path, capsys):
    crafted = tmp_path / "crafted.pt2"
    with zipfile.ZipFile(small_pt2) as source, zipfile.ZipFile(crafted, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("data/weights/model_weights_config.json"):
                config = json.loads(data)
                first = next(iter(config["config"].values()))
                first["use_pickle"] = True
                data = json.dumps(config).encode()
            target.writestr(item, data)
    out = tmp_path / "crafted.safetensors"
    assert main([str(crafted), "-o", str(out)]) == ExitCode.BAD_INPUT
    assert not out.exists() and list(tmp_path.iterdir()) == [crafted]
    assert "pickle" in capsys.readouterr().err


def test_from_a_missing_module_exits_2_with_a_clear_message(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["--from", "no_such_module_here:build", "-o", str(out)]) == ExitCode.BAD_INPUT
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.convert.user_models:NOT_CALLABLE", "is a int, not a class or function"),
        ("tests.convert.user_models:not_a_module", "returned a str, not a torch.nn.Module"),
        ("tests.convert.user_models:absent", "has no 'absent'"),
        ("tests.convert.user_models", "expected MODULE:CALLABLE"),
    ],
)
def test_from_code_errors(spec, message):
    with pytest.raises(ConversionError, match=message):
        export_from_code(spec, None, 1)


def test_weights_that_do_not_fit_are_listed(small_weights, tmp_path, capsys):
    state = torch.load(small_weights, weights_only=True)
    dropped = next(iter(state))
    state["extra.weight"] = state.pop(dropped)
    torch.save({"state_dict": state}, tmp_path / "bad.pth")
    argv = ["--from", SMALL, "--weights", str(tmp_path / "bad.pth"), "-o", str(tmp_path / "o")]
    assert main(argv) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert f"missing {dropped}" in err and "unexpected extra.weight" in err


def test_parity_failure_exits_3_unless_forced(small_pt2, tmp_path, monkeypatch):
    measured = exported_model.measure_graph_parity

    def strict(*args, **kwargs):
        return replace(measured(*args, **kwargs), tolerance=0.0)

    monkeypatch.setattr(exported_model, "measure_graph_parity", strict)
    out = tmp_path / "m.safetensors"
    assert main([str(small_pt2), "-o", str(out)]) == ExitCode.PARITY
    assert not out.exists()
    assert main([str(small_pt2), "-o", str(out), "--force"]) == ExitCode.OK
    assert load_graph_model(out).info["parity"]["forced"] is True


def test_normalisation_must_fit_the_channels(small_pt2, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main([str(small_pt2), "-o", str(out), "--normalize", "imagenet"]) == 2
    assert "3 means and 3 stds for a model with 1 input channels" in capsys.readouterr().err


def test_options_of_the_other_path_are_usage_errors(tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "model.pth"), "--channels", "3"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path / "model.pt2"), "--check-image", "x.png"])
    with pytest.raises(SystemExit):
        main([str(tmp_path / "model.pt2"), "--from", SMALL])


def test_normalize_spellings():
    assert parse_normalize("imagenet")["std"] == [0.229, 0.224, 0.225]
    assert parse_normalize("0.5,0.25") == {"mean": [0.5], "std": [0.25]}
    assert parse_normalize("1/2/3,4/5/6") == {"mean": [1, 2, 3], "std": [4, 5, 6]}


def test_a_pt2_opens_like_a_checkpoint_converted_once(small_pt2, tmp_path):
    from cnninterp.frontend import convert_with_torch
    from cnninterp.jaxcore.opening import open_model, parity_report_path

    opened = open_model(small_pt2, convert_with_torch, folder=tmp_path)
    assert opened.converted_now and model_kind(opened.path) == "graph"
    assert json.loads(parity_report_path(opened.path).read_text())["parity_passed"] is True
    again = open_model(small_pt2, convert_with_torch, folder=tmp_path)
    assert again.path == opened.path and not again.converted_now
