"""The analyses kernel: declarations the control plane can use without agent code, a
catalogue read on first use, and the needs a job's analyses put on a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from aima_tasks.kernel.analyses import MIN_CUDA, MediaType, catalogue, facts
from aima_tasks.kernel.analyses.facts import Fact, Swatch
from aima_tasks.kernel.analyses.sections import Slot, speech, speech_map
from aima_tasks.kernel.placement import JobSpec

PROJECT = Path(__file__).resolve().parents[2]


def test_importing_the_kernel_reads_no_entry_points_and_the_catalogue_no_agent_code():
    script = (
        "import json, sys\n"
        "import aima_tasks.kernel.analyses as analyses\n"
        "before = 'aima_tasks.kernel.analyses.builtin' in sys.modules\n"
        "specs = analyses.catalogue().specs\n"
        "print(json.dumps({'before': before, 'same': analyses.catalogue() is analyses.catalogue(),"
        " 'agents': sorted(m for m in sys.modules if m.split('.')[0] == 'agents'),"
        " 'count': len(specs)}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=PROJECT, check=True)
    result = json.loads(done.stdout)
    assert result == {"before": False, "same": True, "agents": [], "count": 14}


def test_segmentable_analyses_merge_with_kernel_functions():
    for spec in catalogue().specs.values():
        if spec.segmentable:
            assert spec.merge.__module__.startswith("aima_tasks.kernel.analyses.")
    assert {n for n, s in catalogue().specs.items() if s.segmentable} == {
        "people", "pose", "faces", "text", "vad", "transcript", "speakers", "sounds"}


def test_needs_are_the_most_any_analysis_asks(monkeypatch):
    specs = catalogue().specs
    assert catalogue().needs(("shots", "nonesuch")).min_cuda == MIN_CUDA
    monkeypatch.setitem(specs, "big", replace(specs["shots"], name="big", min_vram_gb=40.0,
                                              min_cuda="12.10"))
    monkeypatch.setitem(specs, "newer", replace(specs["shots"], name="newer", min_cuda="12.9"))
    needs = catalogue().needs(["shots", "big", "newer"])
    assert (needs.vram_gb, needs.min_cuda) == (40.0, "12.10")
    spec = JobSpec(media_type=MediaType.VIDEO, size_bytes=1, analyses=("big",),
                   analyses_vram_gb=needs.vram_gb, min_cuda=needs.min_cuda)
    assert (spec.vram_need_gb, spec.min_cuda) == (40.0, "12.10")
    assert JobSpec(media_type=MediaType.AUDIO, size_bytes=1, analyses=()).vram_need_gb == 8.0


def test_each_report_slot_is_declared_once_but_speech_and_tracks():
    # Two fill the speech map (voice activity, else silence) and two the tracks (people,
    # else pose, whose tracks are the same people with their landmarks); rank decides.
    declared = [s.slot for spec in catalogue().specs.values() for s in spec.sections]
    assert sorted(declared) == sorted([*Slot, Slot.SPEECH, Slot.TRACKS])
    ranks = {(s.slot, s.rank) for spec in catalogue().specs.values() for s in spec.sections}
    assert (Slot.TRACKS, 0) in ranks and (Slot.TRACKS, 1) in ranks


def test_the_speech_map_fills_the_gaps_up_to_the_duration():
    heard = speech({"segments": [{"start_s": 1.0, "end_s": 2.0}]})
    assert speech_map(heard, 3.0) == [
        {"start_s": 0.0, "end_s": 1.0, "kind": "silence"},
        {"start_s": 1.0, "end_s": 2.0, "kind": "speech"},
        {"start_s": 2.0, "end_s": 3.0, "kind": "silence"}]
    assert speech_map(None, 3.0) == []


def test_facts_are_declared_by_kernel_functions():
    declared = {name: spec.facts for name, spec in catalogue().specs.items() if spec.facts}
    assert set(declared) == {"loudness", "phash", "colours"}
    assert {f.__module__ for f in declared.values()} == {"aima_tasks.kernel.analyses.facts"}


def test_facts_show_missing_values_and_nothing_for_an_empty_result():
    assert facts.loudness({"integrated_lufs": -23.1, "rms_dbfs": 0.0}) == [
        Fact("Loudness", "-23.1 LUFS integrated, peak - dBFS, RMS 0.0 dBFS")]
    assert facts.hashes({"phash": "ab"}) == [Fact("pHash / dHash", "ab / ", code=True)]
    assert facts.loudness({}) == facts.hashes({}) == facts.colours({"colours": "junk"}) == []


def test_only_checked_colours_become_swatches():
    found = facts.colours({"colours": [{"hex": "#00ff00", "share": 0.125},
                                       {"hex": "#00ff00;x:y", "share": 0.5},
                                       {"hex": "00ff00"}, {"hex": 255}, {"hex": "#abcdef"}]})
    assert found == [Fact("Colours", swatches=(Swatch("#00ff00", "0.13"), Swatch("#abcdef")))]
    for forged in ("#00ff00;x:y", "#00ff00\n", "red", "#abc", 0x00FF00):
        with pytest.raises(ValueError, match="not a #rrggbb colour"):
            Swatch(forged)
    with pytest.raises(TypeError):
        Fact("Colours", swatches=({"hex": "red;x:y"},))
