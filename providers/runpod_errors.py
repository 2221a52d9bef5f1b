"""What the RunPod SDK raises, as the provider errors of ``providers.errors``,
with the API key kept out of every message."""

from __future__ import annotations

import re
from collections.abc import Callable

import requests
from runpod import error as runpod_error

from providers import errors

# RunPod answers in words, not codes. Sources of the wordings: see
# tests/providers/fake_runpod.py.
_CAPACITY = re.compile(r"no (longer )?(any )?instances? available|does not have the resources"
                       r"|not enough (free )?gpus|out of stock", re.I)
_QUOTA = re.compile(r"balance|insufficient|funds|credit|spend(ing)? limit|quota", re.I)
_AUTH = re.compile(r"unauthori[sz]ed|forbidden|permission|api key|authenticat", re.I)
_TRANSIENT = re.compile(r"something went wrong|try again later|internal server error"
                        r"|timed? ?out|rate limit|too many requests|temporar|unavailable", re.I)
_NOT_FOUND = re.compile(r"not found|does not exist|no such pod", re.I)
_NO_SUCH_FIELD = re.compile(r'Cannot query field "(\w+)"')


def map_error(problem: Exception, action: str, api_key: str, url: str) -> errors.ProviderError:
    """The typed error for an SDK failure while doing ``action``."""
    def say(text: str) -> str:
        return _scrub(f"RunPod {action}: {text}", api_key)

    if isinstance(problem, errors.ProviderError):
        return problem
    if isinstance(problem, runpod_error.AuthenticationError):
        return errors.AuthError(say("the API key (AIMA_RUNPOD_API_KEY) was refused"))
    if isinstance(problem, runpod_error.QueryError):
        return _classify(problem.message or "", say)
    # Before ValueError: requests' JSONDecodeError is one, and it is what
    # a gateway's HTML error page or a rate limiter's plain text turns into.
    if isinstance(problem, requests.exceptions.JSONDecodeError):
        return errors.TransientError(say("the API answered something other than JSON "
                                  "(a gateway error or a rate limit)"))
    if isinstance(problem, requests.exceptions.RequestException):
        return errors.TransientError(say(f"could not reach {url} ({type(problem).__name__})"))
    if isinstance(problem, ValueError) and "No GPU found" in str(problem):
        return errors.CapacityError(say("RunPod no longer offers that GPU type"))
    if isinstance(problem, KeyError | TypeError | IndexError):
        # The SDK unwraps data[...] unchecked: an answer without data.
        return errors.TransientError(say(f"unexpected answer ({type(problem).__name__})"))
    return errors.ProviderError(say(f"{type(problem).__name__}: {problem}"))


def _classify(message: str, say: Callable[[str], str]) -> errors.ProviderError:
    text = say(message)
    if _CAPACITY.search(message):
        return errors.CapacityError(text)
    if _QUOTA.search(message):
        return errors.QuotaError(text)
    if _AUTH.search(message):
        return errors.AuthError(text)
    missing = _NO_SUCH_FIELD.search(message)
    if missing and missing.group(1) in ("podRentInterruptable", "podBidResume"):
        return errors.NotSupportedError(say("RunPod's API no longer offers spot pods"))
    if _TRANSIENT.search(message):
        return errors.TransientError(text)
    if _NOT_FOUND.search(message):
        return errors.NotFoundError(text)
    return errors.ProviderError(text)


def _scrub(text: str, api_key: str) -> str:
    # runpod < 1.6 put the key in the URL (?api_key=); requests' errors quote URLs.
    text = re.sub(r"(api_key=)[^&\s'\"]+", r"\1••••", text)
    return text.replace(api_key, "••••") if api_key else text
