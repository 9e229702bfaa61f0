"""Decoding for probes, RL rollouts and ``mtx serve``: greedy or sampled, k rows side by side with a
key/value cache, cut at a stop token or when the decoded text matches a stop pattern. The same algorithm
as core/model/generate.ts (sampleGroup), including how a context longer than the window is handled, so
greedy decoding gives the same tokens on either engine."""

import json
import re

import torch


def byte_decoder():
    """GPT-2's byte-level alphabet, reversed: the character a byte-level BPE token uses -> the byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class TextDecoder:
    """Token ids -> text for a byte-level BPE tokenizer.json (special tokens as their text)."""

    def __init__(self, tokenizer_json):
        tj = json.loads(tokenizer_json) if isinstance(tokenizer_json, (str, bytes)) else tokenizer_json
        dec = byte_decoder()
        special = {t["id"]: t["content"] for t in tj.get("added_tokens", [])}
        self.pieces = {}
        for tok, i in tj["model"]["vocab"].items():
            self.pieces[i] = special[i].encode() if i in special else bytes(dec[c] for c in tok if c in dec)

    def decode(self, ids):
        return b"".join(self.pieces.get(int(i), b"") for i in ids).decode("utf-8", errors="replace")


@torch.no_grad()
def sample_group(model, prompt, k, opts, decoder=None, device="cpu"):
    """`k` completions of one prompt (token ids), each cut at its first stop token or stop pattern."""
    window = opts.get("window") or model.cfg["contextLength"]
    temperature = opts.get("temperature") or 0.0
    stop_tokens = set(opts.get("stopTokens") or [])
    pattern = re.compile(opts["stopPattern"]) if opts.get("stopPattern") else None
    gen = torch.Generator(device="cpu").manual_seed(int(opts.get("seed") or 0)) if temperature > 0 else None
    rows = [list(prompt) for _ in range(k)]
    out = [[] for _ in range(k)]
    done = [False] * k
    # Past the window, the cache restarts from the last 3/4 window of tokens (one prefill every window/4
    # tokens): every token still sees at least 3/4 of a window of context, at cached cost.
    keep = max(1, (window * 3) // 4)
    cache = None
    fed = 0
    for _ in range(opts["maxTokens"]):
        if all(done):
            break
        n = 1
        if cache is None or fed + 1 > window:
            n = min(len(rows[0]), keep if cache is not None else window)
            cache = [None] * model.cfg["nLayers"]
            fed = 0
        ids = torch.tensor([r[-n:] for r in rows], dtype=torch.long, device=device)
        logp = model.decode_step(ids, cache, fed, window).cpu()
        fed += n
        for i in range(k):
            row = logp[i]
            if temperature > 0:
                probs = torch.softmax((row - row.max()) / temperature, -1).double()
                nxt = int(torch.multinomial(probs, 1, generator=gen)[0])
            else:
                nxt = int(torch.argmax(row))
            rows[i].append(nxt)
            if done[i]:
                continue
            if nxt in stop_tokens:
                done[i] = True
            else:
                out[i].append(nxt)
                if pattern is not None and decoder is not None and pattern.search(decoder.decode(out[i])):
                    done[i] = True
    return out


def generate(model, prompts, opts, decoder=None, device="cpu"):
    """A completion per prompt: identical prompts decode side by side, distinct ones in turn."""
    groups = {}
    for i, p in enumerate(prompts):
        groups.setdefault(tuple(p), []).append(i)
    out = [None] * len(prompts)
    for prompt, idx in groups.items():
        for i, c in zip(idx, sample_group(model, list(prompt), len(idx), opts, decoder, device)):
            out[i] = c
    return out
