"""The header versus the binding: every function of include/margin.h is declared by the
binding with the same C types, every numeric #define has the same value, every status
code has its exception class and every event type its class."""

from __future__ import annotations

import ctypes
import os
import re
import sys
import unittest
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402  (also puts the package on sys.path)

import margin
from margin import _capi, errors, events
from margin.enums import EventType

HEADER = os.path.join(support.top_srcdir(), "include", "margin.h")

_BASE = {
    "int": ctypes.c_int,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
}


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _code(text: str) -> str:
    """Header text without comments and without preprocessor lines."""
    lines = [ln for ln in _strip_comments(text).splitlines() if not ln.lstrip().startswith("#")]
    return "\n".join(lines)


def _split_decl(param: str) -> str:
    """'const char *s' -> 'const char *'; 'int64_t *out' -> 'int64_t *'."""
    param = " ".join(param.split())
    m = re.match(r"^(.*?[\s*])(\w+)$", param)
    if m and m.group(1).strip() and m.group(2) not in _BASE and m.group(2) not in (
        "char",
        "void",
        "margin_engine",
        "margin_event_fn",
    ):
        return m.group(1).strip()
    return param


def ctype_for(decl: str, event_fn: Any) -> Any:
    """The ctypes type a C declaration must be bound with (None for void).

    margin_engine pointers may be c_void_p or a POINTER to any type.
    """
    stars = decl.count("*")
    words = [w for w in decl.replace("*", " ").split() if w != "const"]
    if len(words) != 1:
        raise ValueError(f"cannot map C type {decl!r}")
    base = words[0]
    if base == "void":
        if stars == 0:
            return None
        if stars == 1:
            return ctypes.c_void_p
    if base == "char" and stars == 1:
        return ctypes.c_char_p
    if base == "margin_event_fn" and stars == 0:
        return event_fn
    if base == "margin_engine":
        if stars == 1:
            return "engine*"
        if stars == 2:
            return "engine**"
    if base in _BASE:
        t: Any = _BASE[base]
        for _ in range(stars):
            t = ctypes.POINTER(t)
        return t
    raise ValueError(f"cannot map C type {decl!r}")


def _matches(expected: Any, actual: Any) -> bool:
    if expected == "engine*":
        return actual is ctypes.c_void_p or (
            isinstance(actual, type) and issubclass(actual, ctypes._Pointer)  # type: ignore[attr-defined]
        )
    if expected == "engine**":
        return actual is ctypes.POINTER(ctypes.c_void_p) or (
            isinstance(actual, type)
            and issubclass(actual, ctypes._Pointer)  # type: ignore[attr-defined]
            and issubclass(actual._type_, ctypes._Pointer)  # type: ignore[attr-defined]
        )
    return expected is actual


def parse_functions(text: str) -> Dict[str, Tuple[str, List[str]]]:
    """name -> (return type, [parameter types]) for every `MARGIN_API ret name(params);`."""
    code = _code(text)
    found: Dict[str, Tuple[str, List[str]]] = {}
    for m in re.finditer(r"MARGIN_API\s+([^;(]*?)\b(margin_\w+)\s*\(([^)]*)\)\s*;", code):
        ret, name, params = m.group(1).strip(), m.group(2), m.group(3).strip()
        plist = [] if params in ("", "void") else [_split_decl(p) for p in params.split(",")]
        found[name] = (ret, plist)
    return found


def parse_defines(text: str) -> Dict[str, int]:
    """Numeric MARGIN_* macros of the header."""
    out: Dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*#\s*define\s+(MARGIN_\w+)\s+(.*)$", line)
        if not m:
            continue
        name, value = m.group(1), _strip_comments(m.group(2)).strip()
        v = _eval(value)
        if v is not None:
            out[name] = v
    return out


def _eval(value: str) -> Optional[int]:
    value = value.strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    if value == "INT64_MIN":
        return -(2**63)
    m = re.fullmatch(r"([+-]?)\s*(0x[0-9a-fA-F]+|\d+)[uUlL]*", value)
    if not m:
        return None
    v = int(m.group(2), 0)
    return -v if m.group(1) == "-" else v


