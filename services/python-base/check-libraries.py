"""Fail (exit 1) unless every shared object under the given folders can be loaded here.

Run at image build time in the scratch runtime: a wheel whose C extension needs a library the
runtime lacks fails the build, instead of the container failing at start.
"""

import ctypes
import pathlib
import sys

failures = []
for folder in sys.argv[1:]:
    for library in sorted(pathlib.Path(folder).rglob("*.so*")):
        if library.is_file() and ".so" in library.name:
            try:
                ctypes.CDLL(str(library))
            except OSError as exc:
                failures.append(f"{library}: {exc}")
print("\n".join(failures) or "all shared objects load", file=sys.stderr if failures else sys.stdout)
sys.exit(1 if failures else 0)
