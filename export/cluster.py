"""cnninterp-export --cluster: one Ray task per image, results written by the driver.

Ray is the whole engine here: it places tasks on nodes and GPUs, moves bytes through its
object store and retries a task whose worker died. This module only says what a task is and
what the driver does with its answer:

- The model file and every image travel as bytes (`ray.put`), so no node needs a shared
  filesystem; a CPU worker keeps the Explainer of the model it last saw, so compiling is
  paid once per worker process, not once per image. (GPU tasks get a fresh process each,
  Ray's default, and lean on JAX's persistent compilation cache instead.)
- A task returns the image's outputs in memory (`ImageExport`); the driver writes them with
  the in-process export's own writer. OUTDIR is written by one process only, each file
  atomically, so a lost node or a Ctrl+C can never leave half a file there.
- An image that fails for its own reasons (a bad file) comes back as an error, is reported,
  and costs nothing else; a worker that dies (killed, out of memory, node lost) is Ray's
  business: the task is retried up to `max_retries` times.
"""

import hashlib
import os
import platform
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from cnninterp.export.image import ImageExport, Job, explain_image, write_export
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, load_image
from cnninterp.jaxcore.model.provenance import versions
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store.compilations import enable_compilation_cache
from cnninterp.jaxcore.store.results import StatsCache

INSTALL_HINT = (
    'cnninterp-export --cluster needs Ray: pip install "cnninterp[cluster]" (or pip install ray)'
)
MAX_RETRIES = 3
"""Retries of a task whose worker died; an image's own failure is never retried."""
LOCAL_MAX_CPUS = 8
"""`--cluster local` runs at most this many CPU tasks at once (each JAX process is threaded)."""
POLL_S = 0.5
"""How often the driver refreshes the nodes' running tasks while it waits for results."""


