from decimal import Decimal

from aima_web.core.templatetags.money import money


def test_amounts_read_in_cents_and_small_ones_to_four_decimals():
    assert money(None) == "-"
    assert money(0) == "0.00"
    assert money(Decimal("1234.5")) == "1,234.50"
    assert money(0.005) == "0.01"
    assert money(0.00031) == "0.0003"
    assert money(-0.0002) == "-0.0002"
