# SPDX-License-Identifier: MIT
"""Small hand-made tokenizer.json contents in the two styles ocla.tokenizer reads (test_tokenizer.py,
test_model.py). Ids are assigned by hand so that the expected encodings can be worked out on paper."""

# GPT-2 style: ByteLevel pre-tokenizer (Ġ is the byte 0x20 in GPT-2's byte alphabet) and decoder.
GPT2_VOCAB = ["h", "e", "l", "o", "\u0120", "he", "ll", "hell", "hello", "\u0120hello"]
GPT2 = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 10, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "vocab": {t: i for i, t in enumerate(GPT2_VOCAB)},
              "merges": ["h e", "l l", "he ll", "hell o", "\u0120 hello"]},
}

# Llama style: Prepend + Replace normalizer, no pre-tokenizer, byte fallback, <s> template.
LLAMA_VOCAB = ["<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", "\u2581", "h", "i", "\u2581h", "\u2581hi"]
LLAMA = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                       {"type": "Replace", "pattern": {"String": " "},
                                                        "content": "\u2581"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
              "vocab": {t: i for i, t in enumerate(LLAMA_VOCAB)}, "merges": [["\u2581", "h"], ["\u2581h", "i"]]},
}


def metaspace():
    """LLAMA with the newer Metaspace pre-tokenizer and decoder (prepend_scheme "first"), no template."""
    import copy
    s = copy.deepcopy(LLAMA)
    s["normalizer"] = None
    s["post_processor"] = None
    s["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}
    s["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return s
