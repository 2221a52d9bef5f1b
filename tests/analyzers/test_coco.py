"""The COCO detector AIMA ships (MobileNetV3 CenterNet converted from TFJS), loaded
through its pin, on the photographs of tests/analyzers/photos.py and their mirror
images: every person there is found, nothing is called a person on the pictures
without people, the cat is a cat.

The person boxes below were read off the photographs. On messi5.jpg the crowd behind
the footballer is not counted (photos.py); the detector does see people there (boxes
under a third of the picture's height), which count neither for nor against it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from agents.analyzers.coco import CocoDetector
from agents.analyzers.tracker import Detection
from agents.model_cache import ModelRefused, packaged_model, sha256_of
from aima_tasks.kernel.analyses.boxes import Box, iou
from aima_tasks.kernel.analyses.coco import COCO_DETECTOR, COCO_LABELS
from tests.analyzers import photos

PERSONS: dict[str, list[Box]] = {
    "astronaut": [(0, 0, 375, 512)],
    "basketball1": [(30, 75, 140, 400), (440, 20, 200, 450)],
    "basketball2": [(30, 70, 145, 405), (440, 20, 200, 450)],
    "messi5": [(75, 60, 380, 270)],
}
CROWD_SHARE = 1 / 3  # messi5: person boxes lower than this share of the picture: the crowd
MATCH_IOU = 0.5
ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
           "giraffe"}


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _mirrored(box: Box, width: int) -> Box:
    return (width - box[0] - box[2], box[1], box[2], box[3])


@pytest.fixture(scope="module")
def detector() -> CocoDetector:
    return CocoDetector(packaged_model(COCO_DETECTOR), batch_size=4)


@pytest.fixture(scope="module")
def found(detector: CocoDetector) -> dict[tuple[str, bool], tuple[np.ndarray, list[Detection]]]:
    """Detections per (photo name, mirrored), with the picture."""
    pictures = {}
    for photo in photos.PEOPLE + photos.NOBODY:
        image = _rgb(photo.path)
        pictures[photo.name, False] = image
        pictures[photo.name, True] = np.ascontiguousarray(image[:, ::-1])
    results = detector.detect(list(pictures.values()))
    return {key: (image, result) for (key, image), result in
            zip(pictures.items(), results, strict=True)}


def _person_counts(found: dict) -> tuple[int, int, int]:
    """(found, missed, false) persons over all the photographs and their mirror images."""
    hits = missed = false = 0
    for (name, mirrored), (image, detections) in found.items():
        height, width = image.shape[:2]
        truth = [_mirrored(b, width) if mirrored else b for b in PERSONS.get(name, [])]
        persons = [d for d in detections if d.label == "person"]
        if name == "messi5":
            persons = [d for d in persons if d.box[3] >= CROWD_SHARE * height
                       or any(iou(d.box, b) >= MATCH_IOU for b in truth)]
        matched = {i for i, b in enumerate(truth)
                   if any(iou(d.box, b) >= MATCH_IOU for d in persons)}
        hits += len(matched)
        missed += len(truth) - len(matched)
        false += sum(all(iou(d.box, b) < MATCH_IOU for b in truth) for d in persons)
    return hits, missed, false


def test_every_person_is_found_and_nobody_where_there_is_none(found):
    hits, missed, false = _person_counts(found)
    # 12 people (6 on the photographs, 6 on their mirror images): recall 1, precision 1.
    assert (hits, missed, false) == (12, 0, 0)


def test_nothing_person_like_on_the_pictures_without_people(found):
    for photo in photos.NOBODY:
        for mirrored in (False, True):
            labels = {d.label for d in found[photo.name, mirrored][1]}
            assert "person" not in labels, (photo.name, mirrored)


def test_the_cat_is_a_cat_and_the_squirrel_an_animal(found):
    for mirrored in (False, True):
        image, detections = found["chelsea", mirrored]
        cat = detections[0]
        assert cat.label == "cat" and cat.source == "coco" and 0.3 < cat.score <= 1
        # The cat's face fills the picture.
        assert cat.box[2] * cat.box[3] > 0.7 * image.shape[0] * image.shape[1]
        # COCO has no squirrel: found as an animal (its nearest class), never as a person.
        squirrel = found["squirrel", mirrored][1]
        assert squirrel and squirrel[0].label in ANIMALS


def test_boxes_lie_inside_their_pictures(found):
    for image, detections in found.values():
        height, width = image.shape[:2]
        for d in detections:
            x, y, w, h = d.box
            assert d.label in COCO_LABELS and x >= 0 and y >= 0 and w > 0 and h > 0
            assert x + w <= width + 1e-6 and y + h <= height + 1e-6


def test_a_grey_picture_and_a_batch_give_what_single_pictures_give(detector, found):
    image = _rgb(photos.BASKETBALL_1.path)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    alone = detector.detect([grey])[0]
    batched = found["basketball1", False][1]
    assert [d.label for d in alone] == [d.label for d in batched]
    assert np.allclose([d.box for d in alone], [d.box for d in batched], atol=0.5)


def test_the_pin_refuses_another_file(tmp_path):
    with pytest.raises(ModelRefused, match=r"model mb3-centernet-coco 3\.0\.4 refused"):
        packaged_model(replace(COCO_DETECTOR, sha256="0" * 64))
    altered = tmp_path / "coco_centernet.onnx"
    data = bytearray(packaged_model(COCO_DETECTOR).path.read_bytes())
    data[len(data) // 2] ^= 1
    altered.write_bytes(bytes(data))
    assert sha256_of(altered) != COCO_DETECTOR.sha256
    assert hashlib.sha256(bytes(data)).hexdigest() == sha256_of(altered)
