"""Word error rate, language accuracy and speed of the transcript analysis over the whole
speech corpus (tests/analyzers/speech_corpus.py: every sentence, voice and speed).

    .venv/bin/python bench/speech_corpus.py [--device cpu|cuda] [--precision int8|fp16|fp32]

Prints one line per recording (a language's sentences by one voice at one speed, a
second apart), then per language the WER over all its words, the sentences whose
words all came back in the right language, and the real-time factor (seconds of
transcription per second of audio; the first load of the model excluded).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the corpus and its media builders live in tests/

from agents.analyzers.context import AnalysisContext  # noqa: E402
from agents.analyzers.decode import decode_audio  # noqa: E402
from agents.analyzers.transcript import transcribe  # noqa: E402
from agents.model_cache import packaged_models  # noqa: E402
from aima_tasks.kernel.analyses.transcription import TRANSCRIPT  # noqa: E402
from tests.analyzers.speech_corpus import (  # noqa: E402
    VOICES,
    Score,
    recorded,
    recordings,
    scored,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("int8", "fp16", "fp32"), default=None,
                        help="default: int8 on cpu, fp16 on cuda")
    args = parser.parse_args()
    precision = args.precision or ("fp16" if args.device == "cuda" else "int8")
    ctx = AnalysisContext(builtin=packaged_models(TRANSCRIPT.models), device=args.device,
                          precision=precision)
    totals = {language: Score() for language in VOICES}
    audio_s = {language: 0.0 for language in VOICES}
    spent_s = {language: 0.0 for language in VOICES}
    with tempfile.TemporaryDirectory() as folder:
        warm = recorded(Path(folder), "en", VOICES["en"][0], 175)[0]
        transcribe(warm, ctx)  # loads the model once: not part of the speed measured
        for language, voice, speed in recordings():
            path, spans = recorded(Path(folder), language, voice, speed)
            seconds = decode_audio(path, rate=16_000).samples.shape[1] / 16_000
            began = time.perf_counter()
            result = transcribe(path, ctx)
            took = time.perf_counter() - began
            score = scored(result, spans, language)
            totals[language].add(score)
            audio_s[language] += seconds
            spent_s[language] += took
            print(f"{language} {voice:9} {speed} wpm  WER {score.wer:6.3f}  language "
                  f"{score.right_language:2}/{score.clips}  {seconds:5.1f} s audio in "
                  f"{took:5.1f} s", flush=True)
    print(f"\ntranscript on {args.device} ({precision}):")
    for language, total in totals.items():
        print(f"  {language}: WER {total.wer:.3f} over {total.words} words, language right "
              f"{total.right_language}/{total.clips} sentences, real-time factor "
              f"{spent_s[language] / audio_s[language]:.3f}")
    print(f"  all: real-time factor {sum(spent_s.values()) / sum(audio_s.values()):.3f}")


if __name__ == "__main__":
    main()
