# SPDX-License-Identifier: MIT
"""Text <-> token ids through a Hugging Face tokenizer.json, in pure Python (no `tokenizers` package).

    tok = ocla.Tokenizer.from_file("checkpoints/gla-340m/tokenizer.json")
    ids = tok.encode("Hello world")          # add_special_tokens=True: the post-processor's template
    text = tok.decode(ids)                   # skip_special_tokens=True, as tokenizers' default

What it reads (the two BPE styles fla's models ship; anything else raises TokenizerError naming it):
  model          BPE (vocab, merges as "a b" strings or [a, b] pairs, unk_token, fuse_unk,
                 byte_fallback, ignore_merges); dropout, continuing_subword_prefix and
                 end_of_word_suffix are refused
  normalizer     null, Prepend, Replace (a plain string pattern), NFC, NFD, NFKC, NFKD, Lowercase, Sequence
  pre_tokenizer  null, ByteLevel (GPT-2's split, add_prefix_space, use_regex), Metaspace (replacement,
                 prepend_scheme always / first / never or the older add_prefix_space, split), Sequence
  post_processor null, ByteLevel (no change to ids), TemplateProcessing (single sequences)
  decoder        null, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
  added_tokens   matched in the raw text first (longest first; lstrip, rstrip, single_word honoured),
                 the text between them normalized and pre-tokenized piece by piece, as tokenizers does

GPT-2's split pattern ('s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+) is
written out by hand over unicodedata's categories (Python's re has no \\p{L}); \\s is str.isspace()
less U+001C..U+001F (not White_Space in Unicode, which Rust's regex follows)."""
import heapq
import json
import unicodedata

__all__ = ["Tokenizer", "TokenizerError"]


class TokenizerError(ValueError):
    """A tokenizer.json ocla cannot read: an unknown kind or option, or a malformed file."""


def _bytes_to_unicode():
    """GPT-2's byte -> printable character map (the ByteLevel alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = _bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def _is_space(c):
    return c.isspace() and not "\x1c" <= c <= "\x1f"


def _is_letter(c):
    return unicodedata.category(c)[0] == "L"


def _is_number(c):
    return unicodedata.category(c)[0] == "N"


def _is_other(c):
    return not (_is_space(c) or _is_letter(c) or _is_number(c))


_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def gpt2_split(s):
    """Split s as GPT-2's regex does (first matching alternative at each position)."""
    out, i, n = [], 0, len(s)
    while i < n:
        j = _gpt2_match(s, i, n)
        out.append(s[i:j])
        i = j
    return out


def _run(s, i, n, pred):
    while i < n and pred(s[i]):
        i += 1
    return i


def _gpt2_match(s, i, n):
    for c in _CONTRACTIONS:
        if s.startswith(c, i):
            return i + len(c)
    start = i + 1 if s[i] == " " and i + 1 < n else i
    for pred in (_is_letter, _is_number, _is_other):
        if pred(s[start]):
            return _run(s, start, n, pred)
    k = _run(s, i, n, _is_space)  # s[i] is whitespace here
    if k == n or k - 1 == i:  # \s+(?!\S) takes the run, or one short of it; else \s+ the whole run
        return k
    return k - 1


# ---- normalizers, pre-tokenizers, decoders ---------------------------------------------------
def _kind(obj, where):
    if not isinstance(obj, dict) or "type" not in obj:
        raise TokenizerError("%s: an object with a 'type' expected, got %r" % (where, obj))
    return obj["type"]


def _pattern(obj, where):
    p = obj.get("pattern")
    if not isinstance(p, dict) or "String" not in p:
        raise TokenizerError("%s: only plain String patterns are supported, got %r" % (where, p))
    return p["String"]


def _make_normalizer(obj):
    if obj is None:
        return lambda s: s
    k = _kind(obj, "normalizer")
    if k == "Sequence":
        fns = [_make_normalizer(o) for o in obj["normalizers"]]

        def seq(s):
            for f in fns:
                s = f(s)
            return s
        return seq
    if k == "Prepend":
        pre = obj["prepend"]
        return lambda s: pre + s if s else s
    if k == "Replace":
        pat, content = _pattern(obj, "normalizer Replace"), obj["content"]
        return lambda s: s.replace(pat, content)
    if k in ("NFC", "NFD", "NFKC", "NFKD"):
        return lambda s: unicodedata.normalize(k, s)
    if k == "Lowercase":
        return str.lower
    raise TokenizerError("normalizer '%s' is not supported (known: Sequence, Prepend, Replace, NFC, NFD, NFKC, "
                         "NFKD, Lowercase)" % k)


