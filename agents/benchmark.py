"""What this host does per unit of media: every analyzer it runs, timed on
sample media made on the spot, in seconds per work unit (a media second, or
one image). Sent with the registration as each GPU's performance profile, the
figure the placement engine plans with in place of its estimate from the GPU
model.

The sample video's sound track is a short English exchange in two espeak-ng
voices, so that the speech analyses (transcript, speakers, sounds, vad) are timed
on speech: Whisper on a tone decodes next to nothing and would look ten times
cheaper than it is. Where espeak-ng is not installed the track is a tone, and the
log says the speech figures are low.

Today's analyzers are timed on the CPU, so one profile serves every GPU of the
host; an analyzer that runs on the GPU will be timed per GPU.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from agents import adaptive, analyzers, samples
from agents.analyzers.context import AnalysisContext
from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.placement.inputs import work_units

log = logging.getLogger(__name__)

# Long enough to swamp start-up costs, short enough to keep registration quick:
# about 8 s of speech, as the video's sound track and as the audio sample.
DIALOGUE = (
    ("en-us", "Good morning, how was your trip to the office today?"),
    ("en-us+f3", "It was fine, the train was on time and quite empty."),
)
SCENE_COLOURS = ((200, 40, 40), (40, 170, 70))
VIDEO_S = 8.0  # without espeak-ng: two 4 s scenes over a tone
VIDEO_SIZE = (640, 360)
REPEAT = 3
SLOW_S = 1.0
# Each analyzer first runs once on this much media, untimed: it loads its models
# then (Whisper takes a second or two), a cost a job pays once, not per media second.
WARM_UP_S = 1.0
# Prefer the media type an analysis is most often run on.
PREFERRED = (MediaType.VIDEO, MediaType.AUDIO, MediaType.IMAGE)
CPU = adaptive.GpuFacts(vram_gb=0.0, device="cpu")  # the benchmark runs on the CPU today

Media = dict[MediaType, tuple[Path, float | None]]


def bench_media(folder: Path) -> tuple[Media, bool]:
    """The sample video, audio and picture, and whether their sound is speech."""
    speech = None
    if samples.espeak_ng() is not None:
        speech = samples.write_dialogue(folder / "bench-speech.wav", DIALOGUE, pause_s=0.5)
    else:
        log.warning("espeak-ng is not installed: the speech analyses are timed on a tone, "
                    "which makes them look cheaper than they are")
    length = speech.duration_s if speech else VIDEO_S
    scenes = tuple((colour, length / 2) for colour in SCENE_COLOURS)
    video = samples.write_video(folder / "bench.mp4", scenes=scenes, fps=25, size=VIDEO_SIZE,
                                sound=speech.path if speech else None)
    if speech is not None:
        audio: tuple[Path, float | None] = (speech.path, speech.duration_s)
    else:
        tone = samples.write_audio(folder / "bench.wav", tone_s=4.0, silence_s=1.0, tail_s=3.0)
        audio = (tone.path, tone.duration_s)
    picture = samples.write_image(folder / "bench.jpg", size=(1280, 720)).path
    return ({MediaType.VIDEO: (video.path, video.duration_s), MediaType.AUDIO: audio,
             MediaType.IMAGE: (picture, None)}, speech is not None)


def analyzer_profile(workdir: Path, repeat: int = REPEAT) -> dict[str, float]:
    """Median seconds per work unit of each analyzer, over ``repeat`` runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aima-benchmark-", dir=workdir) as tmp:
        media, _ = bench_media(Path(tmp))
        profile = {}
        for name, spec in sorted(catalogue().specs.items()):
            media_type = next(t for t in PREFERRED if t in spec.media_types)
            path, duration_s = media[media_type]
            # In the precision an agent's CPU run takes (Whisper: int8, not fp32).
            precision = adaptive.plan((), spec.precisions, CPU, spec.builtin_precisions).precision
            ctx = AnalysisContext(builtin=packaged_models(spec.models), precision=precision.value)
            seconds = timed(name, path, ctx, repeat, warm_up=media_type != MediaType.IMAGE)
            profile[name] = round(seconds / work_units(media_type, duration_s), 6)
    log.info("benchmark (seconds per work unit): %s", profile)
    return profile


def timed(name: str, path: Path, ctx: AnalysisContext, repeat: int, warm_up: bool) -> float:
    """Median seconds of up to ``repeat`` runs, after one untimed run on the media's
    first WARM_UP_S (a picture has no such part: its first run is timed)."""
    if warm_up:
        analyzers.run(name, path, replace(ctx, end_s=WARM_UP_S))
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        analyzers.run(name, path, ctx)
        seconds.append(time.perf_counter() - started)
        if seconds[-1] > SLOW_S:
            break  # one long run is steady enough; more would delay registration
    return statistics.median(seconds)
