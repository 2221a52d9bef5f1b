"""bootstrap.py's check of the Debian packages in requirements/debian.txt, which .ci/run
reads too: a package counts as installed when its file (a glob) exists."""

from __future__ import annotations

from pathlib import Path

import bootstrap


def test_a_package_is_missing_when_no_file_matches_its_glob(tmp_path: Path) -> None:
    (tmp_path / "tessdata").mkdir()
    (tmp_path / "tessdata" / "deu.traineddata").write_bytes(b"")
    listing = tmp_path / "debian.txt"
    listing.write_text(
        "# comment line\n"
        f"run  tesseract-ocr-deu  {tmp_path}/*/deu.traineddata\n"
        f"run  tesseract-ocr-eng  {tmp_path}/*/eng.traineddata\n"
        f"test opencv-doc         {tmp_path}/vtest.avi\n")
    assert bootstrap.missing_debian_packages("run", listing) == ["tesseract-ocr-eng"]
    assert bootstrap.missing_debian_packages("test", listing) == [
        "tesseract-ocr-eng", "opencv-doc"]


def test_this_machine_has_every_package_the_tests_need() -> None:
    # CI installs them (.ci/run) before the suite; a missing one would fail tests later
    # with a less clear message.
    assert bootstrap.missing_debian_packages("test") == []
