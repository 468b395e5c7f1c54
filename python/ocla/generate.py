# SPDX-License-Identifier: MIT
"""python -m ocla.generate --model DIR --prompt "text": generate text with a GLA checkpoint (fla's
GLAForCausalLM) on an OpenCL device, through the checkpoint's tokenizer.json (ocla.tokenizer), and
print the prompt's continuation and the prefill and decode speeds (tokens/s, wall clock, after an
untimed warm-up of two tokens that builds the kernels; as ocla-generate prints them).

    python -m ocla.generate --model checkpoints/gla-340m --prompt "Once upon a time" -n 64 --temperature 0.8
    python -m ocla.generate --model gla-tiny --ids "5 17 99 3" -n 16      # token ids, no tokenizer needed
"""
import argparse
import sys

from ._core import Context, OclaError
from .model import Model
from .tokenizer import TokenizerError


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ocla.generate", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint directory (config.json + safetensors)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="prompt text (encoded with the tokenizer)")
    src.add_argument("--ids", help="prompt token ids, whitespace or comma separated")
    ap.add_argument("--tokenizer", default="auto", help="a tokenizer.json (default: the model directory's)")
    ap.add_argument("-n", "--max-new-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy")
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-stop", action="store_true", help="do not stop at the config's eos_token_id")
    ap.add_argument("--device", default=None, help="device selector (else OCLA_DEVICE, else the first GPU)")
    ap.add_argument("--no-warmup", action="store_true", help="time the first run too (it builds the kernels)")
    a = ap.parse_args(argv)
    if a.max_new_tokens < 1:
        ap.error("-n must be >= 1")
    if a.ids is not None:
        try:
            a.ids = [int(t) for t in a.ids.replace(",", " ").split()]
        except ValueError:
            ap.error("--ids: integers expected")
        if not a.ids:
            ap.error("--ids: no token ids")
    return a


def main(argv=None):
    a = parse_args(argv)
    try:
        with Context(a.device) as ctx:
            with Model(a.model, context=ctx, tokenizer=a.tokenizer) as m:
                if a.ids is None and m.tokenizer is None:
                    print("ocla.generate: %s has no tokenizer.json: give --tokenizer FILE or --ids" % a.model,
                          file=sys.stderr)
                    return 2
                prompt = a.ids if a.ids is not None else m.encode(a.prompt)
                kw = dict(temperature=a.temperature, top_k=a.top_k, top_p=a.top_p, seed=a.seed,
                          stop=None if a.no_stop else "eos")
                if not a.no_warmup:
                    m.generate(prompt, max_new_tokens=2, **kw)
                g = m.generate(prompt, max_new_tokens=a.max_new_tokens, **kw)
                print(g.text if g.text is not None else " ".join(map(str, g.tokens)))
                print("prefill %d tokens in %.4f s (%.1f tokens/s); decode %d tokens in %.4f s (%.1f tokens/s) on %s"
                      % (g.prompt_tokens, g.prefill_seconds, g.prefill_tokens_per_s, max(len(g.tokens) - 1, 0),
                         g.decode_seconds, g.decode_tokens_per_s, ctx.device.device_name), file=sys.stderr)
    except (OclaError, TokenizerError, OSError, ValueError) as e:
        print("ocla.generate: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
