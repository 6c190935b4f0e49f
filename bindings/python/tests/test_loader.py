"""How the binding finds the library: MARGIN_LIBRARY, a build tree, the recorded and
pkg-config directories, /usr/local/lib, then the system; and what it says when it cannot."""

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

    def test_installed_library_found_without_ldconfig(self) -> None:
        # Issue 10: after the build tree, the directories recorded at build time, then
        # pkg-config's, then /usr/local/lib, all before the ldconfig cache.
        env = {k: v for k, v in os.environ.items() if k != "MARGIN_LIBRARY"}
        with tempfile.TemporaryDirectory() as tmp:
            rec = touch(os.path.join(tmp, "recorded", "libmargin.so.0"))
            pc = touch(os.path.join(tmp, "pc", "libmargin.so.0"))
            with mock.patch.dict(os.environ, env, clear=True), \
                    mock.patch.object(_capi, "_candidates_in_tree", return_value=[]), \
                    mock.patch.object(_capi, "_recorded_libdirs",
                                      return_value=[os.path.dirname(rec)]), \
                    mock.patch.object(_capi, "_pkg_config_libdirs",
                                      return_value=[os.path.dirname(pc)]), \
                    mock.patch.object(_capi, "_DEFAULT_LIBDIRS", (os.path.join(tmp, "none"),)), \
                    mock.patch.object(_capi.ctypes.util, "find_library",
                                      return_value="libmargin.so.0") as fl:
                self.assertEqual(_capi.find_library(), rec)
                os.remove(rec)
                self.assertEqual(_capi.find_library(), pc)
                os.remove(pc)
                self.assertEqual(_capi.find_library(), "libmargin.so.0")
                fl.assert_called_once_with("margin")
                hows = [how for how, _ in _capi.search_path()]
                self.assertEqual(hows, ["recorded at build time"] * 2 + ["pkg-config"] * 2
                                 + ["default prefix"] * 2)

    def test_pkg_config_libdirs(self) -> None:
        # pkg-config's -L directories, with the sysroot applied (a staged install).
        with tempfile.TemporaryDirectory() as tmp:
            pcdir = os.path.join(tmp, "usr", "local", "lib", "pkgconfig")
            os.makedirs(pcdir)
            with open(os.path.join(pcdir, "margin.pc"), "w") as f:
                f.write("libdir=/usr/local/lib\nName: margin\nDescription: x\nVersion: 1\n"
                        "Libs: -L${libdir} -lmargin\n")
            env = dict(os.environ, PKG_CONFIG_LIBDIR=pcdir, PKG_CONFIG_PATH=pcdir,
                       PKG_CONFIG_SYSROOT_DIR=tmp)
            with mock.patch.dict(os.environ, env, clear=True):
                if not _capi.shutil.which("pkg-config"):
                    self.skipTest("no pkg-config")
                self.assertEqual(_capi._pkg_config_libdirs(),
                                 [os.path.join(tmp, "usr", "local", "lib")])

    def test_error_names_every_place_and_both_fixes(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "MARGIN_LIBRARY"}
        with tempfile.TemporaryDirectory() as tmp:
            d = os.path.join(tmp, "nothing-here")
            with mock.patch.dict(os.environ, env, clear=True), \
                    mock.patch.object(_capi, "_candidates_in_tree", return_value=[]), \
                    mock.patch.object(_capi, "_recorded_libdirs", return_value=[d]), \
                    mock.patch.object(_capi, "_pkg_config_libdirs", return_value=[]), \
                    mock.patch.object(_capi, "_DEFAULT_LIBDIRS", ("/nonexistent/lib",)), \
                    mock.patch.object(_capi.ctypes.util, "find_library", return_value=None):
                with self.assertRaises(ImportError) as cm:
                    _capi._load()
        msg = str(cm.exception)
        for place in ("MARGIN_LIBRARY", os.path.join(d, "libmargin.so.0"),
                      "/nonexistent/lib/libmargin.so.0", "build tree", "pkg-config",
                      "find_library"):
            self.assertIn(place, msg)
        self.assertIn("ldconfig", msg)  # fix 1
        self.assertRegex(msg, r"set MARGIN_LIBRARY")  # fix 2

    def test_loaded_library(self) -> None:
        want = os.environ.get("MARGIN_LIBRARY")
        if want:
            self.assertEqual(margin.LIBRARY_PATH, want)
        self.assertEqual(margin.MISSING, ())


if __name__ == "__main__":
    unittest.main()
