# SPDX-License-Identifier: MIT
"""Every test that takes `ctx` runs once per OpenCL device found (one context per device for the whole
session: kernel builds are the main cost). Set OCLA_TEST_DEVICES to a comma-separated list of selectors
to restrict it (e.g. "pocl" or "0,1")."""
import os

import numpy as np
import pytest

import ocla


def _test_devices():
    devs = ocla.devices()
    sel = os.environ.get("OCLA_TEST_DEVICES")
    if sel:
        wanted = {ocla.select_device(s.strip()).index for s in sel.split(",") if s.strip()}
        devs = [d for d in devs if d.index in wanted]
    return devs


DEVICES = _test_devices()


def _device_id(d):
    return "%d-%s" % (d.index, d.vendor)


@pytest.fixture(scope="session", params=DEVICES or [None], ids=[_device_id(d) for d in DEVICES] or ["none"])
def ctx(request):
    if request.param is None:
        pytest.skip("no OpenCL device")
    c = ocla.Context(request.param)
    yield c
    c.close()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
