"""How the binding finds the library: MARGIN_LIBRARY, then a build tree, then the system."""

from __future__ import annotations

import os
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401

import margin  # noqa: E402
from margin import _capi  # noqa: E402


def touch(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w"):
        pass
    return path


class FindLibrary(unittest.TestCase):
    def test_environment_first(self) -> None:
        with mock.patch.dict(os.environ, {"MARGIN_LIBRARY": "/some/where/libmargin.so"}):
            self.assertEqual(_capi.find_library(), "/some/where/libmargin.so")

    def test_build_trees_upwards(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "src", "bindings", "python", "margin")
            os.makedirs(pkg)
            self.assertEqual(_capi._candidates_in_tree(pkg), [])
            # Not a source tree yet (no include/margin.h): a build lying there is ignored.
            touch(os.path.join(tmp, "src", "lib", ".libs", "libmargin.so.0"))
            self.assertEqual(_capi._candidates_in_tree(pkg), [])
            touch(os.path.join(tmp, "src", "include", "margin.h"))
            in_tree = touch(os.path.join(tmp, "src", "lib", ".libs", "libmargin.so.0"))
            build = touch(os.path.join(tmp, "src", "build", "lib", ".libs", "libmargin.so.0"))
            named = touch(os.path.join(tmp, "src", "build-gcc", "lib", ".libs", "libmargin.so"))
            found = _capi._candidates_in_tree(pkg)
            self.assertEqual(found[0], in_tree)  # the nearest level, in-tree build first
            self.assertIn(build, found)
            self.assertIn(named, found)

    def test_system_last(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MARGIN_LIBRARY"}
        with mock.patch.dict(os.environ, env, clear=True), \
                mock.patch.object(_capi, "_candidates_in_tree", return_value=[]), \
                mock.patch.object(_capi.ctypes.util, "find_library", return_value="libmargin.so.0") as fl:
            self.assertEqual(_capi.find_library(), "libmargin.so.0")
            fl.assert_called_once_with("margin")

    def test_loaded_library(self) -> None:
        want = os.environ.get("MARGIN_LIBRARY")
        if want:
            self.assertEqual(margin.LIBRARY_PATH, want)
        self.assertEqual(margin.MISSING, ())


if __name__ == "__main__":
    unittest.main()
