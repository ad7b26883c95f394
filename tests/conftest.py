"""Suite-wide: JAX's strict promotion rules, one compilation cache, a private result cache and
the one tiny model the front-end tests open.

Strict flags, once for every test (as patrick-kidger/equinox does): a silent broadcast of
mismatched ranks or a silent dtype widening is an error here, so the code says what it means.

Many tests compile the same functions for the same model and shapes (each Explainer jits its
own, with the weights as constants on the CPU). JAX's persistent compilation cache turns every
repeat into a read, within a run and across runs: it lives in .pytest-jax-cache/ at the
checkout's root (git ignores it; CNNINTERP_TEST_JAX_CACHE names another folder, or "off"), and
the environment hands it to the subprocesses the tests start (the TUI in tmux, the four-device
run, Ray's workers). JAX keys each entry by the program, its flags, the backend and jax's
version, so a stale entry is never read; past 4 GiB the oldest entries are deleted at the start
of a run (the full-size model's programs are about 116 MB each).

The results of every test are cached in a per-session temporary folder, never the user's cache.
Hypothesis draws the same examples every run (derandomized, no example database: no flaky CI,
no .hypothesis/ folder); the fuzz modules set only how many. Widen locally with another seed.
"""

import os
from pathlib import Path

import jax
import pytest
from hypothesis import HealthCheck, settings

from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables

STRICT = {"jax_numpy_rank_promotion": "raise", "jax_numpy_dtype_promotion": "strict"}
CHECKOUT = Path(__file__).resolve().parent.parent
TEST_JAX_CACHE = "CNNINTERP_TEST_JAX_CACHE"
JAX_CACHE_KEEP_BYTES = 4 * 2**30  # pruned to half this at the start when over it

TINY_CONFIG = ModelConfig(width=4)
TINY_SEED = 3


def prune_oldest(folder: Path, limit: int) -> None:
    """Over `limit` bytes, delete the oldest entries until half of it is left. (JAX's own cap,
    jax_compilation_cache_max_size, locks the folder on every read and warns, which this suite
    turns into errors, when an entry is bigger than the cap.)"""
    entries = sorted(
        (entry.stat().st_mtime, entry.stat().st_size, entry)
        for entry in folder.glob("*")
        if entry.is_file()
    )
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, entry in entries:
        if total <= limit // 2:
            break
        entry.unlink(missing_ok=True)
        total -= size


def use_compilation_cache() -> None:
    """Every compilation of the session (and of its subprocesses) kept in one folder."""
    folder = os.environ.get(TEST_JAX_CACHE) or str(CHECKOUT / ".pytest-jax-cache")
    if folder == "off":
        return
    cache = {
        "jax_compilation_cache_dir": folder,
        "jax_persistent_cache_min_compile_time_secs": 0.2,  # not the many trivial programs
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    prune_oldest(Path(folder), JAX_CACHE_KEEP_BYTES)
    for name, value in cache.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)  # read by JAX when a subprocess imports it


for _name, _value in STRICT.items():
    jax.config.update(_name, _value)
use_compilation_cache()

