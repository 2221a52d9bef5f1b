"""Real faults for the control steps' tests: a database that will not take a write
(a lock another client holds, waited on for 0.1 s only) and a broker nothing
listens at. Nothing of AIMA's own code is replaced."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection

from aima_web.celery import app

# Nothing listens on the discard port: a connection is refused at once.
DEAD_BROKER_URL = "amqp://guest:guest@127.0.0.1:9//"


@contextmanager
def short_lock_waits() -> Iterator[None]:
    """This process's database connection gives up on a lock after 0.1 s, with the
    server's own error (PostgreSQL: lock_timeout; SQLite: its busy timeout), instead
    of waiting. A connection the code under test closes comes back the same."""
    saved = dict(connection.settings_dict["OPTIONS"])
    if connection.vendor == "postgresql":
        connection.settings_dict["OPTIONS"] = {**saved, "options": "-c lock_timeout=100"}
    else:
        connection.settings_dict["OPTIONS"] = {**saved, "timeout": 0.1}
    connection.close()
    try:
        yield
    finally:
        connection.settings_dict["OPTIONS"] = saved
        connection.close()


class Lock:
    """Another client's open transaction holding the job's row (PostgreSQL) or the
    whole database's write lock (SQLite)."""

    def __init__(self, job_id: str):
        db = connection.settings_dict
        if connection.vendor == "postgresql":
            self.client = psycopg.connect(dbname=db["NAME"], host=db["HOST"] or "127.0.0.1",
                                          port=db["PORT"] or 5432, user=db["USER"] or None,
                                          password=db["PASSWORD"] or None)
            self.client.execute("SELECT 1 FROM jobs_job WHERE id = %s FOR UPDATE", [job_id])
        else:
            self.client = sqlite3.connect(db["NAME"], isolation_level=None,
                                          check_same_thread=False)
            self.client.execute("BEGIN IMMEDIATE")
        self.released = threading.Event()
        self._guard = threading.Lock()

    def release(self) -> None:
        with self._guard:
            if self.released.is_set():
                return
            self.client.rollback()
            self.client.close()
            self.released.set()


@contextmanager
def job_locked(job_id: str, for_s: float | None = None) -> Iterator[Lock]:
    """Hold the lock until the block ends, or only ``for_s`` seconds."""
    lock = Lock(job_id)
    timer = threading.Timer(for_s, lock.release) if for_s is not None else None
    if timer:
        timer.start()
    try:
        yield lock
    finally:
        if timer:
            timer.cancel()
        lock.release()


def reset_publishing() -> None:
    """Drop the app's connection and producer pools: the next message connects anew."""
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Every message the control plane publishes in the block goes to a broker that
    refuses the connection (kombu's OperationalError, after its publish retries)."""
    keys = ("broker_url", "broker_transport", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(broker_url=DEAD_BROKER_URL, broker_transport=None,
                    broker_transport_options={})
    reset_publishing()
    try:
        yield
    finally:
        app.conf.update(saved)
        reset_publishing()
