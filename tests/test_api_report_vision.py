"""The job report's vision parts: a timeline per person (the face cluster seen in its
boxes, the text on screen meanwhile), the faces and the text found, and keyframe
thumbnails with the boxes drawn, decoded from the stored (sealed) media; no face
centroid anywhere in the JSON or the page."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from aima_web.jobs import report_frames, storage
from aima_web.jobs.models import Job
from tests.analyzers import vision_media, vision_scene
from tests.conftest import client_for
from tests.test_api_report import IMAGE_PROBE, add_result, make_job, report

pytestmark = pytest.mark.django_db

SECONDS, FPS = 4.0, 10
CENTROID = [0.088] * 128
# The astronaut's face in the cut (vision_media: astronaut.png's face centre less the
# cut's top-left corner), and its box's size.
FACE_IN_CUT = (224 - 95, 113 - 10)
FACE_SIZE = (90, 110)
TRACK_TIMES = (0.5, 1.0, 1.5, 2.0, 2.5)  # the person is tracked from 0.5 to 2.5 s
LATE = "Auf Wiedersehen"  # a second caption, on screen after the track ends


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> vision_scene.Scene:
    return vision_scene.captioned_figure_video(
        tmp_path_factory.mktemp("scene") / "scene.mp4", seconds=SECONDS, fps=FPS)


def stored(path: Path) -> str:
    """The file kept in the (sealed) media store, as an upload is; its SHA-256."""
    received = storage.receive(iter([path.read_bytes()]), 1 << 30)
    storage.keep(received)
    return received.sha256


def face_box(time_s: float, scene: vision_scene.Scene) -> list[int]:
    x, y, _, _ = scene.figure_box(time_s)
    return [x + FACE_IN_CUT[0] - FACE_SIZE[0] // 2, y + FACE_IN_CUT[1] - FACE_SIZE[1] // 2,
            *FACE_SIZE]


def vision_results(job: Job, scene: vision_scene.Scene) -> None:
    """What people, faces and text report on the scene (their documented shapes)."""
    add_result(job, "people", {
        "model": {"name": "mediapipe-blazepose", "version": "0.10.21"}, "track_count": 1,
        "tracks": [{"id": 1, "label": "person", "start_s": 0.5, "end_s": 2.5,
                    "samples": len(TRACK_TIMES),
                    "summary": {"standing": 1.0, "facing_camera": 1.0},
                    "boxes": [{"t": t, "box": list(scene.figure_box(t)), "score": 0.9}
                              for t in TRACK_TIMES]}]})
    faces = [{"t": t, "box": face_box(t, scene), "score": 0.95, "cluster": "F1",
              "name": None} for t in (0.5, 1.0, 1.5, 2.0, 2.5)]
    # Someone else's face, at the wall's far right and after the track: in no track.
    faces.append({"t": 3.5, "box": [560, 200, 60, 70], "score": 0.7, "cluster": "F2",
                  "name": "Bernd"})
    add_result(job, "faces", {
        "model": {"name": "dlib-face-recognition-resnet-v1", "version": "0.3.0"},
        "faces": faces,
        "clusters": [{"label": "F1", "name": None, "count": 5, "first_s": 0.5,
                      "last_s": 2.5, "centroid": CENTROID},
                     {"label": "F2", "name": "Bernd", "count": 1, "first_s": 3.5,
                      "last_s": 3.5, "centroid": CENTROID}],
        "duration_s": SECONDS}, offset_s=1)
    add_result(job, "text", {
        "model": {"name": "tesseract", "version": "4.1.0"}, "width": 640, "height": 360,
        "frames_analysed": 2,
        "lines": [{"text": scene.caption, "box": list(scene.caption_box), "confidence": 0.93,
                   "start_s": 0.0, "end_s": SECONDS},
                  {"text": LATE, "box": [40, 300, 200, 24], "confidence": 0.9,
                   "start_s": 3.0, "end_s": SECONDS}],
        "text": f"{scene.caption}\n{LATE}"}, offset_s=2)


@pytest.fixture
def vision_job(alice, scene) -> Job:
    sha = stored(scene.path)
    probe = {"media_type": "video", "sha256": sha, "size_bytes": scene.path.stat().st_size,
             "container": "mov,mp4", "duration_s": SECONDS,
             "video": {"codec": "h264", "width": 640, "height": 360, "fps": FPS,
                       "frame_count": round(SECONDS * FPS)}, "audio": None, "image": None}
    job = make_job(alice, probe, name="scene.mp4", analyses=["people", "faces", "text"])
    vision_results(job, scene)
    return job


def test_each_person_has_a_timeline_with_their_face_and_the_text_meanwhile(api, vision_job,
                                                                          scene):
    body = report(api, vision_job).json()
    [person] = body["people"]
    assert (person["id"], person["start_s"], person["end_s"]) == (1, 0.5, 2.5)
    # F1's faces lie in the track's boxes; Bernd's (F2) in none of them.
    assert person["faces"] == [{"cluster": "F1", "name": None, "count": 5}]
    assert person["text"] == [scene.caption]  # the late caption comes after the track
    assert person["summary"] == {"standing": 1.0, "facing_camera": 1.0}
    assert [(c["label"], c["name"], c["count"]) for c in body["faces"]["clusters"]] == [
        ("F1", None, 5), ("F2", "Bernd", 1)]
    assert [line["text"] for line in body["screen_text"]] == [scene.caption, LATE]
    assert body["screen_text"][0]["box"] == list(scene.caption_box)


def test_keyframes_name_the_boxes_found_then(api, vision_job, scene):
    keyframes = report(api, vision_job).json()["keyframes"]
    # The track's middle sample, the middle of each caption and each face cluster's
    # first sighting, a second apart at least: the first caption's (2.0 s) is too near
    # the track's, F2's (3.5 s) is the second caption's.
    assert [k["t"] for k in keyframes] == [0.5, 1.5, 3.5]
    first = {b["kind"]: b for b in keyframes[1]["boxes"]}
    assert first["person"] == {"kind": "person", "box": list(scene.figure_box(1.5)),
                               "label": "person #1"}
    assert first["face"]["box"] == face_box(1.5, scene) and first["face"]["label"] == "F1"
    assert first["text"]["label"] == scene.caption
    late = [(b["kind"], b["label"]) for b in keyframes[2]["boxes"]]
    assert late == [("face", "Bernd"), ("text", scene.caption), ("text", LATE)]


def test_no_face_centroid_reaches_the_report(api, vision_job):
    for params in ({}, {"format": "html"}):
        text = report(api, vision_job, **params).content.decode()
        assert "centroid" not in text and "0.088" not in text


def thumbnails(html: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB") for data in found]


def column_mean(picture: Image.Image, x: int, top: int, bottom: int) -> tuple[float, ...]:
    pixels = [picture.getpixel((x, y)) for y in range(top, bottom)]
    return tuple(sum(p[c] for p in pixels) / len(pixels) for c in range(3))


def drawn(picture: Image.Image, box: list[int] | tuple[int, ...], colour: tuple[int, ...],
          scale: float) -> bool:
    """Whether the box's left edge is outlined in ``colour``: its column is much nearer
    that colour than a column a few pixels inside the box, where the frame shows."""
    x, y, _, h = (round(v * scale) for v in box)
    top, bottom = y + 3, y + max(h - 3, 4)
    edge = column_mean(picture, x + 1, top, bottom)
    inside = column_mean(picture, x + 6, top, bottom)
    distance = [sum((a - b) ** 2 for a, b in zip(m, colour, strict=True)) ** 0.5
                for m in (edge, inside)]
    return distance[0] < 0.6 * distance[1]


def test_the_page_shows_people_text_and_thumbnails_with_boxes(api, vision_job, scene):
    response = report(api, vision_job, format="html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'id="people"' in html and 'id="screen-text"' in html
    assert html.count(scene.caption) >= 3  # the people table, the text table, a caption
    assert "Face: F1" in html and "Face: Bernd" in html and "Text on screen" in html
    _, first, late = thumbnails(html)
    scale = report_frames.WIDTH / 640
    assert first.size == (report_frames.WIDTH, round(360 * scale))
    colours = report_frames.COLOURS
    assert drawn(first, scene.figure_box(1.5), colours["person"], scale)
    assert drawn(first, face_box(1.5, scene), colours["face"], scale)
    assert drawn(first, scene.caption_box, colours["text"], scale)
    assert not drawn(late, scene.figure_box(1.5), colours["person"], scale)


def test_a_picture_has_one_thumbnail_with_its_boxes(api, alice):
    photo = vision_media.person_photo()
    probe = {**IMAGE_PROBE, "sha256": stored(photo), "size_bytes": photo.stat().st_size,
             "container": "png", "image": {**IMAGE_PROBE["image"], "width": 512,
                                           "height": 512, "format": "PNG"}}
    job = make_job(alice, probe, name="astronaut.png", analyses=["objects", "faces", "text"])
    person, face = [20, 15, 340, 497], [180, 60, 90, 110]
    add_result(job, "objects", {"detections": [{"label": "person", "score": 0.9, "box": person,
                                                "source": "coco"}], "person_count": 1},
               offset_s=2)
    add_result(job, "faces", {"faces": [{"box": face, "score": 0.9, "cluster": "F1"}],
                              "clusters": [{"label": "F1", "count": 1,
                                            "centroid": CENTROID}]})
    add_result(job, "text", {"lines": [{"text": "NASA", "box": [10, 10, 60, 20],
                                        "confidence": 0.5}]}, offset_s=1)
    body = report(api, job).json()
    assert body["keyframes"] == [{"t": None, "boxes": [
        {"kind": "face", "box": face, "label": "F1"},
        {"kind": "text", "box": [10, 10, 60, 20], "label": "NASA"},
        {"kind": "object", "box": person, "label": "person"}]}]
    [picture] = thumbnails(report(api, job, format="html").content.decode())
    scale = report_frames.WIDTH / 512
    assert drawn(picture, face, report_frames.COLOURS["face"], scale)
    assert drawn(picture, person, report_frames.COLOURS["object"], scale)


def test_media_no_longer_stored_leaves_the_page_without_thumbnails(api, alice, scene):
    job = make_job(alice, {**IMAGE_PROBE, "media_type": "video", "sha256": "77" * 32,
                           "duration_s": SECONDS}, name="gone.mp4")
    vision_results(job, scene)
    html = report(api, job, format="html").content.decode()
    assert "No thumbnails" in html and thumbnails(html) == []
    assert scene.caption in html


def test_someone_else_sees_neither_report_nor_thumbnails(vision_job, make_user):
    stranger = client_for(make_user("mallory"))
    assert report(stranger, vision_job, format="html").status_code == 404
    assert report(stranger, vision_job).status_code == 404

