# SPDX-License-Identifier: MIT
"""perf/model_compare.py without fla (--fla none): its argument checks, its reading of ocla-generate's
output, and one small run on the first device through ocla-generate (skipped without the binary)."""
import json
import os
import sys

import pytest

from conftest import DEVICES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "perf"))
import model_compare as mc  # noqa: E402


def test_parse_generate_output():
    one = "5 7 9\nprefill 4 tokens in 0.0014 s (2884.0 tokens/s); decode 2 tokens in 0.0038 s (1052.4 tokens/s)\n"
    r = mc.parse_generate(one)
    assert r["tokens"] == [5, 7, 9] and r["prefill_tps"] == 2884.0 and r["decode_tps"] == 1052.4
    b = ("5 7\nbatch 64: prefill 4 x 64 tokens in 0.2370 s (1080.2 tokens/s); decode 1 x 64 tokens in 0.0100 s "
         "(6400.0 tokens/s)\n")
    r = mc.parse_generate(b)
    assert r["tokens"] == [5, 7] and r["decode_tps"] == 6400.0 and r["prefill_s"] == 0.237
    with pytest.raises(ValueError):
        mc.parse_generate("5 7\n")


def test_arguments_are_checked(tmp_path, capsys):
    base = ["--fla", "none", "--out", str(tmp_path), "--generate", sys.executable]
    for bad in (["--batches", "1,x"], ["--batches", "0"], ["--new", "1"], ["--config", "7b"]):
        with pytest.raises(SystemExit):
            mc.parse_args(base + bad)
    a = mc.parse_args(base + ["--batches", "1, 64"])
    assert a.batches == [1, 64] and a.prompt == 128 and a.new == 256 and a.config == "340m"
    with pytest.raises(SystemExit):
        mc.parse_args(["--fla", "none", "--out", str(tmp_path), "--generate", str(tmp_path / "absent")])
    assert mc.first_divergence([1, 2, 3], [1, 2, 3]) is None
    assert mc.first_divergence([1, 2, 3], [1, 5, 3]) == 1


def test_ocla_side_runs(tmp_path):
    exe = mc.find_generate(None)
    if not DEVICES or not exe:
        pytest.skip("no OpenCL device or no built ocla-generate")
    out = tmp_path / "out"
    rc = mc.main(["--fla", "none", "--config", "tiny", "--device", str(DEVICES[0].index), "--out", str(out),
                  "--model-dir", str(tmp_path / "gla"), "--prompt", "6", "--new", "4", "--batches", "1,2",
                  "--generate", exe])
    assert rc == 0
    res = json.loads((out / "model_compare.json").read_text())
    st = res["stages"]
    assert st["checkpoint"]["config"] == "tiny"
    for b in (1, 2):
        assert len(st["ocla_b%d" % b]["tokens"]) == 4 and st["ocla_b%d" % b]["decode_tps"] > 0
    assert st["ocla_b1"]["tokens"] == st["ocla_b2"]["tokens"]  # greedy: the same sequence in either batch
    assert "fla: --fla none" in res["skipped"][0]
    assert "ocla" in (out / "model_compare.txt").read_text()
