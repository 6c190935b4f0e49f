"""Exact conversion between Python numbers and libmargin's fixed-point ``int64_t``.

A value ``v`` at scale ``s`` means ``v * 10**-s``.  Inputs may be :class:`decimal.Decimal`,
:class:`int` or :class:`str` (parsed by the library's own ``margin_dec_parse()``); a
:class:`float` raises :class:`TypeError`.  Nothing is ever rounded: a value with more
decimals than the scale holds raises :class:`margin.RangeError` (a :class:`ValueError`),
one that does not fit in 64 bits raises :class:`margin.Overflow` (an
:class:`OverflowError`).  Outputs are :class:`~decimal.Decimal` values built exactly,
independent of the current decimal context.
"""

from __future__ import annotations

import ctypes
import numbers
import operator
from decimal import Decimal
from typing import Union

from . import _capi
from .errors import InvalidArgument, Overflow, ParseError, RangeError, check

__all__ = ["DecimalLike", "to_fixed", "from_fixed", "to_u64", "to_i32"]

#: What the binding accepts wherever a money amount, rate, price or quantity goes in.
DecimalLike = Union[Decimal, int, str]


def _reject(value: object, what: str) -> None:
    if isinstance(value, float):
        raise TypeError(
            f"{what}: float {value!r} is not accepted (binary floats are inexact); "
            "pass a Decimal, an int or a str"
        )
    raise TypeError(f"{what}: expected Decimal, int or str, got {type(value).__name__}")


def _fit(v: int, what: str, shown: object) -> int:
    if v < _capi.INT64_MIN or v > _capi.INT64_MAX:
        raise Overflow(_capi.MARGIN_EOVERFLOW, f"{what}: {shown} does not fit in 64 bits at this scale")
    return v


def to_fixed(value: DecimalLike, scale: int, what: str = "value") -> int:
    """Convert *value* to an integer count of ``10**-scale`` units, exactly.

    Args:
        value: A :class:`~decimal.Decimal`, an :class:`int` or a plain decimal :class:`str`
            such as ``"20000.5"`` (no exponent, no spaces).
        scale: Decimal places of the result, 0 to 18.
        what: Name of the argument, for error messages.

    Raises:
        TypeError: *value* is a float, a bool or another type.
        ParseError: a string or a Decimal that is not a finite plain number.
        RangeError: *value* has non-zero digits beyond *scale* decimal places.
        Overflow: the result does not fit in ``int64_t``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected Decimal, int or str, got bool")
    if isinstance(value, Decimal):
        return _from_decimal(value, scale, what)
    if isinstance(value, str):
        return _from_str(value, scale, what)
    if isinstance(value, numbers.Integral):
        v = operator.index(value)
        return _fit(v * 10**scale, what, v)
    _reject(value, what)
    raise AssertionError("unreachable")  # pragma: no cover


def _from_decimal(value: Decimal, scale: int, what: str) -> int:
    if not value.is_finite():
        raise ParseError(_capi.MARGIN_EPARSE, f"{what}: {value} is not a finite number")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits))) if digits else 0
    if coefficient == 0:
        return 0
    shift = exponent + scale
    if shift >= 0:
        # Bound the size before building the integer (Decimal("1e999999") is legal).
        if len(str(coefficient)) + shift > 20:
            raise Overflow(_capi.MARGIN_EOVERFLOW, f"{what}: {value} does not fit in 64 bits at this scale")
        v = coefficient * 10**shift
    else:
        if -shift > 60 + len(digits):
            raise RangeError(_capi.MARGIN_ERANGE, f"{what}: {value} has more than {scale} decimal places")
        q, r = divmod(coefficient, 10 ** (-shift))
        if r:
            raise RangeError(_capi.MARGIN_ERANGE, f"{what}: {value} has more than {scale} decimal places")
        v = q
    return _fit(-v if sign else v, what, value)


def _from_str(value: str, scale: int, what: str) -> int:
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ParseError(_capi.MARGIN_EPARSE, f"{what}: {value!r} is not a plain decimal number") from None
    if b"\0" in raw:
        raise ParseError(_capi.MARGIN_EPARSE, f"{what}: {value!r} is not a plain decimal number")
    out = ctypes.c_int64()
    rc = _capi.lib.margin_dec_parse(raw, scale, ctypes.byref(out))
    if rc < 0:
        detail = {
            _capi.MARGIN_EPARSE: "is not a plain decimal number",
            _capi.MARGIN_ERANGE: f"has more than {scale} decimal places",
            _capi.MARGIN_EOVERFLOW: "does not fit in 64 bits at this scale",
        }.get(rc, "cannot be converted")
        check(rc, f"{what}: {value!r} {detail}")
    return out.value


def from_fixed(v: int, scale: int) -> Decimal:
    """The exact :class:`~decimal.Decimal` of ``v * 10**-scale``, without trailing zeros
    after the point (``from_fixed(10000000000, 8) == Decimal("100")``)."""
    v = int(v)
    if v == 0:
        return Decimal(0)
    s = scale
    while s > 0 and v % 10 == 0:
        v //= 10
        s -= 1
    sign = 1 if v < 0 else 0
    return Decimal((sign, tuple(int(c) for c in str(abs(v))), -s))


def ratio_from_fixed(v: int) -> Decimal:
    """A margin ratio at the rate scale: ``Decimal('Infinity')`` for ``INT64_MAX`` (the
    C API's value when the margin balance is <= 0), else :func:`from_fixed`."""
    if v == _capi.INT64_MAX:
        return Decimal("Infinity")
    return from_fixed(v, _capi.MARGIN_RATE_SCALE)


def to_u64(value: object, what: str = "id") -> int:
    """Check that *value* is an int in ``0 .. 2**64-1`` (an id) and return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}: expected int, got {type(value).__name__}")
    v = operator.index(value)
    if v < 0 or v > _capi.UINT64_MAX:
        raise InvalidArgument(_capi.MARGIN_EINVAL, f"{what}: {v} is not a valid id")
    return v


def to_i32(value: object, what: str = "value") -> int:
    """Check that *value* is an int that fits in ``int32_t`` and return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}: expected int, got {type(value).__name__}")
    v = operator.index(value)
    if v < _capi.INT32_MIN or v > _capi.INT32_MAX:
        raise InvalidArgument(_capi.MARGIN_EINVAL, f"{what}: {v} is out of range")
    return v
