"""`pip install --no-build-isolation` of the package works offline (no index, no network)
and installs an importable `margin` (skipped when pip, setuptools or wheel are absent)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402

_NEEDED = ("setuptools", "pip", "wheel")  # setuptools first: its distutils hack must load before pip


def _installer() -> str | None:
    """An interpreter that has pip, setuptools and wheel: this one, else the system's
    (Debian's python3-pip/-setuptools/-wheel), since there is no index to fetch them from."""
    if all(importlib.util.find_spec(m) is not None for m in _NEEDED):
        return sys.executable
    for cand in ("/usr/bin/python3", shutil.which("python3")):
        if cand and os.path.realpath(cand) != os.path.realpath(sys.executable):
            probe = subprocess.run([cand, "-c", "import " + ", ".join(_NEEDED)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if probe.returncode == 0:
                return cand
    return None


_PYTHON = _installer()


@unittest.skipIf(_PYTHON is None, "no interpreter here has pip, setuptools and wheel")
class PipInstall(unittest.TestCase):
    def test_offline_install(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            # Build from a copy: setuptools writes build/ and *.egg-info next to the sources,
            # and the source tree may be read-only (make distcheck).
            src = os.path.join(tmp, "src")
            shutil.copytree(
                support.PACKAGE_ROOT,
                src,
                ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tests"),
            )
            target = os.path.join(tmp, "target")
            env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
            env.pop("PYTHONPATH", None)
            proc = subprocess.run(
                [_PYTHON, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                 "--no-deps", "--quiet", "--target", target, src],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=300,
            )
            self.assertEqual(proc.returncode, 0, proc.stdout)
            self.assertTrue(os.path.isfile(os.path.join(target, "margin", "py.typed")))
            code = (
                "import margin, sys; "
                "assert margin.__file__.startswith(sys.argv[1]), margin.__file__; "
                "e = margin.Engine(); a = e.new_account(deposit='1.5'); "
                "print(a.free_balance)"
            )
            env["PYTHONPATH"] = target
            proc = subprocess.run(
                [_PYTHON, "-c", code, target], env=env, cwd=tmp,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
            )
            self.assertEqual(proc.returncode, 0, proc.stdout)
            self.assertEqual(proc.stdout.strip(), "1.5")


if __name__ == "__main__":
    unittest.main()
