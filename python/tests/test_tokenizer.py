# SPDX-License-Identifier: MIT
"""ocla.tokenizer on small hand-made tokenizer.json files (tokenizer_specs.py). Expected ids worked out
from the BPE definition: pre-tokenize, start from single characters (or byte tokens), merge the
lowest-ranked adjacent pair first (the leftmost among equals), look the pieces up. No device needed."""
import copy
import json

import pytest

from ocla.tokenizer import Tokenizer, TokenizerError, gpt2_split
from tokenizer_specs import GPT2, LLAMA, metaspace


def load(tmp_path, spec):
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(spec), encoding="utf-8")
    return Tokenizer.from_file(str(p))


def test_gpt2_split_follows_the_regex():
    assert gpt2_split("I'm here  now") == ["I", "'m", " here", " ", " now"]  # \s+(?!\S) leaves one space
    assert gpt2_split("a\n\nb") == ["a", "\n", "\n", "b"]
    assert gpt2_split("x  ") == ["x", "  "]  # whitespace at the end: the whole run
    assert gpt2_split("\u00e91,2 !!") == ["\u00e9", "1", ",", "2", " !!"]
    assert gpt2_split("don'T") == ["don", "'", "T"]  # the contractions are lower case only


def test_gpt2_style_encode(tmp_path):
    t = load(tmp_path, GPT2)
    # "hello hello" -> "hello", " hello" -> byte level "hello", "Ġhello"; merges h e, l l, he ll, hell o
    assert t.encode("hello hello") == [8, 9]
    assert t.encode("hell") == [7]
    assert t.encode("oh") == [3, 0]           # no merge "o h"
    assert t.encode("lll") == [6, 2]          # "l l" at the leftmost pair first
    assert t.encode("hello<|endoftext|>") == [8, 10]  # an added token found in the raw text
    assert t.encode("xx hi") == [4, 0]        # characters outside the vocab, no unk_token: dropped
    assert t.token_to_id("<|endoftext|>") == 10 and t.vocab_size == 11


def test_gpt2_style_decode(tmp_path):
    t = load(tmp_path, GPT2)
    assert t.decode([8, 9]) == "hello hello"
    assert t.decode([8, 10]) == "hello"
    assert t.decode([8, 10], skip_special_tokens=False) == "hello<|endoftext|>"
    with pytest.raises(TokenizerError, match="11"):
        t.decode([11])


def test_llama_style(tmp_path):
    t = load(tmp_path, LLAMA)
    # "hi hi" -> "▁hi▁hi" (Prepend, Replace); "▁ h" merges at both places, then "▁h i": <s> ▁hi ▁hi
    assert t.encode("hi hi") == [1, 9, 9]
    assert t.encode("hi hi", add_special_tokens=False) == [9, 9]
    assert t.encode("hi\u00e9") == [1, 9, 3, 4]    # é (C3 A9) through the byte tokens
    assert t.encode("xx hi") == [1, 5, 0, 9]       # x has no byte token: <unk>, two fused into one
    assert t.encode("hi<s>hi") == [1, 9, 1, 9]     # each piece between added tokens normalized on its own
    assert t.decode([1, 9, 3, 4]) == "hi\u00e9"
    assert t.decode([1, 9, 3, 4], skip_special_tokens=False) == "<s> hi\u00e9"  # Strip cuts one leading space only
    assert t.decode([9, 3]) == "hi\ufffd"          # a lone byte of a UTF-8 sequence: U+FFFD


def test_metaspace_style(tmp_path):
    t = load(tmp_path, metaspace())
    assert t.encode("hi hi") == [9, 9]             # "▁hi▁hi" split before each ▁
    assert t.encode(" hi") == [9]                  # already starts with ▁: nothing prepended
    assert t.encode("<s>hi") == [1, 6, 7]          # prepend_scheme "first": not after an added token
    assert t.decode([9, 9]) == "hi hi"             # the first token's ▁ dropped


def test_refusals(tmp_path):
    cases = [(("model", "type"), "WordPiece", "model 'WordPiece'"),
             (("pre_tokenizer",), {"type": "Split", "pattern": {"Regex": "x"}}, "pre_tokenizer 'Split'"),
             (("decoder",), {"type": "WordPiece"}, "decoder 'WordPiece'"),
             (("normalizer",), {"type": "BertNormalizer"}, "normalizer 'BertNormalizer'"),
             (("model", "dropout"), 0.1, "dropout"),
             (("post_processor",), {"type": "BertProcessing"}, "post_processor 'BertProcessing'")]
    for path, value, words in cases:
        s = copy.deepcopy(GPT2)
        d = s
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
        with pytest.raises(TokenizerError, match=words):
            load(tmp_path, s)
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(TokenizerError, match="bad.json"):
        Tokenizer.from_file(str(bad))
    s = copy.deepcopy(GPT2)
    s["model"]["merges"].append("h zz")
    with pytest.raises(TokenizerError, match="merge 5"):
        load(tmp_path, s)
