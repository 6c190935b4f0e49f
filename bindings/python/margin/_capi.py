"""Raw access to the libmargin C ABI through :mod:`ctypes`.

This module finds and loads the shared library, declares ``argtypes`` and ``restype`` for
every function of ``include/margin.h`` (the table :data:`PROTOTYPES`) but the ones listed,
with the reason, in :data:`NOT_BOUND` (``margin_engine_new_with_allocator``), and repeats
the header's ``#define`` constants under their C names.  The rest of the package is built on
it; ordinary code should use :class:`margin.Engine` instead.

The library is looked up, in order:

1. the path in the environment variable ``MARGIN_LIBRARY``;
2. a build tree: the first directory above this package that holds ``include/margin.h``
   (the libmargin source tree), then ``lib/.libs/libmargin.so.0`` (or ``libmargin.so``)
   in it or in its ``build/``, ``_build/`` or ``build-*/`` subdirectories;
3. the directories recorded when the package was built (``pkg-config --libs-only-L
   margin`` at ``pip install`` time, in ``margin/_build_config.py``);
4. the directories ``pkg-config --libs-only-L margin`` gives now;
5. ``/usr/local/lib``, where ``make install`` puts it by default (before ``ldconfig`` has
   run, the loader does not search it);
6. the system, through :func:`ctypes.util.find_library` (the ``ldconfig`` cache).

So an installed libmargin is found without ``ldconfig``.  When nothing loads, the
``ImportError`` lists every place looked at and the two fixes: run ``ldconfig`` (as root)
after ``make install``, or set ``MARGIN_LIBRARY``.

A function the loaded library does not export (an older or partial build) is replaced by a
stub that raises :class:`margin.errors.NotSupported`; :data:`MISSING` names them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "EVENT_FN",
    "ENGINE_P",
    "LIBRARY_PATH",
    "MISSING",
    "PROTOTYPES",
    "NOT_BOUND",
    "lib",
    "find_library",
]

# --------------------------------------------------------------------------- constants
# Kept equal to the #define values of include/margin.h (tests/test_header.py checks it).

MARGIN_OK = 0
MARGIN_EINVAL = -1
MARGIN_ENOMEM = -2
MARGIN_EOVERFLOW = -3
MARGIN_EPARSE = -4
MARGIN_ERANGE = -5
MARGIN_ENOTFOUND = -6
MARGIN_ECLOSED = -7
MARGIN_EFUNDS = -8
MARGIN_ELEVERAGE = -9
MARGIN_EGRID = -10
MARGIN_ESTATE = -11
MARGIN_EMARGIN = -12
MARGIN_EBUFFER = -13
MARGIN_EEXIST = -14
MARGIN_ENOTSUP = -15
MARGIN_EFULL = -16
MARGIN_EMAGIC = -17
MARGIN_EVERSION = -18
MARGIN_ECHECKSUM = -19
MARGIN_ETRUNCATED = -20
MARGIN_ECORRUPT = -21
MARGIN_EIO = -22
MARGIN_EASSET = -23

MARGIN_MONEY_SCALE = 8
MARGIN_RATE_SCALE = 8
MARGIN_MAX_SCALE = 18

MARGIN_ROUND_FLOOR = 0
MARGIN_ROUND_CEIL = 1
MARGIN_ROUND_TRUNC = 2
MARGIN_ROUND_AWAY = 3
MARGIN_ROUND_HALF_EVEN = 4
MARGIN_ROUND_EXACT = 5

MARGIN_ENG_TIME = 1
MARGIN_ENG_FULL_SCAN = 2
MARGIN_ENG_EVENT_QUEUE = 3
MARGIN_ENG_INSURANCE_FUND = 4
MARGIN_ENG_OPEN_POSITIONS = 5
MARGIN_ENG_EVENTS_PENDING = 6
MARGIN_ENG_LAST_SEQ = 7
MARGIN_ENG_LIQUIDATIONS = 8
MARGIN_ENG_REARM_BAND = 9
MARGIN_ENG_CROSS_LIQUIDATION = 10
MARGIN_CROSS_LIQ_ALL = 0
MARGIN_CROSS_LIQ_WORST_FIRST = 1
MARGIN_ENG_CROSS_EVALUATIONS = 11
MARGIN_ENG_EVENT_CAP = 12
MARGIN_ENG_RETAIN_CLOSED = 13
MARGIN_ENG_INSURANCE_DEPOSITS = 14

MARGIN_MKT_PRICE_SCALE = 1
MARGIN_MKT_QTY_SCALE = 2
MARGIN_MKT_TICK = 3
MARGIN_MKT_STEP = 4
MARGIN_MKT_MAX_LEVERAGE = 5
MARGIN_MKT_MAKER_FEE = 6
MARGIN_MKT_TAKER_FEE = 7
MARGIN_MKT_MM_BASIS = 8
MARGIN_MKT_CLOSE_FEE = 9
MARGIN_MKT_MARK = 10
MARGIN_MKT_TIER_COUNT = 11
MARGIN_MKT_OPEN_POSITIONS = 12
MARGIN_MKT_MAX_PRICE = 13
MARGIN_MKT_LIQ_FEE = 14
MARGIN_MKT_LIQ_FEE_BASIS = 15
MARGIN_MKT_LIQ_FILL = 16
MARGIN_MKT_STOP_FILL = 17
MARGIN_MKT_LIQ_POLICY = 18
MARGIN_MKT_SLICE_THRESHOLD = 19
MARGIN_MKT_SLICE_FRACTION = 20
MARGIN_MKT_SLICE_COOLDOWN = 21
MARGIN_MKT_SLICE_BACKSTOP = 22
MARGIN_MKT_INSURANCE_POOL = 23
MARGIN_MKT_INSURANCE = 24
MARGIN_MKT_ADL = 25
MARGIN_MKT_INSURANCE_FLOOR = 26
MARGIN_MKT_ADL_RANKING = 27
MARGIN_MKT_CONTRACT = 28
MARGIN_MKT_CONTRACT_SIZE = 29
MARGIN_MKT_SETTLE_ASSET = 30
MARGIN_MKT_MIN_PRICE = 31

MARGIN_CONTRACT_LINEAR = 0
MARGIN_CONTRACT_INVERSE = 1

MARGIN_ADL_OFF = 0
MARGIN_ADL_ON = 1
MARGIN_ADL_RANK_BINANCE = 0
MARGIN_ADL_RANK_BITMEX = 1

MARGIN_LIQ_FEE_BASIS_FILL = 0
MARGIN_LIQ_FEE_BASIS_MARK = 1

MARGIN_LIQ_FILL_MARK = 0
MARGIN_LIQ_FILL_LIQ_PRICE = 1
MARGIN_LIQ_FILL_BANKRUPTCY = 2

MARGIN_STOP_FILL_MARK = 0
MARGIN_STOP_FILL_TRIGGER = 1

MARGIN_LIQ_POLICY_FULL = 0
MARGIN_LIQ_POLICY_MIN_REDUCE = 1
MARGIN_LIQ_POLICY_TIER_DOWN = 2
MARGIN_LIQ_POLICY_SLICES = 3

MARGIN_MM_BASIS_MARK = 0
MARGIN_MM_BASIS_ENTRY = 1

MARGIN_DERIVE = -(2**63)  # INT64_MIN

MARGIN_ACCT_FREE_BALANCE = 1
MARGIN_ACCT_ISOLATED_MARGIN = 2
MARGIN_ACCT_EQUITY = 3
MARGIN_ACCT_DEPOSITS = 4
MARGIN_ACCT_WITHDRAWALS = 5
MARGIN_ACCT_REALIZED_PNL = 6
MARGIN_ACCT_FEES = 7
MARGIN_ACCT_FUNDING = 8
MARGIN_ACCT_OPEN_POSITIONS = 9
MARGIN_ACCT_CROSS_WALLET = 10
MARGIN_ACCT_CROSS_UNREALIZED_PNL = 11
MARGIN_ACCT_CROSS_MARGIN_BALANCE = 12
MARGIN_ACCT_CROSS_MAINT_MARGIN = 13
MARGIN_ACCT_CROSS_INITIAL_MARGIN = 14
MARGIN_ACCT_MARGIN_RATIO = 15
MARGIN_ACCT_AVAILABLE = 16
MARGIN_ACCT_CROSS_POSITIONS = 17

MARGIN_LONG = 1
MARGIN_SHORT = -1

MARGIN_FLAG_MAKER = 1
MARGIN_FLAG_CROSS = 2

MARGIN_MODE_ISOLATED = 0
MARGIN_MODE_CROSS = 1

MARGIN_STATUS_OPEN = 0
MARGIN_STATUS_CLOSED = 1
MARGIN_STATUS_LIQUIDATED = 2
MARGIN_STATUS_DELEVERAGED = 3
MARGIN_STATUS_ANY = -1

MARGIN_POS_ACCOUNT = 1
MARGIN_POS_MARKET = 2
MARGIN_POS_SIDE = 3
MARGIN_POS_QTY = 4
MARGIN_POS_ENTRY_PRICE = 5
MARGIN_POS_MARGIN = 6
MARGIN_POS_LEVERAGE = 7
MARGIN_POS_STATUS = 8
MARGIN_POS_REALIZED_PNL = 9
MARGIN_POS_FEES = 10
MARGIN_POS_FUNDING = 11
MARGIN_POS_STOP_LOSS = 12
MARGIN_POS_TAKE_PROFIT = 13
MARGIN_POS_LIQ_PRICE = 14
MARGIN_POS_MODE = 15
MARGIN_POS_ADL_SCORE = 16
MARGIN_POS_ADL_QUANTILE = 17

MARGIN_AT_NOTIONAL = 101
MARGIN_AT_UNREALIZED_PNL = 102
MARGIN_AT_MARGIN_BALANCE = 103
MARGIN_AT_MAINT_MARGIN = 104
MARGIN_AT_MAINT_RATE = 105
MARGIN_AT_MAINT_AMOUNT = 106
MARGIN_AT_MARGIN_RATIO = 107
MARGIN_AT_LIQ_PRICE = 108
MARGIN_AT_BANKRUPTCY_PRICE = 109
MARGIN_AT_INITIAL_MARGIN = 110
MARGIN_AT_ROE = 111
MARGIN_AT_REMOVABLE_MARGIN = 112
MARGIN_AT_MARGIN_CALL_PRICE = 113

MARGIN_PATH_UPDOWN = 0
MARGIN_PATH_ADVERSE = 1

MARGIN_EV_NONE = 0
MARGIN_EV_DEPOSIT = 1
MARGIN_EV_WITHDRAW = 2
MARGIN_EV_OPEN = 3
MARGIN_EV_INCREASE = 4
MARGIN_EV_REDUCE = 5
MARGIN_EV_CLOSE = 6
MARGIN_EV_MARGIN_ADD = 7
MARGIN_EV_MARGIN_REMOVE = 8
MARGIN_EV_LEVERAGE = 9
MARGIN_EV_FUNDING = 10
MARGIN_EV_MARGIN_CALL = 11
MARGIN_EV_LIQUIDATION = 12
MARGIN_EV_STOP_LOSS = 13
MARGIN_EV_TAKE_PROFIT = 14
MARGIN_EV_CROSS_LIQUIDATION = 15
MARGIN_EV_PARTIAL_LIQUIDATION = 16
MARGIN_EV_INSURANCE_DEPOSIT = 17
MARGIN_EV_ADL = 18

MARGIN_FILL_MARK = 1
MARGIN_FILL_TRIGGER = 2
MARGIN_FILL_LIQ_PRICE = 3
MARGIN_FILL_BANKRUPTCY = 4

MARGIN_EVF_SEQ = 1
MARGIN_EVF_TIME = 2
MARGIN_EVF_TYPE = 3
MARGIN_EVF_ACCOUNT = 4
MARGIN_EVF_MARKET = 5
MARGIN_EVF_POSITION = 6
MARGIN_EVF_SIDE = 7
MARGIN_EVF_PRICE = 8
MARGIN_EVF_QTY = 9
MARGIN_EVF_POSITION_QTY = 10
MARGIN_EVF_ENTRY_PRICE = 11
MARGIN_EVF_MARGIN = 12
MARGIN_EVF_AMOUNT = 13
MARGIN_EVF_REALIZED_PNL = 14
MARGIN_EVF_FEE = 15
MARGIN_EVF_LIQ_PRICE = 16
MARGIN_EVF_BANKRUPTCY_PRICE = 17
MARGIN_EVF_INSURANCE_DELTA = 18
MARGIN_EVF_MARGIN_RATIO = 19
MARGIN_EVF_LEVEL = 20
MARGIN_EVF_FREE_BALANCE = 21
MARGIN_EVF_LEVERAGE = 22
MARGIN_EVF_MODE = 23
MARGIN_EVF_FILL = 24
MARGIN_EVF_PATH_POINT = 25
MARGIN_EVF_COUNTERPARTY = 26
MARGIN_EVF_ADL_COVERED = 27

MARGIN_SNAPSHOT_VERSION = 4

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# --------------------------------------------------------------------------- types

#: ``margin_engine *`` (and ``const margin_engine *``): an opaque pointer.
ENGINE_P = ctypes.c_void_p

#: ``typedef void (*margin_event_fn)(void *user, const margin_engine *e, int32_t type);``
EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)

_i32 = ctypes.c_int32
_u32 = ctypes.c_uint32
_i64 = ctypes.c_int64
_u64 = ctypes.c_uint64
_int = ctypes.c_int
_str = ctypes.c_char_p
_pi64 = ctypes.POINTER(ctypes.c_int64)
_pu64 = ctypes.POINTER(ctypes.c_uint64)
_pi32 = ctypes.POINTER(ctypes.c_int32)
_E = ENGINE_P

#: name -> (restype, argtypes), in the order of include/margin.h.
PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    # version
    "margin_version_number": (_i32, []),
    "margin_version_string": (_str, []),
    # errors
    "margin_strerror": (_str, [_int]),
    # decimal
    "margin_money_scale": (_i32, []),
    "margin_rate_scale": (_i32, []),
    "margin_dec_parse": (_int, [_str, _i32, _pi64]),
    "margin_dec_format": (_int, [_i64, _i32, _str, ctypes.c_size_t]),
    "margin_dec_rescale": (_int, [_i64, _i32, _i32, _i32, _pi64]),
    "margin_dec_mul": (_int, [_i64, _i32, _i64, _i32, _i32, _i32, _pi64]),
    "margin_dec_div": (_int, [_i64, _i32, _i64, _i32, _i32, _i32, _pi64]),
    # engine
    "margin_engine_new": (_int, [ctypes.POINTER(ENGINE_P)]),
    "margin_engine_free": (None, [_E]),
    "margin_errmsg": (_str, [_E]),
    "margin_errcode": (_int, [_E]),
    "margin_engine_set": (_int, [_E, _i32, _i64]),
    "margin_engine_get": (_int, [_E, _i32, _pi64]),
    "margin_engine_set_margin_call_levels": (_int, [_E, _pi64, ctypes.c_size_t]),
    "margin_engine_margin_call_levels": (
        _int, [_E, _pi64, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    # markets
    "margin_market_new": (_int, [_E, _str, _pu64]),
    "margin_market_find": (_int, [_E, _str, _pu64]),
    "margin_market_symbol": (_int, [_E, _u64, _str, ctypes.c_size_t]),
    "margin_market_set": (_int, [_E, _u64, _i32, _i64]),
    "margin_market_get": (_int, [_E, _u64, _i32, _pi64]),
    "margin_market_add_tier": (_int, [_E, _u64, _i64, _i64, _i64, _i64]),
    "margin_market_tier": (_int, [_E, _u64, _u32, _pi64, _pi64, _pi64, _pi64]),
    "margin_market_tier_for": (_int, [_E, _u64, _i64, _pi64, _pi64]),
    "margin_insurance_deposit": (_int, [_E, _u64, _i64]),
    "margin_market_adl_quantiles": (_int, [_E, _u64]),
    # accounts
    "margin_account_new": (_int, [_E, _pu64]),
    "margin_account_deposit": (_int, [_E, _u64, _i64]),
    "margin_account_withdraw": (_int, [_E, _u64, _i64]),
    "margin_account_get": (_int, [_E, _u64, _i32, _pi64]),
    "margin_account_set_mode": (_int, [_E, _u64, _u64, _i32]),
    "margin_account_mode": (_int, [_E, _u64, _u64, _pi32]),
    # positions
    "margin_position_open": (_int, [_E, _u64, _u64, _i32, _i64, _i64, _i64, _i64, _u32, _pu64]),
    "margin_position_trade": (_int, [_E, _u64, _i32, _i64, _i64, _u32]),
    "margin_position_close": (_int, [_E, _u64, _i64, _u32]),
    "margin_position_add_margin": (_int, [_E, _u64, _i64]),
    "margin_position_remove_margin": (_int, [_E, _u64, _i64]),
    "margin_position_set_leverage": (_int, [_E, _u64, _i64]),
    "margin_position_set_stops": (_int, [_E, _u64, _i64, _i64]),
    "margin_position_get": (_int, [_E, _u64, _i32, _pi64]),
    "margin_position_at": (_int, [_E, _u64, _i32, _i64, _pi64]),
    # marks and funding
    "margin_mark_update": (_int, [_E, _u64, _i64]),
    "margin_mark_candle": (_int, [_E, _u64, _i64, _i64, _i64, _i64, _i32]),
    "margin_funding_apply": (_int, [_E, _u64, _i64, _i64]),
    # events
    "margin_engine_set_callback": (_int, [_E, EVENT_FN, ctypes.c_void_p]),
    "margin_event_next": (_int, [_E, _pi32]),
    "margin_event_get": (_int, [_E, _i32, _pi64]),
    "margin_event_fields": (_int, [_E, _pi64, ctypes.c_size_t]),
    # listing
    "margin_account_positions": (
        _int, [_E, _u64, _i32, _pu64, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "margin_market_positions": (
        _int, [_E, _u64, _i32, _pu64, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "margin_positions": (
        _int, [_E, _i32, _pu64, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    # snapshots and the state hash
    "margin_snapshot_save": (
        _int, [_E, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "margin_snapshot_load": (_int, [_E, ctypes.c_void_p, ctypes.c_size_t]),
    "margin_snapshot_write": (_int, [_E, _str]),
    "margin_snapshot_read": (_int, [_E, _str]),
    "margin_state_hash": (_int, [_E, _pu64]),
}

#: Functions of the header that this binding leaves out on purpose, with the reason
#: (tests/test_header.py accepts exactly these).
NOT_BOUND: Dict[str, str] = {
    "margin_engine_new_with_allocator": (
        "a caller's allocator is for C and Rust programs that pool or account for memory; "
        "from Python every allocation of the engine would call back into the interpreter "
        "through ctypes (under the GIL, unable to raise), for no gain over the C library's "
        "own malloc. The engine's memory is freed with the engine either way."
    ),
}


# --------------------------------------------------------------------------- loading

_SONAMES = ("libmargin.so.0", "libmargin.so", "libmargin.dylib", "margin.dll")
_BUILD_DIRS = ("", "build", "_build", "build-*")


def _candidates_in_tree(start: str) -> List[str]:
    """Library files of a build tree found from *start* upwards.

    Only a directory holding ``include/margin.h`` (a libmargin source tree) is searched, so
    that an installed package never picks up an unrelated build lying above it.
    """
    found: List[str] = []
    here = os.path.abspath(start)
    while True:
        if os.path.isfile(os.path.join(here, "include", "margin.h")):
            for sub in _BUILD_DIRS:
                bases = sorted(glob.glob(os.path.join(here, sub))) if sub else [here]
                for base in bases:
                    for name in _SONAMES:
                        path = os.path.join(base, "lib", ".libs", name)
                        if os.path.isfile(path):
                            found.append(path)
        parent = os.path.dirname(here)
        if parent == here:
            return found
        here = parent


_DEFAULT_LIBDIRS = ("/usr/local/lib",)


def _recorded_libdirs() -> List[str]:
    """Library directories recorded by setup.py when the package was built."""
    try:
        from . import _build_config  # type: ignore[attr-defined]
    except ImportError:
        return []
    return [d for d in getattr(_build_config, "LIBDIRS", []) if isinstance(d, str)]


def _pkg_config_libdirs() -> List[str]:
    """``pkg-config --libs-only-L margin`` now (empty without pkg-config or margin.pc)."""
    exe = shutil.which(os.environ.get("PKG_CONFIG", "pkg-config"))
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--libs-only-L", "margin"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [w[2:] for w in out.stdout.split() if w.startswith("-L") and len(w) > 2]


def _in_dirs(dirs: Sequence[str]) -> List[str]:
    return [os.path.join(d, name) for d in dirs for name in _SONAMES[:2]]


def search_path() -> List[Tuple[str, str]]:
    """Every candidate, in search order, as (how it was found, path or name)."""
    found: List[Tuple[str, str]] = []
    env = os.environ.get("MARGIN_LIBRARY")
    if env:
        found.append(("MARGIN_LIBRARY", env))
    found += [("build tree", p) for p in _candidates_in_tree(os.path.dirname(os.path.abspath(__file__)))]
    found += [("recorded at build time", p) for p in _in_dirs(_recorded_libdirs())]
    found += [("pkg-config", p) for p in _in_dirs(_pkg_config_libdirs())]
    found += [("default prefix", p) for p in _in_dirs(_DEFAULT_LIBDIRS)]
    return found


def find_library() -> Optional[str]:
    """Return the path (or name) of the libmargin shared library to load, or ``None``.

    See the module docstring for the search order.
    """
    env = os.environ.get("MARGIN_LIBRARY")
    if env:
        return env
    for _how, path in search_path():
        if os.path.isfile(path):
            return path
    return ctypes.util.find_library("margin")


def _not_found_message(tried: Sequence[str]) -> str:
    lines = ["libmargin could not be loaded. Looked at:"]
    lines += ["  " + t for t in tried]
    lines += [
        "Fix it in one of two ways:",
        "  - after `make install`, run `ldconfig` (as root) so that the system loader finds "
        "libmargin.so.0;",
        "  - or set MARGIN_LIBRARY to the library's path, e.g. "
        "MARGIN_LIBRARY=/usr/local/lib/libmargin.so.0 (in a build tree: "
        "build/lib/.libs/libmargin.so.0).",
    ]
    return "\n".join(lines)


def _missing_stub(name: str, path: str) -> Callable[..., Any]:
    def stub(*_args: Any) -> Any:
        from .errors import NotSupported

        raise NotSupported(MARGIN_ENOTSUP, f"the loaded libmargin ({path}) does not export {name}")

    stub.__name__ = name
    return stub


class _Lib:
    """The loaded library: one attribute per C function, with its prototype applied."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cdll = ctypes.CDLL(path)
        self.missing: List[str] = []
        for name, (restype, argtypes) in PROTOTYPES.items():
            try:
                fn = getattr(self.cdll, name)
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _missing_stub(name, path))
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)


