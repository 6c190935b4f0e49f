"""Shared helpers of the binding's tests (not a test module itself)."""

from __future__ import annotations

import math
import os
import sys
from decimal import Decimal
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # bindings/python

# Make "import margin" work when the tests are run straight from a checkout.
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)


def top_srcdir() -> str:
    """The source tree: $top_srcdir (set by make check) or two levels above the package."""
    env = os.environ.get("top_srcdir")
    if env:
        return env
    return os.path.dirname(os.path.dirname(PACKAGE_ROOT))


def ceil_at(x: Fraction, scale: int = 8) -> Decimal:
    """The exact rational *x* rounded up (toward +inf) to *scale* decimals."""
    return Decimal(math.ceil(x * 10**scale)).scaleb(-scale)


def floor_at(x: Fraction, scale: int = 8) -> Decimal:
    """The exact rational *x* rounded down (toward -inf) to *scale* decimals."""
    return Decimal(math.floor(x * 10**scale)).scaleb(-scale)


def F(s: str) -> Fraction:
    """Exact rational from a decimal string."""
    return Fraction(s)
