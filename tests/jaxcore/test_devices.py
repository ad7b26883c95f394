"""The full pass over several devices (issue 13, part 1) and how devices are chosen.

XLA:CPU pretends to have 4 devices only when told before JAX starts, so the multi-device runs
happen in one subprocess (on_four_devices.py) whose findings every test here reads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from cnninterp.jaxcore import opening
from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.devices import DeviceChoiceError, parse_devices, select_devices
from cnninterp.jaxcore.passes.explainer import Explainer

SCRIPT = Path(__file__).with_name("on_four_devices.py")
PER_DEVICE = 4  # on_four_devices.PER_DEVICE


@pytest.fixture(scope="module")
def four():
    env = os.environ | {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    run = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=1200
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_pass_runs_as_one_program_split_over_all_four_devices(four):
    assert four["device_count"] == 4
    rows = four["rows"]
    assert rows["devices"] == [0, 1, 2, 3] and rows["device_name"] == "4x CPU"
    assert rows["result_devices"] == [0, 1, 2, 3]  # the chunk's result lives on every device
    assert rows["result_shard_rows"] == [PER_DEVICE] * 4  # each holding its own share


@pytest.mark.parametrize("full_pass", ["rows", "columns", "weights_as_arguments"])
def test_every_device_does_a_fair_share_throughout(four, full_pass):
    shares = four[full_pass]["shares"]
    assert len(shares) > 4
    for snapshot in shares:
        assert max(snapshot.values()) - min(snapshot.values()) <= PER_DEVICE  # one chunk at most
    assert min(shares[-1].values()) > 0


def test_any_models_pass_over_four_devices_is_bitwise_that_of_one(four):
    generic = four["generic"]
    assert generic["complete"] and generic["devices"] == 4
    assert set(generic["differences"]) >= {"rows", "row_max_abs", "done"}
    assert all(value == 0.0 for value in generic["differences"].values()), generic


@pytest.mark.parametrize("full_pass", ["rows", "columns", "weights_as_arguments"])
def test_results_are_bitwise_those_of_one_device(four, full_pass):
    result = four[full_pass]
    assert result["complete"]
    assert set(result["differences"]) >= {"rows", "sorted_abs", "row_max_abs", "done"}
    assert all(value == 0.0 for value in result["differences"].values()), result["differences"]


def test_histogram_summaries_and_exact_counts_equal_one_devices(four):
    histogram = four["histogram"]
    assert not histogram["exact"]
    assert set(histogram["differences"]) >= {"edges", "above_edges"}
    assert all(value == 0.0 for value in histogram["differences"].values())
    assert histogram["counts_equal"] and histogram["counts_finite"]


def test_exact_counts_of_some_rows_on_crops_equal_one_devices(four):
    assert four["partial_counts"] == {"counts_equal": True, "counted_only_those": True}


def test_the_cache_key_does_not_depend_on_the_device_count(four):
    # Results are bitwise equal (above), so a pass cached on one device serves four.
    assert four["rows"]["same_cache_key"] and four["columns"]["same_cache_key"]


def test_out_of_memory_halves_every_devices_chunk_and_loses_nothing(four):
    result = four["out_of_memory"]
    assert result["complete"]
    assert result["calls"][:3] == [4 * PER_DEVICE] * 3
    assert set(result["calls"][3:]) == {4 * PER_DEVICE // 2}
    assert result["chunk_after"] == PER_DEVICE // 2
    # A smaller batch per device may round differently in XLA: equal to 1e-6 relative.
    assert all(value <= 1e-6 for value in result["differences"].values()), result["differences"]


def test_the_explainer_factory_keys_on_the_devices_chosen(four):
    assert four["factory"] == {"all_again": True, "four": True, "two": False, "two_devices": 2}


def test_rows_answer_during_a_spread_pass_and_the_status_says_so(four):
    result = four["out_of_memory"]
    assert result["rows_answered"] == 2 and result["row_equal"]
    assert result["summaries"] == ["CPU 0-3 pass"]
    assert four["rows"]["summary_idle"] == "CPU 0-3 idle"


# --- choosing devices (in this process: one CPU device) -----------------------------------


def test_parse_devices_reads_all_a_count_and_indices():
    assert parse_devices("all") is None
    assert parse_devices("2") == 2
    assert parse_devices("0,2") == [0, 2]
    with pytest.raises(DeviceChoiceError, match="expected 'all', a count"):
        parse_devices("gpu1")


@pytest.mark.parametrize(
    "choice, message",
    [
        (0, "0 devices asked for"),
        (5, "5 devices asked for"),
        ([3], "device 3 does not exist"),
        ([0, 0], "named twice"),
        ([], "empty"),
    ],
)
def test_select_devices_refuses_what_does_not_exist(choice, message):
    with pytest.raises(DeviceChoiceError, match=message):
        select_devices(choice)


def test_select_devices_defaults_to_every_local_device():
    assert select_devices(None) == jax.local_devices()
    assert select_devices("all") == select_devices([0]) == jax.local_devices()[:1]


def test_one_device_explainer_reports_its_pass_in_the_status():
    config = ModelConfig(width=4)
    explainer = Explainer(config, random_variables(config, seed=0), devices=1)
    assert explainer.devices == jax.local_devices()[:1] and explainer.device_name == "CPU"
    assert explainer.device_summary() == "CPU 0 idle"


def test_explainer_factory_keys_on_the_devices(tmp_path):
    config = ModelConfig(width=4)
    path = tmp_path / "model.safetensors"
    save_model(path, config, random_variables(config, seed=0))
    first = opening.explainer_for(path, devices=None)
    assert opening.explainer_for(path, devices=[0]) is first  # the same devices, resolved
    with pytest.raises(opening.ModelOpenError, match="device 7 does not exist"):
        opening.explainer_for(path, devices=[7])
