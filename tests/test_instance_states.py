"""The instance state table: a move it does not allow never happens."""

from __future__ import annotations

import pytest

from aima_web.instances.models import CloudInstance, InstanceState
from aima_web.instances.states import ENDED, SOURCES, transition

pytestmark = pytest.mark.django_db


def instance_in(state: InstanceState) -> CloudInstance:
    return CloudInstance.objects.create(provider="subprocess", offer_id="subprocess:test",
                                        gpu_class=24, state=state)


def test_nothing_leaves_an_ended_state() -> None:
    for ended in ENDED:
        assert not any(ended in sources for sources in SOURCES.values())


def test_a_disallowed_move_does_not_happen() -> None:
    ended = instance_in(InstanceState.TERMINATED)
    assert not transition(ended.pk, InstanceState.READY, error="late")
    ended.refresh_from_db()
    assert ended.state == InstanceState.TERMINATED and ended.error == ""


def test_an_allowed_move_happens_once() -> None:
    booting = instance_in(InstanceState.BOOTING)
    assert transition(booting.pk, InstanceState.READY)
    assert not transition(booting.pk, InstanceState.READY)  # the racing mover loses
    booting.refresh_from_db()
    assert booting.state == InstanceState.READY


def test_a_caller_may_narrow_the_table_but_not_widen_it() -> None:
    requested = instance_in(InstanceState.REQUESTED)
    # The table lets a requested instance terminate; this caller does not.
    assert not transition(requested.pk, InstanceState.TERMINATING, [InstanceState.BUSY])
    # Asking for a move from a state the table does not allow changes nothing.
    assert not transition(requested.pk, InstanceState.IDLE, [InstanceState.REQUESTED])
    requested.refresh_from_db()
    assert requested.state == InstanceState.REQUESTED
