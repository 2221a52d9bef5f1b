"""Whose jobs a user sees: their own and their teams' (users sharing a group
that is not a role group), or all of them with the capability to."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet

from aima_web.access.roles import ROLE_NAMES, Capability, holds
from aima_web.jobs.models import Job


def teams(user: Any) -> QuerySet[Group]:
    """The user's groups that are teams, not roles."""
    if user is None or not user.is_authenticated:
        return Group.objects.none()
    return user.groups.exclude(name__in=ROLE_NAMES)


def team_names(user: Any) -> frozenset[str]:
    return frozenset(teams(user).values_list("name", flat=True))


def visible_jobs(user: Any, jobs: QuerySet[Job]) -> QuerySet[Job]:
    if holds(user, Capability.VIEW_ALL_JOBS):
        return jobs
    if not holds(user, Capability.VIEW_JOBS):
        return jobs.none()
    teammates = get_user_model().objects.filter(groups__in=teams(user))
    return jobs.filter(Q(owner=user) | Q(owner__in=teammates))


def unknown_teams(names: list[str]) -> list[str]:
    """The names that are not teams: no such group, or a role's group."""
    known = set(Group.objects.filter(name__in=names).exclude(name__in=ROLE_NAMES)
                .values_list("name", flat=True))
    return [name for name in names if name not in known]
