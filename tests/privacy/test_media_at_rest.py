"""Media at rest: sealed on disk from the first byte, served and probed in clear."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator

import pytest

from aima_web.core.uploads import IncomingFile
from aima_web.jobs import services, storage
from aima_web.jobs.models import Job
from aima_web.jobs.tasks import probe_task
from aima_web.privacy.keyring import KeyringError
from aima_web.privacy.sealing import Unreadable
from tests.agent_api import as_agent, delivered, enroll, start_body
from tests.placing import run_to_queue
from tests.privacy.conftest import stored_files, submitted

pytestmark = pytest.mark.django_db

# Long enough not to turn up in ciphertext by chance, short enough to catch any copy.
WINDOW = 32


def windows(plain: bytes) -> list[bytes]:
    return [plain[i:i + WINDOW] for i in range(0, len(plain) - WINDOW, 4096)]


@pytest.mark.parametrize("fixture", ["video_file", "image_file", "audio_file"])
def test_no_stored_file_holds_the_plaintext_of_its_upload(api, request, media_root, fixture):
    sample = request.getfixturevalue(fixture)
    plain = sample.path.read_bytes()
    job = submitted(api, sample.path)
    probe_task(str(job.id))  # the probe reads it too
    files = stored_files(media_root)
    assert files == [storage.content_path(job.media.sha256)]
    for path in files:
        data = path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not any(window in data for window in windows(plain))
    with storage.open_media(job.media.sha256) as media:
        assert hashlib.sha256(media.read()).hexdigest() == job.media.sha256
    job.media.refresh_from_db()
    assert job.media.metadata["sha256"] == job.media.sha256


def test_the_agent_download_is_the_plaintext_with_its_sha256(api, video_file):
    credential = enroll().json()["credential"]
    job = run_to_queue(str(submitted(api, video_file.path).id))
    [work, *_] = delivered(str(job.id), job.placement["queue"])
    agent = as_agent(credential)
    assert agent.post(f"/api/v1/agent-jobs/{job.id}/start/", start_body(work, "GPU-1234"),
                      format="json").status_code == 200
    response = agent.get(f"/api/v1/agent-jobs/{job.id}/media/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == video_file.path.read_bytes()
    assert hashlib.sha256(body).hexdigest() == response["X-Content-SHA256"] == job.media.sha256
    assert int(response["Content-Length"]) == len(body)
    stored = storage.content_path(job.media.sha256)
    stored.write_bytes(stored.read_bytes().replace(b"AIMASEAL1", b"AIMASEAL2", 1))
    refused = agent.get(f"/api/v1/agent-jobs/{job.id}/media/")
    assert refused.status_code == 503 and "does not open" in refused.json()["detail"]


def test_a_changed_ciphertext_byte_fails_reading_clearly(api, image_file):
    job = submitted(api, image_file.path)
    path = storage.content_path(job.media.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(Unreadable, match="fails authentication"), \
            storage.open_media(job.media.sha256) as media:
        media.read()
    probe_task.apply(args=(str(job.id),))  # through Celery, with the step's failure policy
    job.refresh_from_db()
    assert job.state == "failed" and "fails authentication" in job.error


def test_an_upload_still_arriving_is_sealed_on_disk(media_root, video_file):
    plain = video_file.path.read_bytes()
    upload = IncomingFile(media_root / "incoming", "clip.mp4", "video/mp4", None, None)
    for start in range(0, len(plain), 65536):
        upload.write(plain[start:start + 65536])
    upload.complete()
    data = upload.path.read_bytes()
    assert stat.S_IMODE(upload.path.stat().st_mode) == 0o600
    assert not any(window in data for window in windows(plain))
    assert b"".join(upload.chunks()) == plain
    upload.close()
    assert stored_files(media_root) == []


def test_a_keyring_fault_while_sniffing_leaves_no_upload_in_incoming(
        alice, media_root, keyring_file, image_file):
    """The upload is sealed, then the keyring turns unreadable before the sniff reads it
    back: the submission fails with that fault and the sealed file goes with it."""
    def upload() -> Iterator[bytes]:
        yield image_file.path.read_bytes()
        keyring_file.chmod(0o644)  # The operator's slip, between sealing and sniffing.

    with pytest.raises(KeyringError, match="readable by others"):
        services.submit(alice, upload(), services.Submission(
            confidentiality="internal", urgency="normal", analyses=(), media_name="x.png"))
    assert storage.incoming_media() == []
    assert not Job.objects.exists()
