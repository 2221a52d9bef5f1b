"""kombu's filesystem transport, made safe for several consumers: the embedded broker.

kombu's own transport loses or crashes on messages in five ways, all fixed here:

- It writes a message file in place: a consumer polling the folder can take it
  between its creation and its first byte and die reading empty JSON (kombu
  issue 1551). Here a message is written under a name no consumer looks at
  (``….msg.partial``) and renamed into place whole, atomic on one file system.
- A consumer takes a message by moving it to the system's temporary folder, a
  copy and a delete when that is another file system, where a second consumer
  can truncate the copy the first is reading; and what it took lives only in
  its memory until acknowledged, so a killed worker loses it. Here a consumer
  claims a message by renaming it into a folder of its own beside the queue
  (one rename: exactly one consumer wins, the others find it gone and move on)
  and deletes it only when the message is acknowledged or put back.
- A claim folder outlives a consumer that died: each is held by a POSIX lock
  only its living process can hold, and any consumer that can take the lock
  puts the dead one's messages back for the next consumer (at least once: a
  task may run again, as after a lost worker on RabbitMQ).
- It creates an exchange's binding table by opening it for writing before it
  locks it: a publisher reading it in between finds empty JSON. Here a new
  table is linked into place whole.
- It skips writing a binding its process already knows (its broker state is
  one per process): a second thread declaring the queue published before the
  first had written the binding, and a connection to a second folder never
  wrote it, so those messages were routed nowhere and dropped without a word.
  Here every declaration makes sure the binding is on disk before it returns.

A broadcast listener's binding (a topic or fanout exchange: Celery events, read
by Flower) lives only as long as its process: kombu keeps it after the listener
died, and every later event would pile up as a file for a queue nobody reads.
Here such a binding holds a lease naming its process's claim folder, and a
publisher drops the bindings whose holder died, with their messages.

A file that cannot be read whole (a foreign writer, a full disk) is put back
for a later poll while young and set aside in ``corrupt/`` with a log line once
old, never delivered half and never the end of the consumer.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic, monotonic_ns, time

from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

CLAIMS = "claimed"
LEASES = "leases"  # in the control folder: a broadcast binding's holder, one file a queue
CORRUPT = "corrupt"
LOCK = "owner.lock"
# How often a consumer looks for claims left by dead consumers.
RECOVER_EVERY_S = 2.0
# A message file still unreadable after this long will not become readable.
UNREADABLE_AFTER_S = 30.0


class Claims:
    """A process's claim folder: ``<folder>/claimed/<id>/``, held by a POSIX
    record lock on its ``owner.lock`` while the process lives. Record locks are
    per process and not inherited across fork, so a pool child cannot keep a
    dead worker's claims alive, and the kernel drops them when the process dies."""

    def __init__(self, root: Path):
        self.root = root
        self.pid = os.getpid()
        root.mkdir(parents=True, exist_ok=True)
        owner = uuid.uuid4().hex
        # Locked before it gets a name other consumers look at: a folder in
        # ``claimed/`` without a held lock is always a dead consumer's.
        pending = root / f".new-{owner}"
        pending.mkdir()
        self._lock = os.open(pending / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.folder = root / owner
        os.rename(pending, self.folder)

    def release(self) -> None:
        """Give up the claim folder: gone when empty, else left to recovery."""
        if os.getpid() != self.pid:
            return  # a forked child running its parent's exit handlers
        with contextlib.suppress(OSError):
            if not any(p.name != LOCK for p in self.folder.iterdir()):
                (self.folder / LOCK).unlink()
                self.folder.rmdir()
        with contextlib.suppress(OSError):
            os.close(self._lock)


_PROCESS_CLAIMS: dict[tuple[int, Path], Claims] = {}


def process_claims(root: Path) -> Claims:
    """This process's claim folder under ``root``, shared by its channels: a
    POSIX lock does not tell one channel of a process from another, so two
    folders of one process would each look dead to the other. A forked child
    makes its own (the parent's lock is not its to hold)."""
    key = (os.getpid(), root)
    if key not in _PROCESS_CLAIMS:
        _PROCESS_CLAIMS[key] = claims = Claims(root)
        atexit.register(claims.release)
    return _PROCESS_CLAIMS[key]


def holder_alive(root: Path, holder: str) -> bool:
    """Whether the process that holds claim folder ``root/holder`` lives."""
    own = _PROCESS_CLAIMS.get((os.getpid(), root))
    if own is not None and own.folder.name == holder:
        return True  # testing our own lock from a second descriptor would drop it
    try:
        fd = os.open(root / holder / LOCK, os.O_RDWR)
    except (FileNotFoundError, NotADirectoryError):
        return False  # released or recovered: its process is gone
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # a lock we took goes with it, left to recover_dead_claims
    return False


def recover_dead_claims(root: Path, inbox: Path, own: Path | None) -> int:
    """Put the messages of every claim folder whose process died back into
    ``inbox``; the number put back."""
    restored = 0
    try:
        folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return 0
    for folder in folders:
        if folder == own:
            continue  # testing our own lock from a second descriptor would drop it
        try:
            fd = os.open(folder / LOCK, os.O_RDWR)
        except FileNotFoundError:
            continue  # released or recovered meanwhile
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its consumer lives (or another one is recovering it)
            try:
                messages = [m for m in folder.iterdir() if m.name != LOCK]
            except FileNotFoundError:
                continue  # emptied and removed by another consumer before we locked
            for message in messages:
                with contextlib.suppress(FileNotFoundError):
                    os.rename(message, inbox / message.name)
                    restored += 1
            with contextlib.suppress(OSError):
                (folder / LOCK).unlink()
                folder.rmdir()
        finally:
            os.close(fd)
    if restored:
        log.warning("embedded broker: %d message(s) of a dead consumer put back", restored)
    return restored


class Channel(filesystem.Channel):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._claims: Claims | None = None
        self._claimed: dict[str, Path] = {}  # delivery tag → its claimed file
        self._no_ack_queues: set[str] = set()
        self._recovered_at = float("-inf")

    # -- writing ------------------------------------------------------------

    def _put(self, queue: str, payload: dict, **kwargs: object) -> None:
        # Consumers take files in name order: the time of the put, in nanoseconds
        # and zero-padded, so that names sort as the puts happened (to the
        # millisecond, two puts in one millisecond came out in random order).
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc

    def queue_bind(self, queue: str, exchange: str | None = None, routing_key: str = "",
                   arguments: dict | None = None, **kwargs: object) -> None:
        if self.typeof(exchange or "amq.direct").type != "direct":
            self._lease(queue)  # before the binding: a binding without one is a dead one's
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        # kombu returns early when the process-wide state already holds the
        # binding, whether or not this folder's table has it yet.
        exchange = exchange or "amq.direct"
        meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
        self._queue_bind(exchange, *meta)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        # kombu creates a missing exchange table by opening it for writing and
        # only then locking it: a publisher reading it in between finds no JSON.
        # Here it comes into being whole (an empty table, linked into place).
        table = self._exchange_file(exchange)
        if not table.exists():
            self.control_folder.mkdir(exist_ok=True)
            fresh = table.with_name(f".{table.name}.{uuid.uuid4().hex}")
            fresh.write_text("[]")
            with contextlib.suppress(FileExistsError):
                os.link(fresh, table)
            fresh.unlink()
        super()._queue_bind(exchange, routing_key, pattern, queue)

    # -- broadcast bindings: leased to their listener's process ----------------

    def _lease(self, queue: str) -> None:
        leases = self.control_folder / LEASES
        leases.mkdir(parents=True, exist_ok=True)
        lease = leases / queue
        if lease.parent != leases or not self._is_valid_exchange_name(queue):
            raise filesystem.ChannelError(f"Invalid queue name for a broadcast: {queue!r}")
        fresh = leases / f".{queue}.{uuid.uuid4().hex}"
        fresh.write_text(self._own_claims().folder.name)
        os.replace(fresh, lease)

    def _lease_alive(self, queue: str) -> bool:
        try:
            holder = (self.control_folder / LEASES / queue).read_text().strip()
        except OSError:
            return False
        return bool(holder) and holder_alive(self._inbox / CLAIMS, holder)

    def get_table(self, exchange: str) -> list:
        table = super().get_table(exchange)
        if self.typeof(exchange).type == "direct":
            return table
        live = [binding for binding in table if self._lease_alive(binding.queue)]
        for dead in (binding for binding in table if binding not in live):
            with contextlib.suppress(OSError, filesystem.ChannelError):
                # Unbinds it and deletes the messages it holds.
                self._delete(dead.queue, exchange, dead.routing_key, dead.pattern)
                (self.control_folder / LEASES / dead.queue).unlink(missing_ok=True)
                log.info("embedded broker: %s's listener is gone; unbound from %s",
                         dead.queue, exchange)
        return live

    # -- reading ------------------------------------------------------------

    @property
    def _inbox(self) -> Path:
        return Path(self.data_folder_in)

    def _own_claims(self) -> Claims:
        if self._claims is None or self._claims.pid != os.getpid():
            self._claims = process_claims(self._inbox / CLAIMS)
            self._claimed.clear()
        return self._claims

    def _get(self, queue: str) -> dict:
        claims = self._own_claims()
        if monotonic() - self._recovered_at >= RECOVER_EVERY_S:
            self._recovered_at = monotonic()
            recover_dead_claims(claims.root, self._inbox, claims.folder)
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self._inbox)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = claims.folder / name
            try:
                os.rename(self._inbox / name, claimed)
            except FileNotFoundError:
                if not claims.folder.is_dir():  # removed under us: never seen, but not fatal
                    _PROCESS_CLAIMS.pop((claims.pid, claims.root), None)
                    self._claims = None
                    raise Empty() from None
                continue  # another consumer took it first
            payload = self._read(claimed)
            if payload is None:
                continue
            tag = payload.get("properties", {}).get("delivery_tag")
            if queue in self._no_ack_queues or not tag:
                self._settle_file(claimed)  # nobody will acknowledge it
            else:
                self._claimed[tag] = claimed
            return payload
        raise Empty()

    def _read(self, claimed: Path) -> dict | None:
        """The claimed message, or None when it is not whole (put back while
        young, set aside once old)."""
        try:
            payload = loads(claimed.read_bytes())
            if isinstance(payload, dict):
                return payload
        except (OSError, ValueError):
            pass
        with contextlib.suppress(OSError):
            if time() - claimed.stat().st_mtime < UNREADABLE_AFTER_S:
                os.rename(claimed, self._inbox / claimed.name)
                return None
            corrupt = self._inbox / CORRUPT
            corrupt.mkdir(exist_ok=True)
            os.rename(claimed, corrupt / claimed.name)
            log.error("embedded broker: unreadable message %s set aside in %s",
                      claimed.name, corrupt)
        return None

    # -- settling: a claimed file goes once its message is acked or put back --

    def _settle(self, delivery_tag: str) -> None:
        claimed = self._claimed.pop(delivery_tag, None)
        if claimed is not None:
            self._settle_file(claimed)

    def _settle_file(self, claimed: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.store_processed:
                shutil.move(claimed, Path(self.processed_folder) / claimed.name)
            else:
                claimed.unlink()

    def basic_consume(self, queue: str, no_ack: bool, *args: object, **kwargs: object) -> None:
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: object):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._settle(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple=multiple)
        self._settle(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=requeue)  # a requeue writes a new file first
        self._settle(delivery_tag)

    def _restore(self, message: object) -> None:
        super()._restore(message)
        self._settle(message.delivery_tag)

    def close(self) -> None:
        super().close()  # puts back what it holds unacknowledged
        self._claims = None


class Transport(filesystem.Transport):
    Channel = Channel
