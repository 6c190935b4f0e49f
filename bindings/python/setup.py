"""Build hook of the `margin` package (the metadata is in pyproject.toml).

At build time (`pip install --no-build-isolation bindings/python`), record where libmargin
is installed, so that the installed package loads it without `ldconfig` and without
`MARGIN_LIBRARY`: the library directories that `pkg-config --libs-only-L margin` gives
(PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR are honoured), or MARGIN_LIBDIR if set, are
written to margin/_build_config.py in the built package. Nothing is recorded (and the
package still works, through its other look-ups) when neither is available.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


def _libdirs():
    env = os.environ.get("MARGIN_LIBDIR")
    if env:
        return [env]
    pkg_config = shutil.which(os.environ.get("PKG_CONFIG", "pkg-config"))
    if not pkg_config:
        return []
    try:
        out = subprocess.run([pkg_config, "--libs-only-L", "margin"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [w[2:] for w in out.stdout.split() if w.startswith("-L") and len(w) > 2]


class BuildPy(build_py):
    def run(self):
        super().run()
        dirs = _libdirs()
        path = os.path.join(self.build_lib, "margin", "_build_config.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write('"""Written by setup.py when the package was built."""\n\n')
            f.write("#: Directories of libmargin found with pkg-config at build time.\n")
            f.write("LIBDIRS = %r\n" % (dirs,))
        self.announce("margin: recorded libmargin directories %r" % (dirs,), level=2)


setup(cmdclass={"build_py": BuildPy})
