"""Price snapshots: the CSV reader, ``manage.py aima_offers`` and the cached offer book."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aima_tasks.kernel.placement import Offer
from aima_tasks.kernel.placement_csv import load_offers_csv
from aima_web.audit.models import AuditEvent
from aima_web.placement import services
from aima_web.placement.models import CloudOffer, OfferPrice
from tests.placing import HEADER, PRICES, write_prices

SHARED_PRICES = Path(__file__).resolve().parents[2] / "shared" / "data" / "prices"


def offers_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("aima_offers", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- the CSV reader

def test_snapshot_rows_become_offers(tmp_path):
    when = datetime(2026, 11, 22, 12, tzinfo=UTC)
    offers = load_offers_csv(write_prices(tmp_path), priced_at=when)
    assert len(offers) == 4
    runpod = offers[2]
    assert runpod == Offer(provider="runpod", instance_type="1x_A100-80GB_SECURE",
                           gpu_model="A100-80GB", vram_gb=80.0, price_per_hour=1.64,
                           gpu_count=1, region="EU-NL", spot_price_per_hour=1.19, priced_at=when)
    assert offers[0].spot_price_per_hour is None


def test_priced_at_defaults_to_the_files_time(tmp_path):
    path = write_prices(tmp_path)
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    assert {o.priced_at.timestamp() for o in load_offers_csv(path)} == {stamp}


def test_optional_columns(tmp_path):
    path = write_prices(tmp_path, HEADER + ",reliability,boot_s,offer_id,priced_at,cuda_version\n"
                        "vastai,1x-RTX_4090,RTX4090,1,24,32,64,EU-ES,0.40,0.2,0.97,60,v-17,"
                        "2026-11-22T10:00:00+01:00,12.8\n"
                        "vastai,1x-RTX_4090,RTX4090,1,24,32,64,,0.40,,,,,,\n")
    first, second = load_offers_csv(path, priced_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert (first.reliability, first.boot_s, first.offer_id, first.cuda_version) == (
        0.97, 60.0, "v-17", "12.8")
    assert first.priced_at == datetime(2026, 11, 22, 9, tzinfo=UTC)
    assert first.key == "v-17"
    assert (second.reliability, second.region, second.cuda_version) == (1.0, "", "12.4")
    assert second.priced_at == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("row, message", [
    ("vastai,x,RTX4090,1,24,32,64,EU,cheap,", "line 2: column 'price_per_hour': 'cheap' is not"),
    ("vastai,x,RTX4090,0,24,32,64,EU,0.4,", "line 2: column 'gpu_count': '0' must be at least"),
    ("vastai,x,RTX4090,1,24,32,64,EU,-1,", "line 2: column 'price_per_hour': '-1' is negative"),
    (",x,RTX4090,1,24,32,64,EU,0.4,", "line 2: column 'provider': empty"),
    ("vastai,x,RTX4090,1,24,32,64,EU,0.4,,extra", "line 2: more cells than the header"),
])
def test_bad_rows_name_file_line_and_column(tmp_path, row, message):
    path = write_prices(tmp_path, f"{HEADER}\n{row}\n")
    with pytest.raises(ValueError, match="prices.csv: " + message.replace("(", r"\(")):
        load_offers_csv(path)


def test_missing_column(tmp_path):
    path = write_prices(tmp_path, "provider,instance_type\nvastai,x\n")
    with pytest.raises(ValueError, match="line 1: missing column gpu_name"):
        load_offers_csv(path)


@pytest.mark.skipif(not SHARED_PRICES.is_dir(), reason="shared/data/prices is not beside the clone")
def test_the_shared_snapshot_loads():
    for path in sorted(SHARED_PRICES.glob("*.csv")):
        offers = load_offers_csv(path)
        assert offers and all(o.price_per_hour > 0 and o.vram_gb > 0 for o in offers)


# ---------------------------------------------------------------- manage.py aima_offers

@pytest.mark.django_db
def test_load_and_list(tmp_path):
    out, err = offers_command("load", str(write_prices(tmp_path)))
    assert "stored 4 offers from 1 file(s)" in out and err == ""
    assert CloudOffer.objects.count() == 4
    assert AuditEvent.objects.filter(action="offers.loaded").count() == 1
    listing, _ = offers_command("list", "--min-vram", "48")
    assert "A100-80GB" in listing and "A6000" in listing and "RTX4090" not in listing
    assert listing.rstrip().endswith("3 offer(s)")


@pytest.mark.django_db
@pytest.mark.skipif(not SHARED_PRICES.is_dir(), reason="shared/data/prices is not beside the clone")
def test_load_the_shared_snapshot(tmp_path):
    copies = [shutil.copy(path, tmp_path) for path in sorted(SHARED_PRICES.glob("*.csv"))]
    offers_command("load", *map(str, copies))
    expected = sum(len(load_offers_csv(path)) for path in copies)
    assert CloudOffer.objects.count() == expected > 0


@pytest.mark.django_db
def test_a_bad_file_loads_nothing(tmp_path):
    good = write_prices(tmp_path)
    bad = write_prices(tmp_path, f"{HEADER}\nvastai,x,RTX4090,1,24,32,64,EU,0.4,\n"
                                 "vastai,y,RTX4090,1,twenty,32,64,EU,0.4,\n", name="bad.csv")
    with pytest.raises(CommandError) as caught:
        offers_command("load", str(good), str(bad))
    message = str(caught.value)
    assert message.startswith("nothing loaded: ")
    assert "bad.csv: line 3: column 'vram_gb_per_gpu': 'twenty' is not a number" in message
    assert "\n" not in message
    assert not CloudOffer.objects.exists()


@pytest.mark.django_db
def test_a_missing_file_loads_nothing(tmp_path):
    with pytest.raises(CommandError, match=r"nothing loaded: .*No such file"):
        offers_command("load", str(write_prices(tmp_path)), str(tmp_path / "gone.csv"))
    assert not CloudOffer.objects.exists()


@pytest.mark.django_db
def test_reload_replaces_by_key_and_replace_drops_the_rest(tmp_path):
    offers_command("load", str(write_prices(tmp_path)))
    cheaper = write_prices(tmp_path, f"{HEADER}\nvastai,1x-RTX_4090,RTX4090,1,24,32,64,EU-ES,"
                                     "0.35,\n", name="update.csv")
    out, _ = offers_command("load", str(cheaper))
    assert "replaced 1" in out
    assert CloudOffer.objects.count() == 4
    assert CloudOffer.objects.get(instance_type="1x-RTX_4090").price_per_hour == 0.35
    out, _ = offers_command("load", "--replace", str(cheaper))
    assert "removed 4" in out
    assert CloudOffer.objects.count() == 1


@pytest.mark.django_db
def test_priced_at_option_and_stale_warning(tmp_path):
    path = write_prices(tmp_path)
    _, err = offers_command("load", "--priced-at", "2020-01-01T00:00:00", str(path))
    assert "warning: 4 of them were priced more than 6 h ago" in err
    assert {o.priced_at for o in CloudOffer.objects.all()} == {datetime(2020, 1, 1, tzinfo=UTC)}
    _, err = offers_command("load", "--priced-at", "now", str(path))
    assert err == ""
    assert all(timezone.now() - o.priced_at < timedelta(minutes=1)
               for o in CloudOffer.objects.all())
    with pytest.raises(CommandError, match="--priced-at 'yesterday'"):
        offers_command("load", "--priced-at", "yesterday", str(path))


@pytest.mark.django_db
def test_loaded_prices_go_into_the_history_once_per_pricing(tmp_path):
    path = str(write_prices(tmp_path))
    offers_command("load", "--priced-at", "2026-11-22T12:00:00Z", path)
    offers_command("load", "--priced-at", "2026-11-22T12:00:00Z", path)
    assert OfferPrice.objects.count() == 4
    offers_command("load", "--priced-at", "2026-11-22T13:00:00Z", path)
    assert OfferPrice.objects.count() == 8
    runpod = OfferPrice.objects.filter(provider="runpod").first()
    assert (runpod.gpu_model, runpod.region, runpod.price_per_hour,
            runpod.spot_price_per_hour) == ("A100-80GB", "EU-NL", 1.64, 1.19)
    assert runpod.priced_at == datetime(2026, 11, 22, 13, tzinfo=UTC)


# ---------------------------------------------------------------- the offer book

@pytest.mark.django_db
def test_offer_book_is_built_once_per_price_change(tmp_path):
    offers_command("load", str(write_prices(tmp_path)))
    book = services.offer_book()
    assert len(book) == 4
    assert services.offer_book() is book
    offers_command("load", str(write_prices(tmp_path, PRICES.replace("0.40", "0.39"))))
    rebuilt = services.offer_book()
    assert rebuilt is not book
    assert min(o.price_per_hour for o in rebuilt.offers) == 0.39