class ClusterError(Exception):
    """Ray missing, or no cluster to join: bad usage (exit 2), before any image is computed."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class TaskResult:
    """What one task sends back to the driver."""

    name: str
    node: str
    """The host the task ran on."""
    seconds: float
    """The task's own time: loading, the full pass, the rows (compiling on a worker's first)."""
    export: ImageExport | None
    """The outputs, or None when the image failed."""
    error: str | None
    """Why the image failed, fit for the user; None when it did not."""


_WORKER_EXPLAINERS: dict[tuple[str, int | None], Explainer] = {}


def _worker_explainer(model: bytes, model_sha256: str, explained_class: int | None) -> Explainer:
    """The Explainer of this model (explaining this class) in this worker process, loaded
    once: compiling is the slow part of a task, and Ray reuses worker processes across tasks."""
    key = (model_sha256, explained_class)
    if key not in _WORKER_EXPLAINERS:
        # Ray runs a GPU task in a fresh worker process (max_calls=1 for GPU tasks, so each
        # sees the GPU it was given), so on GPUs the persistent cache is what spares compiling.
        enable_compilation_cache()
        _WORKER_EXPLAINERS.clear()  # one model at a time: a full-size one holds 125 MB
        with tempfile.TemporaryDirectory(prefix="cnninterp-model-") as folder:
            path = Path(folder) / "model.safetensors"
            path.write_bytes(model)
            _WORKER_EXPLAINERS[key] = Explainer.from_file(path, vessel_class=explained_class)
    return _WORKER_EXPLAINERS[key]


def explain_remotely(
    model: bytes,
    model_sha256: str,
    source: ImageSource,
    files: tuple[bytes, bytes | None],
    job: Job,
    use_cache: bool,
    board,
) -> TaskResult:
    """The task: one image's outputs, computed on whichever node Ray chose. `files`: the
    image's bytes and its label's (None without one), so ground truth is computed here too."""
    image, label = files
    started = time.perf_counter()
    node = platform.node()
    board.started.remote(source.name, node, os.getpid())
    path = None  # the image's copy on this node, once written
    try:
        explainer = _worker_explainer(model, model_sha256, job.explained_class)
        with tempfile.TemporaryDirectory(prefix="cnninterp-image-") as folder:
            path = Path(folder) / f"image{source.image_path.suffix.lower()}"
            path.write_bytes(image)
            label_path = None
            if label is not None and source.label_path is not None:
                label_path = Path(folder) / f"label{Path(source.label_path).suffix.lower()}"
                label_path.write_bytes(label)
            copy = ImageSource(source.name, path, label_path)
            loaded = load_image(
                copy,
                max_pixels=job.max_pixels,
                multiple=explainer.model.size_multiple,
                channels=explainer.model.input_channels,
                label_class=(explainer.model.explained_class, explainer.model.classes),
            )
        loaded = replace(loaded, source=source)  # the driver's paths in the record
        job = replace(job, provenance=job.provenance | {"versions": versions()})
        result = explain_image(
            explainer,
            loaded,
            hashlib.sha256(image).hexdigest(),
            job,
            StatsCache(enabled=use_cache),
            None,
            started,
        )
    except Exception as exc:  # the image's own failure: reported, never retried
        # Messages name the file; the user knows it by the driver's path, not this copy's.
        why = describe(exc)
        why = why if path is None else why.replace(str(path), str(source.image_path))
        return TaskResult(source.name, node, time.perf_counter() - started, None, why)
    return TaskResult(source.name, node, time.perf_counter() - started, result, None)


def describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ImageError | OSError) else f"{type(exc).__name__}: {exc}"


class TaskBoard:
    """Which task runs where: tasks report their start here (a tiny Ray actor), the driver
    reads it for the progress display. A retried task reports again (attempt 2, ...)."""

    def __init__(self):
        self.running: dict[str, tuple[str, int]] = {}
        self.attempts: dict[str, int] = {}

    def started(self, name: str, node: str, pid: int) -> None:
        self.running[name] = (node, pid)
        self.attempts[name] = self.attempts.get(name, 0) + 1

    def snapshot(self) -> tuple[dict[str, tuple[str, int]], dict[str, int]]:
        return dict(self.running), dict(self.attempts)


def connect(ray, cluster: str) -> bool:
    """Start or join Ray; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False  # a notebook's or a test session's Ray: use it as it is
    options = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
    try:
        with warnings.catch_warnings():
            # JAX warns on any fork once it runs threads; Ray's fork is subprocess's
            # fork+exec of its own daemons, which runs no Python (and no JAX) in the child.
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            if cluster == "local":
                ray.init(num_cpus=min(os.cpu_count() or 1, LOCAL_MAX_CPUS), **options)
            else:
                ray.init(address=cluster, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a running cluster" if cluster == "auto" else cluster
        raise ClusterError(
            f"--cluster {cluster}: cannot join {where} ({exc}); start one with `ray start --head`"
        ) from None
    return True


def gpus_for_tasks(ray, requested: float | None) -> float:
    """--gpus-per-task: 1 where the cluster has GPUs, 0 where it has none, unless given."""
    available = ray.cluster_resources().get("GPU", 0)
    if requested is None:
        return 1.0 if available else 0.0
    if requested > 0 and not available:
        raise ClusterError(
            f"--gpus-per-task {requested:g}: the cluster has no GPUs (use --gpus-per-task 0)"
        )
    return requested


@dataclass(frozen=True)
class ClusterReport:
    """How a cluster run went."""

    results: list[TaskResult]
    """Every task's answer, in the order they came back."""
    attempts: dict[str, int]
    """How many times each image's task started (above 1: retried after its worker died)."""


def run_on_cluster(
    ray,
    sources: list[ImageSource],
    job: Job,
    model: bytes,
    model_sha256: str,
    *,
    use_cache: bool,
    gpus_per_task: float,
    progress,
    task=explain_remotely,
    max_retries: int = MAX_RETRIES,
) -> ClusterReport:
    """Run one task per image, write each answer as it arrives; Ctrl+C cancels the rest."""
    model_ref = ray.put(model)
    board = ray.remote(num_cpus=0)(TaskBoard).remote()
    remote = ray.remote(num_cpus=1, num_gpus=gpus_per_task, max_retries=max_retries)(task)
    results: list[TaskResult] = []
    pending = {}
    for source in sources:
        try:
            image = source.image_path.read_bytes()
            label = None
            if source.label_path is not None:
                load_image(source, max_pixels=job.max_pixels)  # a bad label fails here too
                label = Path(source.label_path).read_bytes()
        except (ImageError, OSError) as exc:
            results.append(TaskResult(source.name, "-", 0.0, None, describe(exc)))
            progress.finished(results[-1])
            continue
        files = ray.put((image, label))
        ref = remote.remote(model_ref, model_sha256, source, files, job, use_cache, board)
        pending[ref] = source
    attempts: dict[str, int] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                source = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries exhausted, node gone, ...
                    why = (str(exc).strip().splitlines() or [""])[0]
                    result = TaskResult(source.name, "?", 0.0, None, f"{type(exc).__name__}: {why}")
                if result.export is not None:
                    write_export(job.output, result.export)
                results.append(result)
                progress.finished(result)
            running, attempts = ray.get(board.snapshot.remote())
            finished = {r.name for r in results}
            progress.running({n: where for n, where in running.items() if n not in finished})
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    running, attempts = ray.get(board.snapshot.remote())
    return ClusterReport(results, attempts)


def export_on_cluster(ray, args, sources, job: Job, model_path: Path, progress) -> int:
    """cnninterp-export --cluster: join or start Ray, run every image, list the files written;
    returns how many images failed. Raises ClusterError (exit 2) before any task runs."""
    model = model_path.read_bytes()
    started_ray = connect(ray, args.cluster)
    try:
        report = run_on_cluster(
            ray,
            sources,
            job,
            model,
            hashlib.sha256(model).hexdigest(),
            use_cache=args.cache,
            gpus_per_task=gpus_for_tasks(ray, args.gpus_per_task),
            progress=progress,
        )
    finally:
        if started_ray:
            ray.shutdown()
    for result in report.results:
        if result.export is not None:
            progress.output(str(job.output / f"{result.name}.npz"))
    return sum(result.export is None for result in report.results)