@unittest.skipUnless(os.path.isfile(HEADER), f"{HEADER} not found")
class HeaderVersusBinding(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        with open(HEADER, encoding="utf-8") as f:
            cls.text = f.read()
        cls.functions = parse_functions(cls.text)
        cls.defines = parse_defines(cls.text)

    def test_parser_sees_every_declaration(self) -> None:
        # Every MARGIN_API outside the #define lines is one declaration the regex parsed.
        self.assertEqual(_code(self.text).count("MARGIN_API"), len(self.functions))
        self.assertGreaterEqual(len(self.functions), 40)
        self.assertIn("margin_position_open", self.functions)

    def test_every_function_is_declared_by_the_binding(self) -> None:
        # One function is left out on purpose, with its reason in _capi.NOT_BOUND: the
        # caller's allocator (ctypes callbacks for every allocation bring Python nothing).
        self.assertEqual(set(_capi.NOT_BOUND), {"margin_engine_new_with_allocator"})
        for name, reason in _capi.NOT_BOUND.items():
            self.assertIn(name, self.functions, f"{name} is no longer in margin.h")
            self.assertNotIn(name, _capi.PROTOTYPES)
            self.assertTrue(reason)
        missing = sorted(set(self.functions) - set(_capi.PROTOTYPES) - set(_capi.NOT_BOUND))
        self.assertEqual(missing, [], "functions of margin.h missing from the binding")
        extra = sorted(set(_capi.PROTOTYPES) - set(self.functions))
        self.assertEqual(extra, [], "binding declares functions that margin.h lacks")

    def test_signatures_match(self) -> None:
        for name, (ret, params) in self.functions.items():
            if name in _capi.NOT_BOUND:
                continue
            with self.subTest(function=name):
                restype, argtypes = _capi.PROTOTYPES[name]
                want_ret = ctype_for(ret, _capi.EVENT_FN)
                self.assertTrue(
                    _matches(want_ret, restype), f"{name}: restype {restype} for C {ret!r}"
                )
                self.assertEqual(
                    len(argtypes), len(params), f"{name}: {len(argtypes)} argtypes for {params}"
                )
                for i, (decl, actual) in enumerate(zip(params, argtypes)):
                    want = ctype_for(decl, _capi.EVENT_FN)
                    self.assertTrue(
                        _matches(want, actual),
                        f"{name} parameter {i}: binding has {actual}, header has {decl!r}",
                    )

    def test_library_exports_every_function(self) -> None:
        self.assertEqual(list(_capi.MISSING), [], f"not exported by {margin.LIBRARY_PATH}")

    def test_prototypes_are_applied_to_the_loaded_library(self) -> None:
        for name, (restype, argtypes) in _capi.PROTOTYPES.items():
            if name in _capi.MISSING:
                continue  # reported by test_library_exports_every_function
            with self.subTest(function=name):
                fn = getattr(_capi.lib, name)
                self.assertEqual(fn.restype, restype)
                self.assertEqual(list(fn.argtypes), list(argtypes))

    def test_callback_type_matches_typedef(self) -> None:
        m = re.search(
            r"typedef\s+void\s*\(\s*\*\s*margin_event_fn\s*\)\s*\(([^)]*)\)\s*;",
            _strip_comments(self.text),
        )
        self.assertIsNotNone(m, "margin_event_fn typedef not found")
        assert m is not None
        params = [_split_decl(p) for p in m.group(1).split(",")]
        self.assertIsNone(_capi.EVENT_FN._restype_)
        self.assertEqual(len(_capi.EVENT_FN._argtypes_), len(params))
        for decl, actual in zip(params, _capi.EVENT_FN._argtypes_):
            self.assertTrue(_matches(ctype_for(decl, None), actual), f"{decl!r} vs {actual}")

    def test_every_constant_is_defined_with_the_same_value(self) -> None:
        self.assertIn("MARGIN_EV_LIQUIDATION", self.defines)
        self.assertGreaterEqual(len(self.defines), 100)
        for name, value in self.defines.items():
            with self.subTest(constant=name):
                self.assertTrue(hasattr(_capi, name), f"binding lacks {name}")
                self.assertEqual(getattr(_capi, name), value)

    def test_every_status_code_has_its_exception_class(self) -> None:
        codes = {n: v for n, v in self.defines.items() if re.fullmatch(r"MARGIN_E[A-Z]+", n)}
        self.assertIn("MARGIN_EINVAL", codes)
        classes = set()
        for name, code in codes.items():
            with self.subTest(code=name):
                cls = errors.error_class(code)
                self.assertIsNot(cls, margin.MarginError)
                self.assertEqual(cls.CODE, code)
                classes.add(cls)
        self.assertEqual(len(classes), len(codes), "two codes share an exception class")

    def test_every_event_type_has_its_class(self) -> None:
        types = {n: v for n, v in self.defines.items() if n.startswith("MARGIN_EV_")}
        for name, code in types.items():
            with self.subTest(event=name):
                self.assertEqual(EventType[name[len("MARGIN_EV_"):]], code)
                if code != _capi.MARGIN_EV_NONE:
                    self.assertIn(code, events.EVENT_CLASSES)
        fields = [v for n, v in self.defines.items() if n.startswith("MARGIN_EVF_")]
        self.assertEqual(events.FIELD_COUNT, max(fields))
        self.assertEqual(sorted(fields), list(range(1, max(fields) + 1)))

    def test_scales_match_the_library(self) -> None:
        self.assertEqual(_capi.lib.margin_money_scale(), self.defines["MARGIN_MONEY_SCALE"])
        self.assertEqual(_capi.lib.margin_rate_scale(), self.defines["MARGIN_RATE_SCALE"])
        self.assertEqual(margin.MONEY_SCALE, 8)
        self.assertEqual(margin.RATE_SCALE, 8)

    def test_versions_agree(self) -> None:
        # The binding is released with the library: same version string and number.
        self.assertEqual(margin.library_version(), margin.__version__)
        major, minor, patch = (int(x) for x in margin.__version__.split("."))
        self.assertEqual(margin.library_version_number(), major * 10000 + minor * 100 + patch)


class ParserSelfTest(unittest.TestCase):
    """The parser must catch a signature that differs, or the test above proves nothing."""

    def test_detects_a_changed_signature(self) -> None:
        fake = "MARGIN_API int margin_account_deposit(margin_engine *e, uint64_t a, int32_t amount);"
        ret, params = parse_functions(fake)["margin_account_deposit"]
        self.assertEqual(params, ["margin_engine *", "uint64_t", "int32_t"])
        restype, argtypes = _capi.PROTOTYPES["margin_account_deposit"]
        self.assertFalse(_matches(ctype_for(params[2], None), argtypes[2]))
        self.assertTrue(_matches(ctype_for(params[1], None), argtypes[1]))
        self.assertTrue(_matches(ctype_for(ret, None), restype))

    def test_maps_pointer_and_string_types(self) -> None:
        self.assertIs(ctype_for("const char *", None), ctypes.c_char_p)
        self.assertIs(ctype_for("int64_t *", None), ctypes.POINTER(ctypes.c_int64))
        self.assertIs(ctype_for("const int64_t *", None), ctypes.POINTER(ctypes.c_int64))
        self.assertIsNone(ctype_for("void", None))
        self.assertTrue(_matches(ctype_for("margin_engine **", None), ctypes.POINTER(ctypes.c_void_p)))
        self.assertFalse(_matches(ctype_for("uint64_t", None), ctypes.c_int64))
        self.assertEqual(_eval("(-1)"), -1)
        self.assertEqual(_eval("2u"), 2)
        self.assertEqual(_eval("INT64_MIN"), -(2**63))
        self.assertIsNone(_eval("__attribute__((visibility(\"default\")))"))


if __name__ == "__main__":
    unittest.main()
