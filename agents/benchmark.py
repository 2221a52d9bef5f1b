"""What this host does per unit of media: every analyzer it runs, timed on
sample media made on the spot, in seconds per work unit (a media second, or
one image). Sent with the registration as each GPU's performance profile, the
figure the placement engine plans with in place of its estimate from the GPU
model.

Today's analyzers decode and compute on the CPU, so one profile serves every
GPU of the host; an analyzer that runs on the GPU will be timed per GPU.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

from agents import analyzers, samples
from agents.analyzers.context import AnalysisContext
from agents.model_cache import packaged_models
from aima_tasks.kernel.analyses import MediaType, catalogue
from aima_tasks.kernel.placement.inputs import work_units

log = logging.getLogger(__name__)

# Long enough to swamp start-up costs, short enough to keep registration quick.
VIDEO_SCENES = (((200, 40, 40), 4.0), ((40, 170, 70), 4.0))
VIDEO_SIZE = (640, 360)
REPEAT = 3
SLOW_S = 1.0
# Prefer the media type an analysis is most often run on.
PREFERRED = (MediaType.VIDEO, MediaType.AUDIO, MediaType.IMAGE)


def analyzer_profile(workdir: Path, repeat: int = REPEAT) -> dict[str, float]:
    """Median seconds per work unit of each analyzer, over ``repeat`` runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aima-benchmark-", dir=workdir) as tmp:
        folder = Path(tmp)
        video = samples.write_video(folder / "bench.mp4", scenes=VIDEO_SCENES, fps=25,
                                    size=VIDEO_SIZE)
        audio = samples.write_audio(folder / "bench.wav", tone_s=4.0, silence_s=1.0,
                                    tail_s=3.0)
        media = {MediaType.VIDEO: (video.path, video.duration_s),
                 MediaType.AUDIO: (audio.path, audio.duration_s),
                 MediaType.IMAGE: (samples.write_image(folder / "bench.jpg",
                                                       size=(1280, 720)).path, None)}
        profile = {}
        for name, spec in sorted(catalogue().specs.items()):
            media_type = next(t for t in PREFERRED if t in spec.media_types)
            path, duration_s = media[media_type]
            ctx = AnalysisContext(builtin=packaged_models(spec.models))
            seconds = []
            for _ in range(repeat):
                started = time.perf_counter()
                analyzers.run(name, path, ctx)
                seconds.append(time.perf_counter() - started)
                if seconds[-1] > SLOW_S:
                    break  # one long run is steady enough; more would delay registration
            profile[name] = round(statistics.median(seconds) / work_units(media_type,
                                                                          duration_s), 6)
    log.info("benchmark (seconds per work unit): %s", profile)
    return profile
