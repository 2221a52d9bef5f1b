"""A media store that is full or failing (ENOSPC, EDQUOT, EROFS, EIO) is a fault the
client can retry (503 with Retry-After), like a database outage; any other OSError is
a bug and stays one."""

from __future__ import annotations

import errno
import os

import pytest
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from aima_web.core import faults


class WritesToDevFull(APIView):
    """A view of the test's own whose write meets a full disk the way every write
    does: /dev/full answers each write with ENOSPC."""

    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request):
        with open("/dev/full", "wb", buffering=0) as disk:
            disk.write(b"chunk")


def test_a_full_disk_is_a_503_that_says_what_is_wrong():
    answer = WritesToDevFull.as_view()(APIRequestFactory().post("/"))
    assert answer.status_code == 503
    assert answer["Retry-After"] == str(faults.RETRY_AFTER_S)
    assert answer.data == {"detail": "the media storage is full or failing; try again later"}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO])
def test_each_storage_errno_is_a_fault(code):
    assert faults.fault_for(OSError(code, os.strerror(code))) is not None


@pytest.mark.parametrize("exc", [FileNotFoundError(errno.ENOENT, "gone"),
                                 PermissionError(errno.EACCES, "denied"), OSError("no errno")])
def test_other_os_errors_are_no_fault(exc):
    assert faults.fault_for(exc) is None
