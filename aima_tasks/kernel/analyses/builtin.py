"""The analyses AIMA ships, declared for the ``aima.analyzers`` entry-point group
(pyproject.toml). Declarations only: each runner is a "module:function" string the
agent imports when it first runs one, so the control plane never loads OpenCV, ONNX
Runtime or CTranslate2; the merges, report sections and facts are pure kernel functions.

Every built-in model ships inside a package installed from requirements/ and is
pinned here by checksum: an upgraded or damaged package is refused, not loaded. The
speech analyses (transcript, speakers, sounds) are declared in modules of their own:
transcription.py, diarization.py and sound_events.py.
"""

from __future__ import annotations

from aima_tasks.kernel.analyses import facts, merges, sections
from aima_tasks.kernel.analyses.poses import PEOPLE_MODELS
from aima_tasks.kernel.analyses.sections import Section, Slot
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile, Precision

AV = frozenset({MediaType.AUDIO, MediaType.VIDEO})

SILERO_VAD = ModelFile(
    name="silero-vad", version="6.2.3",
    sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
    distribution="silero-vad", path="silero_vad/data/silero_vad.onnx")
SHOTS = AnalysisSpec(
    "shots", frozenset({MediaType.VIDEO}),
    "Shot boundaries (hard cuts) and one keyframe per shot.",
    reference_s_per_unit=0.02, runner="agents.analyzers.video:shots",
    sections=(Section(Slot.SHOTS, ("shots",), sections.shots),))
PHASH = AnalysisSpec(
    "phash", frozenset({MediaType.IMAGE}),
    "Perceptual hashes (DCT pHash and dHash) for near-duplicate search.",
    reference_s_per_unit=0.05, runner="agents.analyzers.image:phash",
    facts=facts.hashes)
COLOURS = AnalysisSpec(
    "colours", frozenset({MediaType.IMAGE}),
    "Dominant colours with their share of the picture.",
    reference_s_per_unit=0.2, runner="agents.analyzers.image:colours",
    facts=facts.colours)
LOUDNESS = AnalysisSpec(
    "loudness", AV,
    "Integrated loudness (ITU-R BS.1770, LUFS), sample peak and a per-second loudness "
    "curve.",
    reference_s_per_unit=0.004, needs_audio_track=True, runner="agents.analyzers.audio:loudness",
    facts=facts.loudness)
SILENCE = AnalysisSpec(
    "silence", AV,
    "Silent segments (below -40 dBFS for at least 0.3 s) and the speech/sound share.",
    reference_s_per_unit=0.003, needs_audio_track=True, runner="agents.analyzers.audio:silence",
    # The speech map from quiet only where no voice activity was found.
    sections=(Section(Slot.SPEECH, ("segments",), sections.silence, rank=1),))
PEOPLE = AnalysisSpec(
    "people", frozenset({MediaType.VIDEO}),
    "People found on frames sampled 5 times a second, in any pose, from behind, in "
    "profile or partly hidden (MediaPipe pose landmarks, full-range faces, NanoDet COCO "
    "people and HOG bodies fused, or a registry ONNX detector), followed across frames as "
    "tracks that survive a few seconds out of sight; per track its time span, boxes and "
    "a pose summary.",
    # On by request: MediaPipe runs on the CPU (FP32 TFLite, no GPU use), measured
    # 1.0-1.3 s per media second on 2 shared cores (5 samples a second, the frame swept
    # and tiled); a registry ONNX detector runs on the GPU instead.
    reference_s_per_unit=1.0, runner="agents.analyzers.people:track_video", default_on=False,
    models=PEOPLE_MODELS, model_task="person-detection",
    precisions=(Precision.FP32, Precision.FP16, Precision.INT8),
    merge=merges.stitch_tracks, sections=(Section(Slot.TRACKS, ("tracks",), sections.tracks),))
OBJECTS = AnalysisSpec(
    "objects", frozenset({MediaType.IMAGE}),
    "People found in a picture, in any pose (MediaPipe pose landmarks, full-range faces, "
    "NanoDet and HOG bodies fused), and the other of the 80 COCO classes NanoDet finds "
    "(or a registry ONNX detector's objects), with boxes and calibrated scores.",
    # Measured 0.09 s per picture on 2 CPU cores (MediaPipe and HOG run on the CPU).
    reference_s_per_unit=0.1, runner="agents.analyzers.people:detect_image",
    models=PEOPLE_MODELS, model_task="person-detection",
    precisions=(Precision.FP32, Precision.FP16, Precision.INT8),
    sections=(Section(Slot.DETECTIONS, ("detections",), sections.detections),))
VAD = AnalysisSpec(
    "vad", AV,
    "Voice activity (Silero VAD): when someone speaks, as time segments.",
    reference_s_per_unit=0.01, needs_audio_track=True,
    runner="agents.analyzers.speech:voice_activity", models=(SILERO_VAD,),
    merge=merges.join_speech, sections=(Section(Slot.SPEECH, ("segments",), sections.speech),))
