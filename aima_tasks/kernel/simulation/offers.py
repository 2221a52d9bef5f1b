"""Cloud offers for a replay: price snapshot files and how many instances of
each offer may run at once."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from aima_tasks.kernel.placement import Offer, OfferBook
from aima_tasks.kernel.placement_csv import load_offers_csv
from aima_tasks.kernel.simulation.inputs import InputError

# The optional snapshot column the simulator adds to the shared format.
CAPACITY_COLUMN = "capacity"


@dataclass(frozen=True)
class OfferFile:
    offers: tuple[Offer, ...]
    # Offer key -> most instances of it at once, where the file says.
    capacity: Mapping[str, int]


@dataclass(frozen=True, eq=False)
class Market:
    """The offer book a replay decides from, with each book offer's capacity."""

    book: OfferBook
    # By position in ``book.offers``; None: unlimited.
    capacity: tuple[int | None, ...]
    index: Mapping[str, int]


def load_offer_files(paths: Sequence[str | os.PathLike[str]]) -> OfferFile:
    """Every offer of every file; an offer key may appear only once overall."""
    offers: list[Offer] = []
    capacity: dict[str, int] = {}
    where: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"offers {path}: no such file; pass a price snapshot CSV")
        try:
            found = load_offers_csv(path)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        limits = _capacity_cells(path)
        for number, offer in enumerate(found):
            if offer.key in where:
                raise InputError(f"{path}: offer {offer.key!r} is already in {where[offer.key]};"
                                 f" give each row its own instance type, region or offer_id")
            where[offer.key] = str(path)
            if limits[number] is not None:
                capacity[offer.key] = limits[number]
            offers.append(offer)
    return OfferFile(offers=tuple(offers), capacity=capacity)


def _capacity_cells(path: Path) -> list[int | None]:
    # The shared loader gives one offer per data row in file order, so the
    # column is read alongside it row by row.
    cells: list[int | None] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or ()]
        reader.fieldnames = header
        for row in reader:
            raw = (row.get(CAPACITY_COLUMN) or "").strip()
            if not raw:
                cells.append(None)
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise InputError(f"{path}: line {reader.line_num}: column {CAPACITY_COLUMN!r}: "
                                 f"{raw!r} is not a whole number >= 1 (leave it empty for no "
                                 f"limit)")
            cells.append(int(raw))
    return cells


def market(offers: Iterable[Offer], priced_at: datetime,
           file_capacity: Mapping[str, int] | None = None,
           provider_capacity: Mapping[str, int] | None = None) -> Market:
    """The book for a replay. Every offer is priced at ``priced_at``: a snapshot
    stands for the prices throughout the replay, so none may turn stale in it."""
    book = OfferBook.build(replace(offer, priced_at=priced_at) for offer in offers)
    file_capacity = file_capacity or {}
    provider_capacity = provider_capacity or {}
    capacity = tuple(file_capacity.get(o.key, provider_capacity.get(o.provider))
                     for o in book.offers)
    return Market(book=book, capacity=capacity,
                  index={offer.key: i for i, offer in enumerate(book.offers)})
