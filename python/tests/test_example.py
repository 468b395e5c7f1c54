# SPDX-License-Identifier: MIT
"""The example runs and prints one row per device."""
import os
import subprocess
import sys

import ocla

from conftest import DEVICES

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "compare_devices.py")


def test_compare_devices_example():
    if not DEVICES:
        return
    env = dict(os.environ)  # the child imports the same ocla package as this process
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(ocla.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + [p for p in [env.get("PYTHONPATH")] if p])
    sel = ",".join(str(d.index) for d in DEVICES)
    out = subprocess.run([sys.executable, EXAMPLE, "--T", "64", "--H", "1", "--K", "16", "--V", "16", "--runs", "2",
                          "--devices", sel], env=env, check=True, stdout=subprocess.PIPE, universal_newlines=True,
                         timeout=300).stdout
    rows = [line for line in out.splitlines() if line[:1].isdigit()]
    assert len(rows) == len(DEVICES), out
    assert "failed" not in out, out
