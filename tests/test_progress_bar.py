"""Long commands draw a progress bar on a terminal (a real pseudo-terminal here) and
write nothing of it anywhere else."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from aima_web.core.progress_bar import ProgressBar, track

EXAMPLE = Path(__file__).resolve().parents[1] / "bench" / "simulation"


@pytest.fixture
def terminal():
    """A text stream on the child side of a pty, and a reader of what reached it."""
    parent, child = os.openpty()
    stream = os.fdopen(child, "w", encoding="utf-8")

    def read() -> str:
        stream.flush()
        found = b""
        os.set_blocking(parent, False)
        try:
            while chunk := os.read(parent, 65536):
                found += chunk
        except BlockingIOError:
            pass
        return found.decode()

    yield stream, read
    stream.close()
    os.close(parent)


def test_on_a_terminal_the_bar_is_redrawn_in_place_up_to_100_percent(terminal):
    stream, read = terminal
    assert stream.isatty()
    items = list(track(range(4), 4, "work", stream))
    assert items == [0, 1, 2, 3]
    shown = read()
    frames = [frame for frame in shown.replace("\r\n", "\n").split("\r") if frame]
    assert [frame.split("]")[1].split("%")[0].strip() for frame in frames] == [
        "0.0", "25.0", "50.0", "75.0", "100.0"]
    assert frames[-1] == f"work [{'#' * 30}] 100.0% 4/4\n"


def test_a_redraw_happens_only_when_the_shown_figure_changes(terminal):
    stream, read = terminal
    # 10,000 small steps over the first 1 %: eleven figures (0.0 to 1.0 %) to show.
    with ProgressBar(1000, "many", stream) as bar:
        for _ in range(10_000):
            bar.advance(0.001)
    shown = read().replace("\r\n", "\n")  # the terminal's own newline translation
    assert shown.count("\r") <= 12 and shown.endswith("1.0% 10.0/1000\n")


def test_anywhere_else_nothing_is_written():
    log = io.StringIO()
    with ProgressBar(10, "quiet", log) as bar:
        bar.advance(10)
    assert list(track(range(3), 3, "quiet", log)) == [0, 1, 2]
    assert log.getvalue() == ""


def test_the_simulator_shows_its_replays_on_a_terminal_and_keeps_stdout_clean(
        terminal, monkeypatch):
    stream, read = terminal
    monkeypatch.setattr(sys, "stderr", stream)
    out = io.StringIO()
    call_command("aima_simulate", "--trace", str(EXAMPLE / "trace.jsonl"),
                 "--fleet", str(EXAMPLE / "fleet.json"), "--offers", str(EXAMPLE / "offers.csv"),
                 "--strategy", "balanced", "--json", stdout=out)
    assert out.getvalue().lstrip().startswith("{") and "replaying" not in out.getvalue()
    assert read().rstrip().endswith("100.0% 4/4 replays")


@pytest.mark.django_db
def test_a_model_import_logs_only_its_result_line(tmp_path, settings, capfd):
    settings.AIMA_MODEL_ROOT = tmp_path / "store"
    source = tmp_path / "m.onnx"
    source.write_bytes(b"weights" * 500_000)
    out = io.StringIO()
    call_command("aima_models", "add", "m", "1", str(source), stdout=out)
    assert out.getvalue().startswith("stored ")
    assert "importing" not in capfd.readouterr().err
