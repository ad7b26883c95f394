"""cnninterp-export and partial passes: Ctrl+C in the middle of an image's pass keeps its rows
in the result cache, and the rerun resumes that pass instead of starting it again."""

from pathlib import Path

import numpy as np

from cnninterp.export.cli import main
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.passes.streaming import StreamingEngine


def export(model: Path, dataset: Path, out: Path) -> int:
    return main(["--model", str(model), "--pixel", "3,4", "-o", str(out), str(dataset)])


def test_an_interrupted_export_resumes_its_pass_from_the_cache(
    model, dataset, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(cache))
    real = StreamingEngine.run
    orders: list[int] = []

    def interrupted(engine, forward, order, compute, consume, on_progress, cancel, **options):
        orders.append(len(order))

        def then_ctrl_c(count):
            on_progress(count)
            raise KeyboardInterrupt  # as Ctrl+C would, once the first chunk is filed

        return real(engine, forward, order, compute, consume, then_ctrl_c, cancel, **options)

    monkeypatch.setattr(StreamingEngine, "run", interrupted)
    assert export(model, dataset, tmp_path / "out") == ExitCode.INTERRUPTED
    (entry,) = (cache / "stats").glob("*.partial.npz")
    with np.load(entry) as npz:
        kept = int(npz["done"].sum())
    assert 0 < kept < orders[0]

    def counted(engine, forward, order, *rest, **options):
        orders.append(len(order))
        return real(engine, forward, order, *rest, **options)

    first_run = list(orders)
    monkeypatch.setattr(StreamingEngine, "run", counted)
    assert export(model, dataset, tmp_path / "out") == ExitCode.OK
    assert orders[len(first_run)] == first_run[0] - kept  # the kept rows are not recomputed
    assert not list((cache / "stats").glob("*.partial.npz"))  # replaced by complete entries
    assert len(list((cache / "stats").glob("*.npz"))) == 4
