"""How fast the built-in analysers run on this machine: frames per second for each
video analyser, real-time factor for each speech analyser.

Media are made on the spot (a person from a scikit-image photograph walking across
a 640x360 scene; English sentences from espeak-ng with pauses), each analyser runs
--repeat times on them, all in this one run, and the median is printed:

- video: media frames analysed per wall-clock second (higher is better), and the
  same as a multiple of real time (1.0x keeps up with 25 fps video);
- speech: real-time factor, processing seconds per media second (lower is
  better; 0.1 means an hour of audio takes six minutes).

    .venv/bin/python bench/analyzers.py [--seconds 8] [--repeat 3] [--device cpu|cuda]

With --device cuda on a GPU host with onnxruntime-gpu, the ONNX models (Silero
VAD) run on the GPU; OpenCV and PocketSphinx stay on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test media builders live in tests/

from agents import analyzers  # noqa: E402
from agents.analyzers.context import AnalysisContext  # noqa: E402
from agents.model_cache import packaged_models  # noqa: E402
from aima_tasks.kernel.analyses import catalogue  # noqa: E402
from tests.analyzers import speech_media, vision_media  # noqa: E402

FPS = 25
SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "please call me tomorrow morning at the office",
    "we will analyse the video and the sound on a rented graphics card",
]


def timed(name: str, path: Path, repeat: int, device: str) -> tuple[float, dict]:
    ctx = AnalysisContext(builtin=packaged_models(catalogue().specs[name].models), device=device)
    seconds, result = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        result = analyzers.run(name, path, ctx)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="video length (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per analyser (default 3)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if args.seconds <= 0 or args.repeat < 1:
        parser.error("--seconds must be positive and --repeat at least 1")
    import onnxruntime

    print(f"ONNX Runtime {onnxruntime.__version__}, providers "
          f"{', '.join(onnxruntime.get_available_providers())}; device {args.device}")
    with tempfile.TemporaryDirectory(prefix="aima-bench-") as tmp:
        folder = Path(tmp)
        video = vision_media.moving_figure_video(folder / "walk.mp4", seconds=args.seconds,
                                                 fps=FPS)
        speech = speech_media.speech_with_pauses(folder / "speech.wav", SENTENCES, pause_s=1.0)
        frames = round(args.seconds * FPS)
        print(f"\nvideo: {args.seconds:g} s, 640x360, {FPS} fps ({frames} frames); "
              f"median of {args.repeat}")
        print(f"{'analyser':<12} {'seconds':>8} {'frames/s':>9} {'x real time':>12}")
        for name in ("people", "shots"):
            seconds, _ = timed(name, video, args.repeat, args.device)
            print(f"{name:<12} {seconds:>8.2f} {frames / seconds:>9.1f} "
                  f"{args.seconds / seconds:>11.2f}x")
        _, vad = timed("vad", speech, 1, args.device)
        duration = vad["duration_s"]
        print(f"\nspeech: {duration:.1f} s of espeak-ng English, {len(SENTENCES)} sentences; "
              f"median of {args.repeat}")
        print(f"{'analyser':<12} {'seconds':>8} {'RTF':>9}")
        for name in ("vad", "transcript"):
            seconds, result = timed(name, speech, args.repeat, args.device)
            print(f"{name:<12} {seconds:>8.2f} {seconds / duration:>9.3f}")
        print(f"\nheard: {result['text']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
