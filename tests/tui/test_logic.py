"""Pure pieces of the TUI: latest-only requests, threshold stepping, model discovery, CLI."""

import threading

import pytest

from cnninterp.jaxcore.summaries.significance import ThresholdMode
from cnninterp.tui.cli import main, parse_args
from cnninterp.tui.graphics import resolve_graphics
from cnninterp.tui.latest import LatestOnly
from cnninterp.tui.model_source import OpenError, find_model, open_explainer
from cnninterp.tui.state.threshold import Threshold, log_step


def test_latest_only_skips_stale_requests():
    started = threading.Event()
    release = threading.Event()
    seen = []

    def compute(request):
        seen.append(request)
        started.set()
        release.wait(5)

    threads = []
    latest = LatestOnly(
        compute,
        lambda drain: threads.append(threading.Thread(target=drain)) or threads[-1].start(),
        lambda r, e: None,
    )
    latest.submit(1)
    started.wait(5)
    for request in range(2, 50):  # an arrow key held while row 1 computes
        latest.submit(request)
    release.set()
    for t in threads:
        t.join(5)
    assert seen == [1, 49] and len(threads) == 1


def test_latest_only_reports_errors_and_keeps_going():
    errors = []

    def compute(request):
        if request == "bad":
            raise ValueError("boom")

    latest = LatestOnly(compute, lambda drain: drain(), lambda r, e: errors.append((r, str(e))))
    latest.submit("bad")
    latest.submit("good")
    assert errors == [("bad", "boom")] and latest.computed == 2


def test_threshold_steps_are_even_on_a_log_scale():
    values = [0.01]
    for _ in range(8):
        values.append(log_step(values[-1], 1))
    assert values[4] == pytest.approx(0.1) and values[8] == pytest.approx(1.0)
    assert log_step(log_step(0.01, 3), -3) == pytest.approx(0.01)
    t = Threshold().stepped(-100)
    assert t.percent > 0


def test_threshold_modes_cycle_and_keep_their_values():
    t = Threshold(percent=0.5)
    t = t.next_mode(current_value=1.234e-4)
    assert t.mode is ThresholdMode.ROW and t.t_value == 0.5
    t = t.next_mode(current_value=2.5e-5)
    assert t.mode is ThresholdMode.ABSOLUTE and t.t_value == 2.5e-5
    t = t.stepped(1).next_mode(None).next_mode(None)
    assert t.mode is ThresholdMode.GLOBAL and t.percent == 0.5
    assert "legacy" in Threshold(mode=ThresholdMode.LEGACY).describe()


def test_find_model_asks_when_ambiguous_or_missing(tmp_path):
    with pytest.raises(OpenError, match="--model"):
        find_model(tmp_path)
    (tmp_path / "a.safetensors").write_bytes(b"")
    assert find_model(tmp_path).name == "a.safetensors"
    (tmp_path / "b.safetensors").write_bytes(b"")
    with pytest.raises(OpenError, match="several"):
        find_model(tmp_path)


@pytest.mark.slow  # imports torch and converts once: seconds
def test_a_checkpoint_opens_twice_converted_once_into_the_cache(tmp_path, monkeypatch):
    """The TUI used to convert beside the .pth and refuse the second start ("already exists")."""
    torch = pytest.importorskip("torch")
    from cnninterp.convert.torch_model import random_model

    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path / "cache"))
    checkpoint = tmp_path / "model.pth"
    torch.save(random_model(4, 2, seed=6).state_dict(), checkpoint)
    first_notes: list[str] = []
    first = open_explainer(checkpoint, None, None, first_notes)
    assert any("converted" in note for note in first_notes)
    again_notes: list[str] = []
    assert open_explainer(checkpoint, None, None, again_notes) is first
    assert again_notes == []  # no second conversion
    assert not (tmp_path / "model.safetensors").exists()  # nothing written beside the .pth
    assert list((tmp_path / "cache" / "models").glob("*.parity.json"))


def test_cli_rejects_missing_paths_without_a_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main([str(tmp_path), "--model", str(tmp_path / "m.safetensors")]) == 2
    args = parse_args(["d", "--graphics", "sixel", "--class", "2", "--truecolor"])
    assert (args.graphics, args.vessel_class, args.truecolor) == ("sixel", "2", True)
    assert parse_args(["d"]).devices is None  # every device
    assert parse_args(["d", "--devices", "0,2"]).devices == [0, 2]
    with pytest.raises(SystemExit):
        parse_args(["d", "--devices", "two"])
    assert "expected 'all', a count" in capsys.readouterr().err


def test_graphics_fall_back_to_half_blocks_without_a_terminal():
    assert resolve_graphics("halfblock") == ("halfblock", None)
    mode, note = resolve_graphics("kitty")  # pytest's stdout is not a terminal
    assert mode == "halfblock" and "terminal" in note
    assert resolve_graphics("auto", {"TMUX": "/tmp/x"})[0] == "halfblock"
