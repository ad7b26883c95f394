"""The real `cnninterp-tui` console script in a tmux terminal: start, keys, screen."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
SCRIPT = Path(sys.executable).parent / "cnninterp-tui"


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.skipif(not SCRIPT.exists(), reason="cnninterp-tui is not installed in this venv")
def test_console_script_in_tmux(tmp_path, model_file, make_images):
    folder = tmp_path / "data"
    make_images(folder, count=2)
    shutil.copy(model_file, folder / "model.safetensors")
    session = f"cnninterp-e2e-{tmp_path.name}"[:60]
    socket = ["-L", session]
    command = f"cd {tmp_path} && {SCRIPT} {folder} --graphics auto"
    # pytest may export COLUMNS/LINES, which Textual would believe over the tmux pane's size.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    subprocess.run(
        [TMUX, *socket, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command],
        check=True,
        env=env,
    )
    try:

        def cap():
            return subprocess.run(
                [TMUX, *socket, "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout

        def wait(needle, timeout=60.0):
            deadline = time.monotonic() + timeout
            screen = ""
            while time.monotonic() < deadline:
                screen = cap()
                if needle in screen:
                    return screen
                time.sleep(0.3)
            raise AssertionError(f"{needle!r} never appeared; screen:\n{screen}")

        def keys(*k):
            subprocess.run([TMUX, *socket, "send-keys", "-t", session, *k], check=True)

        screen = wait("gradient (0, 0)")
        assert "image_0 (1/2)" in screen and "CPU" in screen
        keys("l", "l", "j")
        wait("gradient (1, 2)")
        screen = wait("y 1  x 2")
        keys("n")
        wait("image_1 (2/2)")
        keys("?")
        wait("cnninterp keys")
        keys("Escape")
        keys("q")
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and subprocess.run(
                [TMUX, *socket, "has-session", "-t", session], capture_output=True
            ).returncode
            == 0
        ):
            time.sleep(0.2)
    finally:
        subprocess.run([TMUX, *socket, "kill-server"], capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.skipif(not SCRIPT.exists(), reason="cnninterp-tui is not installed in this venv")
def test_quit_during_a_256_pass_in_tmux_is_prompt_and_clean(tmp_path, model_file, make_images):
    """Start on 256x256 images, zoom, move, quit while the pass runs: the process is gone
    within 2 s and nothing (no traceback) is printed."""
    folder = tmp_path / "data"
    make_images(folder, count=2, size=256)
    shutil.copy(model_file, folder / "model.safetensors")
    session = f"cnninterp-quit-{tmp_path.name}"[:60]
    socket = ["-L", session]
    command = (
        f"cd {tmp_path} && {SCRIPT} {folder} --no-cache --graphics halfblock; "
        "echo EXIT=$? AT=$(date +%s.%N); sleep 30"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    env["CNNINTERP_CONFIG_DIR"] = str(tmp_path / "config")
    subprocess.run(
        [TMUX, *socket, "new-session", "-d", "-s", session, "-x", "160", "-y", "48", command],
        check=True,
        env=env,
    )
    try:

        def cap():
            return subprocess.run(
                [TMUX, *socket, "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout

        def wait(needle, timeout=120.0):
            deadline = time.monotonic() + timeout
            screen = ""
            while time.monotonic() < deadline:
                screen = cap()
                if needle in screen:
                    return screen
                time.sleep(0.2)
            raise AssertionError(f"{needle!r} never appeared; screen:\n{screen}")

        def keys(*k):
            subprocess.run([TMUX, *socket, "send-keys", "-t", session, *k], check=True)

        wait("gradient (0, 0)")
        wait("of image")  # the pass is running
        keys("z", "z")
        wait("zoom 1:2")  # fit (1:7 or so), 1:4, 1:2
        keys("l", "j")
        wait("gradient (1, 1)")
        quit_at = time.time()
        keys("q")
        screen = wait("EXIT=", timeout=10)
        exited_at = float(screen.split("AT=")[1].split()[0])
        assert exited_at - quit_at < 2.0, screen
        assert "EXIT=0" in screen
        assert "Traceback" not in screen and "Error" not in screen
    finally:
        subprocess.run([TMUX, *socket, "kill-server"], capture_output=True)