def _metaspace_prepend(obj):
    scheme = obj.get("prepend_scheme")
    if scheme is None:  # the older form
        scheme = "always" if obj.get("add_prefix_space", True) else "never"
    if scheme not in ("always", "first", "never"):
        raise TokenizerError("pre_tokenizer Metaspace: prepend_scheme '%s' (known: always, first, never)" % scheme)
    return scheme


def _make_pre_tokenizer(obj):
    """A function (pieces, first_segment) -> pieces over a list of strings."""
    if obj is None:
        return lambda pieces, first: pieces
    k = _kind(obj, "pre_tokenizer")
    if k == "Sequence":
        fns = [_make_pre_tokenizer(o) for o in obj["pretokenizers"]]

        def seq(pieces, first):
            for f in fns:
                pieces = f(pieces, first)
            return pieces
        return seq
    if k == "ByteLevel":
        prefix, use_regex = obj.get("add_prefix_space", True), obj.get("use_regex", True)

        def byte_level(pieces, first):
            out = []
            for p in pieces:
                if prefix and not p.startswith(" "):
                    p = " " + p
                for w in gpt2_split(p) if use_regex else [p]:
                    out.append("".join(BYTE_TO_CHAR[b] for b in w.encode("utf-8")))
            return out
        return byte_level
    if k == "Metaspace":
        rep, split, scheme = obj.get("replacement", "\u2581"), obj.get("split", True), _metaspace_prepend(obj)

        def metaspace(pieces, first):
            out = []
            for p in pieces:
                p = p.replace(" ", rep)
                if (scheme == "always" or (scheme == "first" and first)) and not p.startswith(rep):
                    p = rep + p
                if not split:
                    out.append(p)
                    continue
                cur = ""
                for ch in p:  # split before each replacement character, which starts the next piece
                    if ch == rep and cur:
                        out.append(cur)
                        cur = ""
                    cur += ch
                if cur:
                    out.append(cur)
            return out
        return metaspace
    raise TokenizerError("pre_tokenizer '%s' is not supported (known: ByteLevel, Metaspace, Sequence)" % k)


def _byte_fallback_decode(tokens):
    out, pending = [], []

    def flush():
        if pending:
            try:
                out.append(bytes(pending).decode("utf-8"))
            except UnicodeDecodeError:
                out.extend("\ufffd" * len(pending))
            pending.clear()
    for t in tokens:
        if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            try:
                pending.append(int(t[3:5], 16))
                continue
            except ValueError:
                pass
        flush()
        out.append(t)
    flush()
    return out


def _make_decoder(obj):
    """A function tokens -> tokens (the final text is their concatenation)."""
    if obj is None:
        return lambda toks: [" ".join(toks)]  # tokenizers joins with spaces when there is no decoder
    k = _kind(obj, "decoder")
    if k == "Sequence":
        fns = [_make_decoder(o) for o in obj["decoders"]]

        def seq(toks):
            for f in fns:
                toks = f(toks)
            return toks
        return seq
    if k == "ByteLevel":
        def byte_level(toks):
            data = bytearray()
            for t in toks:
                if all(c in CHAR_TO_BYTE for c in t):
                    data.extend(CHAR_TO_BYTE[c] for c in t)
                else:
                    data.extend(t.encode("utf-8"))
            return [data.decode("utf-8", "replace")]
        return byte_level
    if k == "Metaspace":
        rep, scheme = obj.get("replacement", "\u2581"), _metaspace_prepend(obj)

        def metaspace(toks):
            out = []
            for i, t in enumerate(toks):  # tokenizers drops the first token's replacement characters
                out.append(t.replace(rep, "" if i == 0 and scheme != "never" else " "))
            return out
        return metaspace
    if k == "Replace":
        pat, content = _pattern(obj, "decoder Replace"), obj["content"]
        return lambda toks: [t.replace(pat, content) for t in toks]
    if k == "ByteFallback":
        return _byte_fallback_decode
    if k == "Fuse":
        return lambda toks: ["".join(toks)]
    if k == "Strip":
        ch, start, stop = obj["content"], int(obj.get("start", 0)), int(obj.get("stop", 0))

        def strip(toks):
            out = []
            for t in toks:
                a, b = 0, len(t)
                while a < min(start, b) and t[a] == ch:
                    a += 1
                while b > a and len(t) - b < stop and t[b - 1] == ch:
                    b -= 1
                out.append(t[a:b])
            return out
        return strip
    raise TokenizerError("decoder '%s' is not supported (known: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, "
                         "Strip, Sequence)" % k)


