"""Partial execution: a job whose heavy analysis no GPU it may use can hold runs
the analyses that can, and the decision says which were skipped and why."""

from __future__ import annotations

from aima_tasks.kernel.analyses import MediaType, Needs
from aima_tasks.kernel.classification import Confidentiality, GpuStatus
from aima_tasks.kernel.placement import (
    EMPTY,
    Code,
    Decision,
    JobSpec,
    Policy,
    decide_partial,
)

from .test_placement import book, fleet, gpu, offer, placed_on

# A transcript whose smallest model needs 40 GB beside light audio analyses.
NEEDS = {"transcript": Needs(vram_gb=40.0), "loudness": Needs(), "silence": Needs()}
ANALYSES = ("loudness", "silence", "transcript")


def audio_job(**kw) -> JobSpec:
    return JobSpec(media_type=MediaType.AUDIO, size_bytes=10**6, analyses=ANALYSES,
                   duration_s=600.0, model_vram_gb=40.0, **kw)


def test_a_heavy_analysis_no_gpu_can_hold_is_skipped_and_the_rest_runs():
    decision = decide_partial(audio_job(), NEEDS, fleet(gpu(1, 24)), book(offer(vram=24)),
                              Policy())
    assert decision.placed and placed_on(decision) == "local:1"
    assert Code.PARTIAL in decision.reasons
    assert [skip.analysis for skip in decision.skipped] == ["transcript"]
    why = decision.skipped[0].why
    assert "transcript needs 40 GB VRAM" in why and "no cloud offer within the policy" in why
    assert "Partial: runs without transcript" in decision.reason
    # The queue is the one the light analyses need, not the 48 GB class.
    assert decision.gpu_class == 8 and decision.queue == "gpu.local.8"
    record = Decision.from_dict(decision.to_dict())
    assert record == decision and record.to_dict()["skipped"][0]["analysis"] == "transcript"


def test_nothing_is_skipped_where_some_gpu_can_hold_it():
    # A 48 GB cloud offer exists: the job runs whole, in the cloud.
    decision = decide_partial(audio_job(), NEEDS, fleet(gpu(1, 24)),
                              book(offer(vram=48, model="A6000")), Policy())
    assert decision.placed and decision.scope == "cloud" and decision.skipped == ()
    assert Code.PARTIAL not in decision.reasons


def test_a_confidential_job_counts_local_gpus_only():
    secret = audio_job(confidentiality=Confidentiality.CONFIDENTIAL)
    decision = decide_partial(secret, NEEDS, fleet(gpu(1, 24)),
                              book(offer(vram=48, model="A6000")), Policy())
    assert placed_on(decision) == "local:1"
    assert "confidential: no cloud" in decision.skipped[0].why


def test_a_gpu_the_job_may_not_use_does_not_count():
    big_but_away = gpu(2, 48, status=GpuStatus.MAINTENANCE)
    big_but_reserved = gpu(3, 48, access_groups=frozenset({"research"}))
    decision = decide_partial(audio_job(), NEEDS, fleet(gpu(1, 24), big_but_away,
                                                        big_but_reserved), EMPTY, Policy())
    assert placed_on(decision) == "local:1" and decision.skipped[0].analysis == "transcript"


def test_a_job_left_with_nothing_to_run_is_refused_whole():
    only_heavy = JobSpec(media_type=MediaType.AUDIO, size_bytes=10**6,
                         analyses=("transcript",), duration_s=60.0, model_vram_gb=40.0)
    decision = decide_partial(only_heavy, NEEDS, fleet(gpu(1, 24)), EMPTY, Policy())
    assert not decision.placed and decision.skipped == ()


def test_a_job_refused_for_other_reasons_is_not_made_partial():
    # No GPU at all: even the light analyses cannot run, so nothing is skipped.
    decision = decide_partial(audio_job(), NEEDS, fleet(), EMPTY, Policy())
    assert not decision.placed and decision.code == Code.NO_FIT and decision.skipped == ()
