"""kombu's filesystem transport with whole messages only: the embedded broker.

kombu writes a message file in place: a consumer polling the folder can move
and read it between its creation and its first byte, and dies reading empty
JSON (kombu issue 1551). Here a message is written under a name no consumer
looks at (``….msg.partial``) and renamed into place whole, which is atomic on
one file system.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: dict, **kwargs: object) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