# ---- the BPE model ---------------------------------------------------------------------------
class _BPE:
    def __init__(self, m):
        if m.get("type", "BPE") != "BPE":
            raise TokenizerError("model '%s' is not supported (ocla reads BPE tokenizers)" % m.get("type"))
        for opt in ("continuing_subword_prefix", "end_of_word_suffix"):
            if m.get(opt):
                raise TokenizerError("BPE option %s=%r is not supported" % (opt, m[opt]))
        if m.get("dropout"):
            raise TokenizerError("BPE dropout %r is not supported (encoding would be random)" % m["dropout"])
        self.vocab = {str(k): int(v) for k, v in m["vocab"].items()}
        self.unk = m.get("unk_token")
        self.fuse_unk = bool(m.get("fuse_unk", False))
        self.byte_fallback = bool(m.get("byte_fallback", False))
        self.ignore_merges = bool(m.get("ignore_merges", False))
        self.merges = {}  # (id a, id b) -> (rank, id of a + b)
        for rank, mg in enumerate(m.get("merges", [])):
            a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
            if a not in self.vocab or b not in self.vocab or a + b not in self.vocab:
                raise TokenizerError("BPE merge %d (%r, %r): a part or the result is not in the vocab" % (rank, a, b))
            self.merges.setdefault((self.vocab[a], self.vocab[b]), (rank, self.vocab[a + b]))

    def _symbols(self, word):
        syms, unk_prev = [], False
        for ch in word:
            if ch in self.vocab:
                syms.append(self.vocab[ch])
                unk_prev = False
                continue
            if self.byte_fallback:
                bt = ["<0x%02X>" % b for b in ch.encode("utf-8")]
                if all(t in self.vocab for t in bt):
                    syms.extend(self.vocab[t] for t in bt)
                    unk_prev = False
                    continue
            if self.unk is None:
                continue  # dropped, as tokenizers does
            if self.unk not in self.vocab:
                raise TokenizerError("unk_token %r is not in the vocab" % self.unk)
            if not (self.fuse_unk and unk_prev):
                syms.append(self.vocab[self.unk])
            unk_prev = True
        return syms

    def encode_word(self, word):
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        syms = self._symbols(word)
        n = len(syms)
        if n < 2:
            return syms
        # merge the lowest-ranked pair first (the leftmost among equals), as tokenizers does
        nxt, prv, alive = list(range(1, n + 1)), list(range(-1, n - 1)), [True] * n
        heap = []
        for i in range(n - 1):
            m = self.merges.get((syms[i], syms[i + 1]))
            if m:
                heap.append((m[0], i, syms[i], syms[i + 1]))
        heapq.heapify(heap)
        while heap:
            rank, i, a, b = heapq.heappop(heap)
            j = nxt[i] if alive[i] else n
            if j >= n or syms[i] != a or syms[j] != b:
                continue  # stale
            syms[i] = self.merges[(a, b)][1]
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] < n:
                prv[nxt[j]] = i
            for left, right in ((prv[i], i), (i, nxt[i])):
                if left >= 0 and right < n:
                    m = self.merges.get((syms[left], syms[right]))
                    if m:
                        heapq.heappush(heap, (m[0], left, syms[left], syms[right]))
        return [syms[i] for i in range(n) if alive[i]]