settings.register_profile(
    "cnninterp",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("cnninterp")


# The two tiers. `make test` runs everything; `make test-fast` (pytest -m "not slow") leaves out
# the tests marked slow, for about 2 min on a quiet 2-core machine. Slow are: tests that compile
# the full-size model or start a terminal (marked in their modules); tests on the fixtures below
# (slow by construction, so a new test on them cannot land in the fast tier); and the tests in
# SLOW_TESTS, measured (pytest --durations=0 on this busy 2-core machine): over about 2.5 s each
# with the compilation cache warm, or 6 s cold, their parameters counted together (an entry is a
# test's name, or its name and [parameters] for one case). Kept fast anyway: the rows against
# PyTorch autograd and the significance module (its session fixtures hold the passes). The
# TUI's logic is tested without Pilot in the fast tier; driving the app under Pilot takes
# seconds a test. A name here that no longer matches a test is reported at the end of the run
# (the test then runs in the fast tier).
SLOW_FIXTURES = {
    "four": "full passes in a subprocess on four XLA:CPU devices (tests/jaxcore/test_devices.py)",
    "big_folder": "passes over 256x256 images (tests/tui/conftest.py)",
    "ray_session": "a local Ray cluster (tests/export/conftest.py)",
}
SLOW_TESTS = {
    "tests/convert/test_convert_cli.py": {
        "test_console_script_end_to_end",
        "test_converts_and_writes_a_self_describing_model_file",
        "test_force_writes_despite_parity_failure_and_records_it",
        "test_parity_failure_writes_nothing_and_exits_3",
    },
    "tests/convert/test_convert_fuzz.py": {
        "test_finite_weights_with_overflowing_outputs_never_written_even_forced",
    },
    "tests/convert/test_convert_parity.py": {"test_small_models_agree_with_pytorch"},
    "tests/convert/test_convert_safety.py": {"test_existing_output_is_never_replaced_silently"},
    "tests/demo/test_demo_train.py": {"test_short_training_run_end_to_end"},
    "tests/export/test_export.py": {
        "test_console_script",
        "test_export_imports_torch_and_rich_progress_only_when_needed",
        "test_export_matches_the_explainer_and_reuses_the_cache",
        "test_failed_image_is_reported_and_others_written",
    },
    "tests/export/test_export_request.py": {
        "test_ig_of_a_box_then_each_pixel_with_ground_truth",
        "test_without_significance_no_pass_runs_and_the_files_say_so",
    },
    "tests/export/test_resume.py": {
        "test_a_rerun_skips_everything_and_writes_nothing",
        "test_ctrl_c_keeps_what_finished_and_a_rerun_resumes",
        "test_only_what_differs_is_computed_again",
    },
    "tests/jaxcore/test_cache.py": {
        "test_changed_image_misses",
        "test_hit_returns_equal_stats_without_recomputing",
    },
    "tests/jaxcore/test_columns.py": {
        "test_all_columns_are_the_transposed_rows",
        "test_both_passes_agree_on_a_wide_image",
        "test_columns_match_torch_forward_mode",
        "test_windows_hold_the_whole_tangent",
    },
    "tests/jaxcore/test_crops.py": {
        "test_cropped_rows_equal_whole_image_rows",
        "test_cropped_rows_match_torch_autograd",
        "test_every_phase_reaches_exactly_its_derived_interval",
        "test_histogram_summaries_on_crops_equal_the_colouring_pass",
        "test_the_pass_on_crops_summarises_each_row_it_reports",
    },
    "tests/jaxcore/test_gradients.py": {
        "test_rows_match_torch_autograd_at_corners_borders_and_inside[8]",  # [4] stays fast
        "test_a_row_for_python_int_pixels",
        "test_decoder_windows_hold_the_whole_cotangent",
        "test_out_of_device_memory_halves_the_chunk_and_loses_nothing",
        "test_receptive_field_radius",
    },
    "tests/jaxcore/test_images_fuzz.py": {"test_decompression_bombs_refused_before_decoding"},
    "tests/jaxcore/test_kept_rows.py": {
        "test_a_focus_pass_keeps_its_rows_and_the_cursor_gets_them_without_a_backward_pass",
    },
    "tests/jaxcore/test_partial_cache.py": {"test_on_crops_a_partial_pass_resumes_pixel_by_pixel"},
    "tests/jaxcore/test_partial_counts.py": {
        "test_by_colours_only_wanted_rows_are_filled",
        "test_on_crops_only_the_rows_done_are_counted_exactly",
    },
    "tests/jaxcore/test_pass_order.py": {"test_a_resumed_pass_skips_the_rows_it_has"},
    "tests/jaxcore/test_seam.py": {"test_the_seed_records_apply_and_activation_are_the_networks"},
    "tests/jaxcore/test_significance.py": {
        "test_counts_can_be_read_while_the_pass_adds_rows",
        "test_counts_equal_brute_force",
    },
    "tests/jaxcore/test_windowed_encoder.py": {
        "test_windowed_rows_equal_whole_canvas_rows",
        "test_windows_hold_the_whole_cotangent_where_nothing_cancels",
    },
    "tests/test_boundaries.py": {"test_importing_a_package_loads_nothing_it_must_not"},
    "tests/tui/test_app.py": {
        "test_a_cursor_move_repaints_only_the_cursor_rows_of_the_image_panel",
        "test_cursor_moves_show_the_row_and_statistics_jaxcore_computes",
        "test_half_block_panels_render_pixels_and_cursor",
        "test_save_writes_png_npz_and_json",
        "test_switching_images_cancels_the_pass_and_shows_the_next",
        "test_the_rows_detail_comes_after_it_unless_the_cursor_moved_on",
        "test_threshold_keys_change_the_counts_as_jaxcore_says",
        "test_typed_threshold_and_goto",
    },
    "tests/tui/test_behaviour.py": {
        "test_choices_and_keys_are_remembered",
        "test_help_scrolls_and_shows_real_key_labels",
        "test_statistics_relayout_at_once_after_a_resize",
        "test_threshold_keys_explain_their_limits",
    },
    "tests/tui/test_explaining_app.py": {
        "test_a_box_corner_marked_then_a_click_draws_the_box",
        "test_a_box_drawn_with_keys_is_the_target_titled_and_outlined",
        "test_a_new_request_cancels_the_one_running",
        "test_bad_parameters_keep_the_prompt_open_saying_what_is_allowed",
        "test_cycling_the_method_shows_the_attribution_jaxcore_computes",
        "test_save_writes_the_attribution_on_screen",
        "test_segment_on_background_is_refused_naming_the_nearest_vessel",
    },
    "tests/tui/test_figure.py": {"test_the_png_has_every_panel_the_cursor_marks_and_the_outlines"},
    "tests/tui/test_graphics.py": {"test_importing_the_tui_does_not_import_torch_or_textual_image"},
    "tests/tui/test_graphics_app.py": {
        "test_estimated_counts_say_so_and_E_counts_exactly",
        "test_graphics_panels_encode_once_per_picture_not_per_cursor_move",
    },
    "tests/tui/test_graphics_zoom.py": {
        "test_zoom_and_pan_move_the_graphics_pictures_of_every_cursor_panel",
    },
    "tests/tui/test_state.py": {"test_the_state_package_imports_no_textual"},
    "tests/tui/test_stats_layout.py": {
        "test_at_80x24_every_statistics_line_fits_and_the_essentials_show",
    },
    "tests/tui/test_zoom.py": {"test_z_zooms_every_picture_panel_and_the_viewport_follows"},
}


UNMATCHED_SLOW_TESTS = pytest.StashKey[list[str]]()


def unmatched_slow_tests(nodeids: list[str]) -> list[str]:
    """The SLOW_TESTS entries of the collected modules that name no collected test."""
    cases = {(i.split("::")[0], i.split("::")[-1]) for i in nodeids}
    names = cases | {(module, name.partition("[")[0]) for module, name in cases}
    return [
        f"{module}::{name}"
        for module, listed in SLOW_TESTS.items()
        if any(m == module for m, _ in cases)
        for name in sorted(listed)
        if (module, name) not in names
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0]
        names = {getattr(item, "originalname", item.name), item.name}  # all cases, this case
        if names & SLOW_TESTS.get(module, set()) or SLOW_FIXTURES.keys() & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.slow)
    if not hasattr(config, "workerinput") and whole_modules(config):  # xdist: checked below
        config.stash[UNMATCHED_SLOW_TESTS] = unmatched_slow_tests([i.nodeid for i in items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    if whole_modules(node.config):
        node.config.stash[UNMATCHED_SLOW_TESTS] = unmatched_slow_tests(ids)


def whole_modules(config: pytest.Config) -> bool:
    """Whether every module collected is run whole (no `path::test` argument, no -m or -k:
    pytest-xdist reports the ids after those deselect), so a listed name missing is gone."""
    narrowed = config.option.markexpr or config.option.keyword
    return not narrowed and not any("::" in str(arg) for arg in config.args)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A stale SLOW_TESTS entry fails the run: a renamed slow test would silently join the
    fast tier otherwise."""
    if session.config.stash.get(UNMATCHED_SLOW_TESTS, []):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    unmatched = config.stash.get(UNMATCHED_SLOW_TESTS, [])
    if unmatched:
        terminalreporter.write_line(
            "tests/conftest.py SLOW_TESTS names tests that do not exist (renamed?): "
            + ", ".join(unmatched),
            red=True,
        )


@pytest.fixture(autouse=True, scope="session")
def private_result_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path_factory.mktemp("cnninterp-cache")))
        yield


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """The suite's tiny real model (width 4, random weights) as a model file, written once per
    session: the TUI and export tests open it (the export's `model` is this file), so their
    compilations are shared."""
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    variables = random_variables(TINY_CONFIG, seed=TINY_SEED)
    save_model(path, TINY_CONFIG, variables, {"purpose": "cnninterp's tests"})
    return path
