"""Analysis plugins: found by entry point, declared as plain data, their packaged
models verified by checksum before anything loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from agents.model_cache import ModelRefused, packaged_model, sha256_of
from aima_tasks.kernel.analyses import catalogue
from tests.plugin_dists import fake_distribution

PROJECT = Path(__file__).resolve().parents[2]

PLUGIN = '''
from aima_tasks.kernel.analyses import AnalysisSpec, MediaType

OCR = AnalysisSpec("ocr", frozenset({MediaType.IMAGE}), "Text in pictures.",
                   reference_s_per_unit=0.5, runner="aima_ocr.run:read", default_on=False,
                   min_vram_gb=20.0)
# Written for the days when a merge was named, not given.
OLD = AnalysisSpec("old", frozenset({MediaType.AUDIO}), "Old style.", reference_s_per_unit=1.0,
                   runner="aima_ocr.run:read", merge="aima_ocr.run:join")
'''
RUNNER = '''
def read(path, ctx):
    return {"text": path.name, "start_s": ctx.start_s}
'''


def install_plugins(site: Path) -> None:
    """A working third-party analysis, one whose declaration is not a spec and one
    that names its merge instead of giving it."""
    (site / "aima_ocr").mkdir()
    (site / "aima_ocr" / "__init__.py").write_text("")
    (site / "aima_ocr" / "spec.py").write_text(PLUGIN)
    (site / "aima_ocr" / "run.py").write_text(RUNNER)
    for dist, name, target in (("aima_ocr", "ocr", "aima_ocr.spec:OCR"),
                               ("aima_odd", "odd", "aima_ocr.run:read"),
                               ("aima_old", "old", "aima_ocr.spec:OLD")):
        fake_distribution(site, dist, "aima.analyzers", name, target)


def test_a_third_party_analysis_is_planned_and_run_and_a_broken_one_reported(tmp_path):
    install_plugins(tmp_path)
    (tmp_path / "page.png").write_bytes(b"")
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from agents import analyzers
        from agents.analyzers.context import AnalysisContext
        from aima_tasks.kernel.analyses import MediaType, catalogue
        from aima_tasks.kernel.placement.inputs import JobSpec
        known = catalogue()
        needs = known.needs(("ocr",))
        spec = JobSpec(media_type=MediaType.IMAGE, size_bytes=1, analyses=("ocr",),
                       analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda)
        print(json.dumps({{
            "found": "ocr" in known.specs,
            "broken": known.broken,
            "default": "ocr" in known.applicable(MediaType.IMAGE, False, default_only=True),
            "possible": "ocr" in known.applicable(MediaType.IMAGE, False),
            "vram": spec.vram_need_gb,
            "ran": analyzers.run("ocr", Path({str(tmp_path / "page.png")!r}),
                                 AnalysisContext(start_s=2.0)),
        }}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT)])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["found"] and result["possible"] and not result["default"]
    assert result["vram"] == 20.0  # placement reads the plugin's needs
    assert result["ran"] == {"text": "page.png", "start_s": 2.0}
    assert "is not an AnalysisSpec named 'odd'" in result["broken"]["odd"]
    assert "analysis plugin odd" in done.stderr  # logged, not silent
    assert "merge must be the joining function itself, not 'aima_ocr.run:join'" in (
        result["broken"]["old"])


def test_built_in_analyses_load_without_complaint():
    specs = catalogue().specs
    assert catalogue().broken == {}
    assert specs["people"].model_task == "person-detection"
    assert specs["vad"].segmentable and not specs["loudness"].segmentable


@pytest.mark.parametrize("name", sorted({m.name for s in catalogue().specs.values()
                                         for m in s.models}))
def test_every_packaged_model_matches_its_pin(name):
    model = next(m for s in catalogue().specs.values() for m in s.models if m.name == name)
    loaded = packaged_model(model)
    assert loaded.path.exists() and loaded.sha256 == model.sha256 == sha256_of(loaded.path)


def test_a_packaged_model_that_hashes_otherwise_is_refused_by_name():
    model = catalogue().specs["vad"].models[0]
    with pytest.raises(ModelRefused, match=r"model silero-vad 6\.2\.3 refused: .* hashes to "):
        packaged_model(replace(model, sha256="0" * 64))
    with pytest.raises(ModelRefused, match="package no-such-dist that carries it is not"):
        packaged_model(replace(model, distribution="no-such-dist"))


def test_a_folder_model_hashes_its_files_and_their_names(tmp_path):
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "a.bin").write_bytes(b"1")
    (tmp_path / "m" / "sub" / "b.bin").write_bytes(b"2")
    before = sha256_of(tmp_path / "m")
    (tmp_path / "m" / "sub" / "b.bin").rename(tmp_path / "m" / "sub" / "c.bin")
    assert sha256_of(tmp_path / "m") != before
