"""The speakers analysis (who spoke when), declared for the control plane, and the
join of its segments' results: speakers relabelled consistently across segments by
their voice centroids, in pure Python.

Result, media times throughout:
    {"model": {"name", "version"},
     "speakers": [{"label": "S1", "name": None or "enrolled name", "speech_s": float,
                   "centroid": [256 floats]}],
     "turns": [{"speaker": "S1", "start_s", "end_s"}],
     "duration_s": float}

A centroid is a voice embedding: biometric data, kept for the join and never shown
in the report (``turns`` leaves it out).
"""

from __future__ import annotations

import math
import operator
from typing import Any

from aima_tasks.kernel.analyses.builtin import SILERO_VAD
from aima_tasks.kernel.analyses.sections import Section, Slot, by_time, dicts, num
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile

AV = frozenset({MediaType.AUDIO, MediaType.VIDEO})

# resemblyzer 0.1.4's speaker encoder (Apache-2.0), exported to ONNX by
# devtools/export_voice_encoder.py and shipped as AIMA's own file (agents/models/).
VOICE_ENCODER = ModelFile(
    name="resemblyzer-voice-encoder", version="0.1.4",
    sha256="9627eab1b123c8143f611d38347b86ef1dc1571605e1a58d6d008474f85ee9e7",
    distribution="aima", path="agents/models/voice_encoder.onnx")
# The registry task of enrolled voices: {"name": ..., "embedding": [256 floats]}.
ENROLMENT_TASK = "voice-enrolment"

# Two voices are one speaker while their average cosine distance stays below this.
# Tuned on espeak-ng voices (en-us/+f3, de/+f4, de/+f3, en-us+m3/+m7): 1.5 s windows of
# one voice lie 0.17-0.21 apart on average (at most 0.33), of two voices 0.35-0.45 on
# average (the closest pair, en-us+m3 and +m7, 0.35; single windows down to 0.26).
DISTANCE_THRESHOLD = 0.3
# A speaker is named after an enrolled voice only this close: a centroid and an
# enrolment average many windows, so one voice lies 0.08-0.09 from its own enrolment,
# while espeak's sibling variants (en-us and en-gb, +f3 and +f4, +m3) lie 0.12-0.16 and
# other voices 0.2 and more apart: a wrong name is worse than none.
NAME_THRESHOLD = 0.15
# A turn cut by a segment boundary: the same speaker on both sides, this close.
JOIN_GAP_S = 0.1


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def regroup(centroids: list[tuple[int, list[float]]], weights: list[float],
            threshold: float) -> list[int]:
    """Clusters found in the segments of one job, (segment index, centroid) each, grouped
    across segments by weighted average link on cosine distance: a group number per
    cluster. Two clusters of one segment never join: that segment told them apart."""
    units = [unit(centroid) for _, centroid in centroids]
    distance = [[math.inf if p == q else 1.0 - sum(map(operator.mul, a, b))
                 for (q, _), b in zip(centroids, units, strict=True)]
                for (p, _), a in zip(centroids, units, strict=True)]
    return average_link(distance, weights, threshold)


def average_link(distance: list[list[float]], weights: list[float],
                 threshold: float) -> list[int]:
    """Weighted average-link clustering (Lance-Williams) until no two clusters lie
    closer than ``threshold``; an infinite distance never merges. A cluster number per
    item. Each cluster remembers its nearest neighbour, so a merge costs a row, not the
    whole matrix (a long job has hundreds of segment speakers to join)."""
    d = [list(row) for row in distance]
    weight = list(weights)
    members = {i: [i] for i in range(len(weights))}

    def nearest(i: int) -> tuple[float, int]:
        return min(((d[i][k], k) for k in members if k != i), default=(math.inf, -1))

    near = {i: nearest(i) for i in members}
    while len(members) > 1:
        i = min(members, key=lambda c: near[c][0])
        gap, j = near[i]
        if gap >= threshold:
            break
        wi, wj = weight[i] or 1e-9, weight[j] or 1e-9
        for k in members:
            if k not in (i, j):
                d[i][k] = d[k][i] = (wi * d[i][k] + wj * d[j][k]) / (wi + wj)
        members[i] += members.pop(j)
        weight[i] += weight[j]
        near.pop(j)
        for k in members:
            if k == i or near[k][1] in (i, j):
                near[k] = nearest(k)
            elif d[k][i] < near[k][0]:
                near[k] = (d[k][i], i)
    found = [0] * len(weights)
    for number, group in enumerate(sorted(members.values())):
        for member in group:
            found[member] = number
    return found


