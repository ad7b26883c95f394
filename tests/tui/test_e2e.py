"""The real `cnninterp-tui` console script in a tmux terminal: start, keys, screen."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a new process and terminal per test: tens of seconds each

TMUX = shutil.which("tmux")
SCRIPT = Path(sys.executable).parent / "cnninterp-tui"


class Pane:
    """The console script running in a detached tmux session of its own (own server socket)."""

    def __init__(self, name: str, command: str, size: tuple[int, int], **extra_env: str):
        self.session = name[:60]
        self.socket = ["-L", self.session]
        # pytest may export COLUMNS/LINES, which Textual would believe over the pane's size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        width, height = size
        start = ["new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height)]
        subprocess.run([TMUX, *self.socket, *start, command], check=True, env=env | extra_env)

    def tmux(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, *self.socket, *args], **kwargs)

    def screen(self) -> str:
        captured = self.tmux(
            "capture-pane", "-p", "-t", self.session, capture_output=True, text=True
        )
        return captured.stdout

    def wait(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if needle in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never appeared; screen:\n{screen}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys, check=True)

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.session, capture_output=True).returncode == 0

    def close(self) -> None:
        self.tmux("kill-server", capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.skipif(not SCRIPT.exists(), reason="cnninterp-tui is not installed in this venv")
def test_console_script_in_tmux(tmp_path, model_file, make_images):
    folder = tmp_path / "data"
    make_images(folder, count=2)
    shutil.copy(model_file, folder / "model.safetensors")
    command = f"cd {tmp_path} && {SCRIPT} {folder} --graphics auto"
    pane = Pane(f"cnninterp-e2e-{tmp_path.name}", command, (120, 40))
    try:
        screen = pane.wait("gradient (0, 0)", 60)
        assert "image_0 (1/2)" in screen and "CPU" in screen
        pane.keys("l", "l", "j")
        pane.wait("gradient (1, 2)", 60)
        screen = pane.wait("y 1  x 2", 60)
        pane.keys("n")
        pane.wait("image_1 (2/2)", 60)
        pane.keys("?")
        pane.wait("cnninterp keys", 60)
        pane.keys("Escape")
        pane.keys("q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pane.alive():
            time.sleep(0.2)
    finally:
        pane.close()


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.skipif(not SCRIPT.exists(), reason="cnninterp-tui is not installed in this venv")
def test_quit_during_a_256_pass_in_tmux_is_prompt_and_clean(tmp_path, model_file, make_images):
    """Start on 256x256 images, zoom, move, quit while the pass runs: the process is gone
    within 2 s and nothing (no traceback) is printed."""
    folder = tmp_path / "data"
    make_images(folder, count=2, size=256)
    shutil.copy(model_file, folder / "model.safetensors")
    command = (
        f"cd {tmp_path} && {SCRIPT} {folder} --no-cache --graphics halfblock; "
        "echo EXIT=$? AT=$(date +%s.%N); sleep 30"
    )
    config = str(tmp_path / "config")
    pane = Pane(f"cnninterp-quit-{tmp_path.name}", command, (160, 48), CNNINTERP_CONFIG_DIR=config)
    try:
        pane.wait("gradient (0, 0)", 120)
        pane.wait("of image", 120)  # the pass is running
        pane.keys("z", "z")
        pane.wait("zoom 1:2", 120)  # fit (1:7 or so), 1:4, 1:2
        pane.keys("l", "j")
        pane.wait("gradient (1, 1)", 120)
        quit_at = time.time()
        pane.keys("q")
        screen = pane.wait("EXIT=", timeout=10)
        exited_at = float(screen.split("AT=")[1].split()[0])
        assert exited_at - quit_at < 2.0, screen
        assert "EXIT=0" in screen
        assert "Traceback" not in screen and "Error" not in screen
    finally:
        pane.close()