def _load() -> _Lib:
    tried: List[str] = []
    env = os.environ.get("MARGIN_LIBRARY")
    candidates = search_path()
    if env:
        candidates = [("MARGIN_LIBRARY", env)]  # exactly what the user asked for
    for how, path in candidates:
        if how != "MARGIN_LIBRARY" and not os.path.isfile(path):
            tried.append(f"{path} ({how}: no such file)")
            continue
        try:
            return _Lib(path)
        except OSError as exc:
            tried.append(f"{path} ({how}: {exc})")
    if not env:
        hows = {how for how, _ in candidates}
        tried.insert(0, "the environment variable MARGIN_LIBRARY (not set)")
        here = os.path.dirname(os.path.abspath(__file__))
        if "build tree" not in hows:
            tried.append(f"a libmargin build tree above {here} (none)")
        if "recorded at build time" not in hows:
            tried.append("directories recorded when this package was built (none)")
        if "pkg-config" not in hows:
            tried.append("pkg-config --libs-only-L margin (" + (
                "pkg-config is not installed" if not shutil.which(
                    os.environ.get("PKG_CONFIG", "pkg-config")) else "no margin.pc found")
                + ")")
        name = ctypes.util.find_library("margin")
        if name is None:
            tried.append("the system's libraries (ctypes.util.find_library('margin'): "
                         "not in the ldconfig cache)")
        else:
            try:
                return _Lib(name)
            except OSError as exc:
                tried.append(f"{name} (ctypes.util.find_library: {exc})")
    raise ImportError(_not_found_message(tried))


lib: Any = _load()
#: Path (or name) of the loaded library.
LIBRARY_PATH: str = lib.path
#: Functions of the header that the loaded library lacks (empty for a complete build).
MISSING: Sequence[str] = tuple(lib.missing)