def join_speakers(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One speakers result from those of consecutive segments, in order.

    Every part's speakers are clustered by their centroids (two speakers of one part
    stay apart: that part already told them apart); turns are relabelled, a turn cut by
    a segment boundary is made whole, and S1, S2 ... are given in order of first
    appearance."""
    found = [(index, speaker) for index, part in enumerate(parts)
             for speaker in dicts(part.get("speakers"))]
    groups = regroup([(index, speaker["centroid"]) for index, speaker in found],
                     [num(s.get("speech_s")) or 0.0 for _, s in found], DISTANCE_THRESHOLD)
    group_of = {(index, speaker["label"]): group
                for (index, speaker), group in zip(found, groups, strict=True)}
    turns: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        for turn in by_time(dicts(part.get("turns")), "start_s"):
            group = group_of[(index, turn["speaker"])]
            if turns and turns[-1]["speaker"] == group and \
                    turn["start_s"] - turns[-1]["end_s"] <= JOIN_GAP_S:
                turns[-1]["end_s"] = max(turns[-1]["end_s"], turn["end_s"])
            else:
                turns.append({"speaker": group, "start_s": turn["start_s"],
                              "end_s": turn["end_s"]})
    label = _labels_by_appearance([turn["speaker"] for turn in turns])
    speakers = [_combined([s for (_, s), g in zip(found, groups, strict=True) if g == group],
                          tag) for group, tag in label.items()]
    return {"model": parts[0].get("model") if parts else None,
            "speakers": speakers,
            "turns": [{**turn, "speaker": label[turn["speaker"]]} for turn in turns],
            "duration_s": round(sum(num(p.get("duration_s")) or 0.0 for p in parts), 3)}


def _labels_by_appearance(order: list[int]) -> dict[int, str]:
    label: dict[int, str] = {}
    for group in order:
        label.setdefault(group, f"S{len(label) + 1}")
    return label


def _combined(members: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """One speaker from its parts: speech added up, centroids averaged by speech."""
    speech = sum(num(m.get("speech_s")) or 0.0 for m in members)
    size = len(members[0]["centroid"])
    total = [sum((num(m.get("speech_s")) or 0.0) * m["centroid"][k] for m in members)
             for k in range(size)]
    norm = math.sqrt(sum(x * x for x in total)) or 1.0
    named = sorted((m for m in members if m.get("name")),
                   key=lambda m: -(num(m.get("speech_s")) or 0.0))
    return {"label": label, "name": named[0]["name"] if named else None,
            "speech_s": round(speech, 3), "centroid": [round(x / norm, 4) for x in total]}


def turns(result: dict[str, Any]) -> dict[str, Any]:
    """Who spoke when, for the report: the speakers without their voice centroids."""
    speakers = [{"label": s.get("label"), "name": s.get("name"), "speech_s": s.get("speech_s")}
                for s in dicts(result.get("speakers"))]
    spoken = [{"speaker": t.get("speaker"), "start_s": t.get("start_s"), "end_s": t.get("end_s")}
              for t in dicts(result.get("turns"))]
    return {"speakers": speakers, "turns": by_time(spoken, "start_s", "end_s")}


SPEAKERS = AnalysisSpec(
    "speakers", AV,
    "Who spoke when: speaker turns from voice embeddings, the number of speakers found "
    "automatically, enrolled voices named.",
    reference_s_per_unit=0.05, needs_audio_track=True, default_on=False,
    runner="agents.analyzers.speakers:diarize", models=(VOICE_ENCODER, SILERO_VAD),
    reference_task=ENROLMENT_TASK,
    merge=join_speakers,
    sections=(Section(Slot.SPEAKERS, ("turns", "speakers"), turns),))
