"""The agent's benchmark: every analyzer timed on sample media."""

from __future__ import annotations

from agents import analyzers
from agents.benchmark import analyzer_profile


def test_every_analyzer_is_timed_per_work_unit(tmp_path):
    profile = analyzer_profile(tmp_path, repeat=1)
    assert set(profile) == set(analyzers.ANALYZERS)
    assert all(0 < seconds < 10 for seconds in profile.values()), profile
    # Nothing of the sample media is left behind.
    assert list(tmp_path.iterdir()) == []
