"""A person with German text on screen through the whole system: a video of the
astronaut sliding over a brick wall under the caption "Grüße aus München", submitted
over REST with the people, faces and text analyses, cut in two time segments analysed
apart, and its report read back: one person tracked across the cut, one face cluster
inside her track, the caption read exactly, and the page's keyframes with boxes."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests.analyzers import vision_scene
from tests.e2e.test_media_analysis import succeeded

pytestmark = pytest.mark.e2e

GPU = "E2E Vision (simulated):24"
SECONDS, FPS = 4.0, 10
SEGMENT_S = 2.0  # two segments: tracks, face clusters and lines joined across the cut


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> vision_scene.Scene:
    return vision_scene.captioned_figure_video(
        tmp_path_factory.mktemp("vision") / "gruesse.mp4", seconds=SECONDS, fps=FPS)


def test_a_person_under_german_text_yields_a_track_a_face_and_the_text(
        start_stack, scene, tmp_path: Path):
    stack = start_stack(GPU, username="analyst", AIMA_SEGMENT_S=str(SEGMENT_S),
                        AIMA_AGENT_WORKDIR=str(tmp_path / "agent"))
    job_id = stack.api.submit(scene.path, analyses=["people", "faces", "text"])["id"]
    report = succeeded(stack, job_id, timeout_s=240)
    assert report["job"]["segments"] == [[0.0, 2.0], [2.0, 4.0]]

    # She is there from the first frame to the last, one track across the cut.
    [track] = report["timeline"]["tracks"]
    assert track["start_s"] < 0.6 and track["end_s"] > SECONDS - 1.0, track
    # One face, hers: one cluster, seen in both segments.
    [cluster] = report["faces"]["clusters"]
    assert cluster["first_s"] < SEGMENT_S < cluster["last_s"], cluster
    assert all("centroid" not in c for c in report["faces"]["clusters"])
    # The caption, umlauts and ß exact.
    texts = [re.sub(r"\s+", " ", line["text"]).strip() for line in report["screen_text"]]
    assert scene.caption in texts, texts

    [person] = report["people"]
    assert person["faces"][0]["cluster"] == cluster["label"], person
    assert scene.caption in person["text"], person

    kinds = {box["kind"] for keyframe in report["keyframes"] for box in keyframe["boxes"]}
    assert {"person", "face", "text"} <= kinds, report["keyframes"]
    html = page(stack, job_id)
    assert html.count('src="data:image/jpeg;base64,') == len(report["keyframes"])
    assert scene.caption in html


def page(stack, job_id: str) -> str:
    request = urllib.request.Request(
        f"{stack.api.base_url.rstrip('/')}/api/v1/jobs/{job_id}/report/?format=html",
        headers={"Authorization": f"Token {stack.api.token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        return response.read().decode()