# ---- the tokenizer ---------------------------------------------------------------------------
class Tokenizer:
    """A tokenizer.json (see the module's docstring for what is read)."""

    def __init__(self, spec):
        if not isinstance(spec, dict) or "model" not in spec:
            raise TokenizerError("not a tokenizer.json: no 'model'")
        if spec.get("truncation") or spec.get("padding"):
            raise TokenizerError("truncation and padding settings are not supported")
        self.model = _BPE(spec["model"])
        self.normalize = _make_normalizer(spec.get("normalizer"))
        self.pre_tokenize = _make_pre_tokenizer(spec.get("pre_tokenizer"))
        self.decoder = _make_decoder(spec.get("decoder"))
        self.added = []  # (content, id, special, lstrip, rstrip, single_word), longest first
        self.id_to_token = {v: k for k, v in self.model.vocab.items()}
        self.special_ids = set()
        for t in spec.get("added_tokens") or []:
            tid, content = int(t["id"]), t["content"]
            self.added.append((content, tid, bool(t.get("special")), bool(t.get("lstrip")), bool(t.get("rstrip")),
                               bool(t.get("single_word"))))
            self.id_to_token[tid] = content
            if t.get("special"):
                self.special_ids.add(tid)
        self.added.sort(key=lambda a: -len(a[0]))
        self.template = self._template(spec.get("post_processor"))

    @classmethod
    def from_file(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                spec = json.load(f)
        except (OSError, ValueError) as e:
            raise TokenizerError("%s: %s" % (path, e)) from None
        try:
            return cls(spec)
        except (KeyError, TypeError, AttributeError) as e:
            raise TokenizerError("%s: malformed (%s: %s)" % (path, type(e).__name__, e)) from None
        except TokenizerError as e:
            raise TokenizerError("%s: %s" % (path, e)) from None

    @property
    def vocab_size(self):
        return max(self.id_to_token) + 1 if self.id_to_token else 0

    def token_to_id(self, token):
        for content, tid, *_ in self.added:
            if content == token:
                return tid
        return self.model.vocab.get(token)

    def _template(self, obj):
        if obj is None:
            return None
        k = _kind(obj, "post_processor")
        if k == "Sequence":
            ts = [self._template(o) for o in obj["processors"]]
            ts = [t for t in ts if t is not None]
            if len(ts) > 1:
                raise TokenizerError("post_processor Sequence with more than one TemplateProcessing")
            return ts[0] if ts else None
        if k == "ByteLevel":
            return None  # offsets only
        if k != "TemplateProcessing":
            raise TokenizerError("post_processor '%s' is not supported (known: TemplateProcessing, ByteLevel, "
                                 "Sequence)" % k)
        items = []
        for it in obj["single"]:
            if "Sequence" in it:
                items.append(None)
            else:
                name = it["SpecialToken"]["id"]
                items.extend(int(i) for i in obj["special_tokens"][name]["ids"])
        return items

    # -- encode
    def _split_added(self, text):
        """[(piece, added id or None)]: the added tokens found in the raw text, the rest between them."""
        out, i, start, n = [], 0, 0, len(text)
        while i < n:
            hit = None
            for content, tid, _, lstrip, rstrip, single in self.added:
                if content and text.startswith(content, i):
                    e = i + len(content)
                    if single and ((i > 0 and _word(text[i - 1])) or (e < n and _word(text[e]))):
                        continue
                    hit = (content, tid, lstrip, rstrip, e)
                    break
            if hit is None:
                i += 1
                continue
            _, tid, lstrip, rstrip, e = hit
            b = i
            if lstrip:
                while b > start and _is_space(text[b - 1]):
                    b -= 1
            if rstrip:
                while e < n and _is_space(text[e]):
                    e += 1
            if b > start:
                out.append((text[start:b], None))
            out.append((None, tid))
            start = i = e
        if start < n:
            out.append((text[start:], None))
        return out

    def encode(self, text, add_special_tokens=True):
        """Token ids of text (a list of ints)."""
        ids, first = [], True
        for piece, tid in self._split_added(text):
            if tid is not None:
                ids.append(tid)
                first = False
                continue
            norm = self.normalize(piece)
            if not norm:
                continue
            for word in self.pre_tokenize([norm], first):
                ids.extend(self.model.encode_word(word))
            first = False
        if add_special_tokens and self.template is not None:
            out = []
            for it in self.template:
                out.extend(ids if it is None else [it])
            ids = out
        return ids

    # -- decode
    def decode(self, ids, skip_special_tokens=True):
        """The text of ids (any iterable of ints)."""
        toks = []
        for i in ids:
            i = int(i)
            if skip_special_tokens and i in self.special_ids:
                continue
            if i not in self.id_to_token:
                raise TokenizerError("token id %d is not in the vocabulary" % i)
            toks.append(self.id_to_token[i])
        return "".join(self.decoder(toks))


def _word(c):
    return c.isalnum() or c == "_"
