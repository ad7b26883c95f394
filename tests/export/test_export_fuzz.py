"""Fuzzing cnninterp-export's arguments (Hypothesis): random --pixel strings, thresholds,
--outputs lists, box targets and method parameters.

The contract, whatever the text: either the call is refused with exit 2 and exactly one line
on stderr, no traceback and no file written, or it is accepted and reaches the work (here the
model's opening is replaced by a sentinel, so nothing is computed). Inputs that are invalid by
construction (negative or out-of-image pixels, boxes outside the image, unknown outputs,
out-of-range parameters) must always be refused.
"""

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnninterp.export import cli as export_cli
from cnninterp.export.cli import main
from cnninterp.export.options import OUTPUTS
from cnninterp.frontend import ExitCode

SIZE = 32  # the shared dataset's images
SETTINGS = settings(max_examples=60)  # the rest from the suite's profile (tests/conftest.py)


class ReachedWork(Exception):
    """Raised where the export would open the model: the arguments were all accepted."""


@pytest.fixture
def harness(model, dataset, tmp_path, monkeypatch, capsys):
    def reached(*args, **kwargs):
        raise ReachedWork

    monkeypatch.setattr(export_cli, "resolve_model", reached)
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path / "cache"))
    image = str(dataset / "images" / "a.png")

    def call(*extra: str) -> bool:
        """True when refused (checked: exit 2, one line, nothing written); False if accepted."""
        out = tmp_path / f"out-{uuid.uuid4().hex}"
        capsys.readouterr()
        try:
            code = main(["--model", str(model), *extra, "-o", str(out), image])
        except ReachedWork:
            assert not out.exists()
            return False
        err = capsys.readouterr().err
        assert code == ExitCode.BAD_INPUT, (extra, code, err)
        assert "Traceback" not in err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cnninterp-export: error: "), err
        assert not out.exists(), extra
        assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["cache"]), extra
        return True

    return call


def text_like_numbers():
    pieces = st.sampled_from(["", "-", "+", ",", " ", "1", "0", "31", "32", "1e3", "x", "_", "nan"])
    return st.one_of(st.text(max_size=12), st.lists(pieces, max_size=6).map("".join))


# A pixel as the help states it: two integers (decimal digits, an optional sign, digits may be
# grouped by underscores, blanks around each) separated by one comma.
INTEGER = re.compile(r"\s*[+-]?\d+(?:_\d+)*\s*")


def pixel_inside(text: str) -> bool:
    """Whether --pixel=text names a pixel of the 32x32 images (the one kind to be accepted)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(INTEGER.fullmatch(part) for part in parts):
        return False
    y, x = (int(part) for part in parts)
    return 0 <= y < SIZE and 0 <= x < SIZE


@SETTINGS
@given(text=text_like_numbers())
def test_random_pixel_strings(harness, text):
    refused = harness("--pixel=" + text)
    assert refused != pixel_inside(text), text


@pytest.mark.parametrize("text", ["3,4", " 3 , 4 ", "+3,04", "0,31", "1_0,2"])
def test_pixel_strings_that_name_a_pixel_are_accepted(harness, text):
    assert pixel_inside(text) and not harness("--pixel=" + text)


@pytest.mark.parametrize("text", ["", "--", "3", "3,", ",4", "3,4,5", "3;4", "3 4", "-1,4", "3,32"])
def test_pixel_strings_that_do_not_are_refused(harness, text):
    assert not pixel_inside(text) and harness("--pixel=" + text)


@SETTINGS
@given(y=st.integers(-(2**40), 2**40), x=st.integers(-(2**40), 2**40))
def test_pixels_outside_the_image_are_refused(harness, y, x):
    refused = harness(f"--pixel={y},{x}")
    inside = 0 <= y < SIZE and 0 <= x < SIZE
    assert refused != inside


@SETTINGS
@given(text=text_like_numbers(), mode=st.sampled_from(["global", "row", "absolute", "legacy"]))
def test_random_thresholds(harness, text, mode):
    refused = harness("--mode", mode, "--threshold=" + text)
    try:
        value = float(text)
    except ValueError:
        assert refused
        return
    if not value >= 0 or value == float("inf"):
        assert refused


@SETTINGS
@given(
    names=st.lists(st.sampled_from([*OUTPUTS, "gradient", "", "SIGNIFICANCE", " x"]), max_size=5)
)
def test_random_outputs_lists(harness, names):
    refused = harness("--outputs=" + ",".join(names))
    valid = [n.strip() for n in names if n.strip()]
    assert refused == (not valid or any(n not in OUTPUTS for n in valid))


@SETTINGS
@given(
    corners=st.lists(st.integers(-5, 40), min_size=0, max_size=5), sep=st.sampled_from([",", ";"])
)
def test_random_boxes(harness, corners, sep):
    refused = harness("--outputs=gradients", "--target=box:" + sep.join(map(str, corners)))
    good = (
        sep == ","
        and len(corners) == 4
        and 0 <= corners[0] <= corners[2] < SIZE
        and 0 <= corners[1] <= corners[3] < SIZE
    )
    assert refused != good


@SETTINGS
@given(
    method=st.sampled_from(["gradient", "gradxinput", "smoothgrad", "ig", "IG", "lrp"]),
    flag=st.sampled_from(["--steps", "--samples", "--sigma", "--seed", "--baseline"]),
    value=st.one_of(
        st.integers(-3, 2000).map(str), st.floats(allow_nan=True).map(str), st.text(max_size=5)
    ),
)
def test_random_method_parameters(harness, method, flag, value):
    refused = harness("--method", method, f"{flag}={value}")
    applies = {"ig": {"--steps", "--baseline"}, "smoothgrad": {"--samples", "--sigma", "--seed"}}
    if flag not in applies.get(method, set()):
        assert refused
    if (
        flag in ("--steps", "--samples")
        and value.lstrip("-").isdigit()
        and not 1 <= int(value) <= 1024
    ):
        assert refused


def test_a_valid_call_reaches_the_work(harness):
    assert not harness(
        "--pixel", "3,4", "--method", "ig", "--steps", "8", "--target", "box:0,0,5,5"
    )
