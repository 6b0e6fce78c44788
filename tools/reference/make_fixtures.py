#!/usr/bin/env python3
"""Write small PyTorch reference fixtures for the Rust `transformer!` tests.

Usage (from the workspace root):

    /tmp/venv/bin/python tools/reference/make_fixtures.py --out tests/fixtures

For every case this writes three files into --out:

    <case>.weights.safetensors  module.state_dict(), PyTorch names, float32
    <case>.io.safetensors       inputs / outputs / masks, all float32
    <case>.json                 configuration + description of every tensor

The run is deterministic: each case seeds torch from a fixed per-case seed
(a deterministic search over a few seeds picks weights/inputs for which every
parameter entry influences the output, e.g. no ReLU unit is dead on all tokens),
computes on the CPU in float32 with one thread, in eval mode, dropout=0, with
the MHA "fast path" disabled (so the plain math path of
F.multi_head_attention_forward is used).

After writing, every case is re-checked by an independent float64 NumPy
implementation that reads only the written files (weights + io + json), so the
JSON/README description is proven sufficient to reproduce the outputs.  The
largest deviation is recorded as `float64_reference_max_abs_diff` in the JSON.

See tools/reference/README.md for the conventions.
"""

import argparse
import json
import math
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file as np_load_file
from safetensors.torch import save_file

SCHEMA_VERSION = 1
BASE_SEED = 20240601

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
if hasattr(torch.backends, "mha") and hasattr(torch.backends.mha, "set_fastpath_enabled"):
    torch.backends.mha.set_fastpath_enabled(False)
    FASTPATH_DISABLED = True
else:  # very old torch: the fast path is only taken in some cases anyway
    FASTPATH_DISABLED = False


INIT_DESCRIPTION = (
    "default PyTorch init, then every parameter overwritten from the seeded "
    "generator: 2-D weight matrices W[out,in] ~ U(-sqrt(3/in), sqrt(3/in)) "
    "(variance 1/in); biases of Linear / MultiheadAttention ~ U(-0.3, 0.3); "
    "LayerNorm weight ~ U(0.5, 1.5); LayerNorm bias ~ U(-0.5, 0.5). ReLU models: "
    "then, layer by layer, linear1.bias[j] = -t_j with t_j ~ U(q25, q75) of unit j's "
    "pre-bias activations over the fixture's (valid) tokens, so every ReLU unit is "
    "clamped on some tokens and active on others"
)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def case_seed(name):
    return BASE_SEED + (zlib.crc32(name.encode()) & 0xFFFF)


def randomise_(module):
    """Overwrite every parameter so that each one matters and outputs are O(1)."""
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, nn.LayerNorm):
                if mod.weight is not None:
                    nn.init.uniform_(mod.weight, 0.5, 1.5)
                if mod.bias is not None:
                    nn.init.uniform_(mod.bias, -0.5, 0.5)
                continue
            for _, p in mod.named_parameters(recurse=False):
                if p.dim() == 2:
                    bound = math.sqrt(3.0 / p.shape[1])
                    nn.init.uniform_(p, -bound, bound)
                elif p.dim() == 1:
                    nn.init.uniform_(p, -0.3, 0.3)
                else:
                    raise ValueError(f"unexpected parameter shape {tuple(p.shape)}")


def calibrate_relu_(module, fwd, valid=None):
    """Re-draw linear1.bias of ReLU feed-forward blocks from the fixture data.

    With few, correlated tokens a randomly biased ReLU unit is often negative
    (dead) or positive (plain linear) on every token, so part of the weights
    would not be tested.  For each ReLU linear1 in execution order, the bias of
    unit j becomes -t_j with t_j ~ U(q25, q75) of that unit's pre-bias
    activations over the (valid) fixture tokens: every unit is then clamped on
    some tokens and passes on others.  valid: optional [batch, len] 0/1 mask of
    the tokens that count.  Uses the global (seeded) torch generator.  Without
    biases (bias=False) nothing is changed; the seed search covers that case.
    """
    lin1 = [m.linear1 for m in module.modules()
            if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer))
            and m.activation is F.relu and m.linear1.bias is not None]
    for k, lin in enumerate(lin1):
        seen = []
        handles = [l.register_forward_hook(lambda m, i, o: seen.append((m, o)))
                   for l in lin1]
        with torch.no_grad():
            fwd(module)
        for h in handles:
            h.remove()
        mod, out = seen[k]
        assert mod is lin
        pre = out - lin.bias  # [batch, len, d_ff]
        if valid is not None:
            pre = pre[valid.bool()]
        pre = pre.reshape(-1, pre.shape[-1])
        q25 = torch.quantile(pre, 0.25, dim=0)
        q75 = torch.quantile(pre, 0.75, dim=0)
        t = q25 + (q75 - q25) * torch.rand(q25.shape)
        with torch.no_grad():
            lin.bias.copy_(-t)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def causal_01(n):
    """float32 [n, n], 1.0 where attention is forbidden (key j > query i)."""
    return torch.triu(torch.ones(n, n, dtype=torch.float32), diagonal=1)


def square_subsequent_mask(n):
    # nn.Transformer.generate_square_subsequent_mask is a staticmethod in
    # torch >= 2.1 (instance method before).
    try:
        return nn.Transformer.generate_square_subsequent_mask(n)
    except TypeError:
        return torch.triu(torch.full((n, n), float("-inf")), diagonal=1)


class LayerRecorder:
    """Forward hooks that capture each layer's output (before any final norm)."""

    def __init__(self, layers, prefix):
        self.outputs = []
        self.prefix = prefix
        self.handles = [l.register_forward_hook(self._hook) for l in layers]

    def _hook(self, _mod, _inp, out):
        self.outputs.append(out.detach().clone())

    def reset(self):
        self.outputs = []

    def remove(self):
        for h in self.handles:
            h.remove()

    def tensors(self):
        return {f"{self.prefix}{i}": t for i, t in enumerate(self.outputs)}


def f32(t):
    return t.detach().to(torch.float32).contiguous().clone()


def enc_layer(d, heads, d_ff, norm, act, eps, bias=True):
    kw = dict(d_model=d, nhead=heads, dim_feedforward=d_ff, dropout=0.0,
              activation=act, layer_norm_eps=eps, batch_first=True,
              norm_first=(norm == "pre"))
    if not bias:
        kw["bias"] = False
    return nn.TransformerEncoderLayer(**kw)


def dec_layer(d, heads, d_ff, norm, act, eps, bias=True):
    kw = dict(d_model=d, nhead=heads, dim_feedforward=d_ff, dropout=0.0,
              activation=act, layer_norm_eps=eps, batch_first=True,
              norm_first=(norm == "pre"))
    if not bias:
        kw["bias"] = False
    return nn.TransformerDecoderLayer(**kw)


def final_layer_norm(d, eps, bias=True):
    if bias:
        return nn.LayerNorm(d, eps=eps)
    return nn.LayerNorm(d, eps=eps, bias=False)


# --------------------------------------------------------------------------
# case definitions: each returns (module, config dict, io dict of tensors,
# io description dict)
# --------------------------------------------------------------------------

def base_config(kind, d, heads, d_ff, norm, act, eps, bias, final_norm, causal):
    return {
        "kind": kind,
        "d_model": d,
        "heads": heads,
        "d_head": d // heads,
        "d_ff": d_ff,
        "norm": norm,
        "activation": act,
        "eps": eps,
        "bias": bias,
        "final_norm": final_norm,
        "causal": causal,
        "batch_first": True,
    }


def build_encoder(cfg, layers):
    layer = enc_layer(cfg["d_model"], cfg["heads"], cfg["d_ff"], cfg["norm"],
                      cfg["activation"], cfg["eps"], cfg["bias"])
    norm = final_layer_norm(cfg["d_model"], cfg["eps"], cfg["bias"]) if cfg["final_norm"] else None
    return nn.TransformerEncoder(layer, num_layers=layers, norm=norm,
                                 enable_nested_tensor=False)


def build_decoder(cfg, layers):
    layer = dec_layer(cfg["d_model"], cfg["heads"], cfg["d_ff"], cfg["norm"],
                      cfg["activation"], cfg["eps"], cfg["bias"])
    norm = final_layer_norm(cfg["d_model"], cfg["eps"], cfg["bias"]) if cfg["final_norm"] else None
    return nn.TransformerDecoder(layer, num_layers=layers, norm=norm)


def simple_encoder_case(name, seed, *, d, heads, d_ff, layers, norm, act, eps, bias,
                        final_norm, n, causal=False, prefix=None):
    cfg = base_config("encoder", d, heads, d_ff, norm, act, eps, bias, final_norm, causal)
    cfg["layers"] = layers
    torch.manual_seed(seed)
    module = build_encoder(cfg, layers)
    randomise_(module)
    module.eval()
    src = torch.randn(1, n, d)
    if act == "relu" and n > 1:
        if causal:
            calibrate_relu_(module, lambda m: m(src, mask=square_subsequent_mask(n), is_causal=True))
        else:
            calibrate_relu_(module, lambda m: m(src))
    rec = LayerRecorder(module.layers, "hidden_")
    with torch.no_grad():
        if causal:
            mask = square_subsequent_mask(n)
            out = module(src, mask=mask, is_causal=True)
            hidden = rec.tensors()
            rec.reset()
            # cross-check: the explicit additive mask without the is_causal hint
            out_plain = module(src, mask=mask)
            assert torch.allclose(out, out_plain, atol=1e-6), "is_causal path differs"
            rec.reset()
        else:
            out = module(src)
            hidden = rec.tensors()
            rec.reset()
    rec.remove()
    io = {"src": src, "out": out}
    desc = {
        "src": "input, [batch, src_len, d_model]",
        "out": "module output (after the final norm if final_norm), [batch, src_len, d_model]",
    }
    for k, v in hidden.items():
        io[k] = v
        desc[k] = (f"output of encoder layer {k.split('_')[-1]} "
                   "(before the final norm), [batch, src_len, d_model]")
    if causal:
        io["src_mask"] = causal_01(n)
        desc["src_mask"] = ("causal self-attention mask as float32 0/1, [src_len, src_len]: "
                            "1 = query i may NOT attend key j (j > i). PyTorch was called with "
                            "mask=nn.Transformer.generate_square_subsequent_mask(n) (additive, "
                            "-inf where this is 1) and is_causal=True")
        if prefix is not None:
            with torch.no_grad():
                mask_p = square_subsequent_mask(prefix)
                out_p = module(src[:, :prefix], mask=mask_p, is_causal=True)
            assert torch.allclose(out_p, out[:, :prefix], atol=1e-5), "causal prefix mismatch"
            io[f"out_prefix{prefix}"] = out_p
            desc[f"out_prefix{prefix}"] = (f"module output when only the first {prefix} tokens of src are "
                                           f"given (causal, so equals out[:, :{prefix}] to float tolerance), "
                                           f"[batch, {prefix}, d_model]")
    cfg.update({"batch": 1, "src_len": n})
    if causal:
        fwd = lambda m: m(src, mask=square_subsequent_mask(n), is_causal=True)
    else:
        fwd = lambda m: m(src)
    return module, cfg, io, desc, fwd


def case_encoder_post_relu(name, seed):
    return simple_encoder_case(name, seed, d=16, heads=4, d_ff=24, layers=2, norm="post",
                               act="relu", eps=1e-5, bias=True, final_norm=False, n=5)


def case_encoder_pre_gelu_final_norm(name, seed):
    return simple_encoder_case(name, seed, d=16, heads=4, d_ff=24, layers=2, norm="pre",
                               act="gelu", eps=1e-6, bias=True, final_norm=True, n=7)


def case_encoder_causal(name, seed):
    # GPT-style decoder-only stack: pre-norm, GELU, final LayerNorm, causal mask.
    return simple_encoder_case(name, seed, d=16, heads=2, d_ff=32, layers=2, norm="pre",
                               act="gelu", eps=1e-5, bias=True, final_norm=True, n=6,
                               causal=True, prefix=3)


def case_odd_sizes(name, seed):
    # One token: a ReLU unit is either dead (its weights unused) or linear, so
    # GELU is used here to make every feed-forward weight matter.
    return simple_encoder_case(name, seed, d=15, heads=5, d_ff=7, layers=1, norm="post",
                               act="gelu", eps=1e-5, bias=True, final_norm=False, n=1)


def case_single_head(name, seed):
    return simple_encoder_case(name, seed, d=6, heads=1, d_ff=10, layers=1, norm="post",
                               act="gelu", eps=1e-5, bias=True, final_norm=False, n=3)


def case_no_bias(name, seed):
    # bias=False removes every Linear / MHA bias AND the LayerNorm biases.
    # Uses a final LayerNorm(bias=False) too so that key is exercised.
    return simple_encoder_case(name, seed, d=8, heads=2, d_ff=12, layers=2, norm="pre",
                               act="relu", eps=1e-5, bias=False, final_norm=True, n=4)


def case_encoder_padding_batch(name, seed):
    d, heads, d_ff, layers = 16, 4, 24, 2
    lengths = [6, 3, 1]
    B, N = len(lengths), max(lengths)
    cfg = base_config("encoder", d, heads, d_ff, "post", "relu", 1e-5, True, False, False)
    cfg["layers"] = layers
    torch.manual_seed(seed)
    module = build_encoder(cfg, layers)
    randomise_(module)
    module.eval()
    # Padded positions hold random values (not zeros) on purpose: an
    # implementation that attends to them gives a visibly wrong answer.
    src = torch.randn(B, N, d)
    pad = torch.zeros(B, N, dtype=torch.bool)
    for b, L in enumerate(lengths):
        pad[b, L:] = True
    valid = (~pad).to(torch.float32)
    calibrate_relu_(module, lambda m: m(src, src_key_padding_mask=pad), valid)
    with torch.no_grad():
        out_raw = module(src, src_key_padding_mask=pad)
        alone = [module(src[b:b + 1, :L]) for b, L in enumerate(lengths)]
    out = out_raw * valid[:, :, None]
    for b, L in enumerate(lengths):
        diff = (out[b:b + 1, :L] - alone[b]).abs().max().item()
        assert diff < 1e-5, f"batched vs alone mismatch for sequence {b}: {diff}"
    io = {
        "src": src,
        "src_key_padding_mask": pad.to(torch.float32),
        "valid_mask": valid,
        "src_lengths": torch.tensor(lengths, dtype=torch.float32),
        "out": out,
    }
    desc = {
        "src": "padded input batch, [batch, src_len, d_model]; rows at padded positions are random "
               "junk (not zeros) and must not influence any valid output",
        "src_key_padding_mask": "float32 0/1 [batch, src_len]: 1 = padding = PyTorch True = 'ignore this "
                                "key position'. Passed to PyTorch as the bool src_key_padding_mask",
        "valid_mask": "float32 0/1 [batch, src_len]: 1 = real token (= 1 - src_key_padding_mask)",
        "src_lengths": "float32 [batch]: number of real tokens per sequence (integers stored as float32)",
        "out": "module output, [batch, src_len, d_model]; rows at padded positions are set to 0.0 "
               "(PyTorch computes something there, but it is not meaningful). Compare only where "
               "valid_mask == 1",
    }
    for b, L in enumerate(lengths):
        io[f"out_alone_{b}"] = alone[b]
        desc[f"out_alone_{b}"] = (f"output of sequence {b} run alone without padding and without a mask, "
                                  f"[1, {L}, d_model]; equals out[{b}, :{L}] to float tolerance")
    cfg.update({"batch": B, "src_len": N, "src_lengths": lengths})
    fwd = lambda m: m(src, src_key_padding_mask=pad) * valid[:, :, None]
    return module, cfg, io, desc, fwd


def decoder_case(name, seed, *, d, heads, d_ff, layers, norm, act, eps, final_norm, t, m):
    cfg = base_config("decoder", d, heads, d_ff, norm, act, eps, True, final_norm, True)
    cfg["layers"] = layers
    torch.manual_seed(seed)
    module = build_decoder(cfg, layers)
    randomise_(module)
    module.eval()
    tgt = torch.randn(1, t, d)
    memory = torch.randn(1, m, d)
    if act == "relu":
        calibrate_relu_(module, lambda mod: mod(tgt, memory, tgt_mask=square_subsequent_mask(t),
                                                tgt_is_causal=True))
    rec = LayerRecorder(module.layers, "hidden_")
    with torch.no_grad():
        out = module(tgt, memory, tgt_mask=square_subsequent_mask(t), tgt_is_causal=True)
        hidden = rec.tensors()
    rec.remove()
    io = {"tgt": tgt, "memory": memory, "tgt_mask": causal_01(t), "out": out}
    desc = {
        "tgt": "decoder input, [batch, tgt_len, d_model]",
        "memory": "encoder output attended to by cross-attention (no mask), [batch, memory_len, d_model]",
        "tgt_mask": "causal self-attention mask as float32 0/1, [tgt_len, tgt_len]: 1 = query i may NOT "
                    "attend key j (j > i). PyTorch was called with tgt_mask="
                    "generate_square_subsequent_mask(tgt_len) (additive -inf) and tgt_is_causal=True",
        "out": "module output (after the final norm if final_norm), [batch, tgt_len, d_model]",
    }
    for k, v in hidden.items():
        io[k] = v
        desc[k] = (f"output of decoder layer {k.split('_')[-1]} (before the final norm), "
                   "[batch, tgt_len, d_model]")
    cfg.update({"batch": 1, "tgt_len": t, "memory_len": m})
    fwd = lambda mod: mod(tgt, memory, tgt_mask=square_subsequent_mask(t), tgt_is_causal=True)
    return module, cfg, io, desc, fwd


def case_decoder_memory(name, seed):
    return decoder_case(name, seed, d=16, heads=4, d_ff=24, layers=2, norm="post", act="relu",
                        eps=1e-5, final_norm=False, t=5, m=4)


def case_decoder_pre_gelu_final_norm(name, seed):
    return decoder_case(name, seed, d=12, heads=3, d_ff=20, layers=2, norm="pre", act="gelu",
                        eps=1e-6, final_norm=True, t=4, m=3)


def case_transformer_full(name, seed):
    d, heads, d_ff, enc_layers, dec_layers = 16, 2, 20, 2, 1
    s, t = 6, 4
    cfg = base_config("transformer", d, heads, d_ff, "post", "relu", 1e-5, True, True, True)
    cfg["encoder_layers"] = enc_layers
    cfg["decoder_layers"] = dec_layers
    torch.manual_seed(seed)
    module = nn.Transformer(d_model=d, nhead=heads, num_encoder_layers=enc_layers,
                            num_decoder_layers=dec_layers, dim_feedforward=d_ff,
                            dropout=0.0, batch_first=True)
    randomise_(module)
    module.eval()
    src = torch.randn(1, s, d)
    tgt = torch.randn(1, t, d)
    calibrate_relu_(module, lambda m: m(src, tgt, tgt_mask=square_subsequent_mask(t), tgt_is_causal=True))
    erec = LayerRecorder(module.encoder.layers, "encoder_hidden_")
    drec = LayerRecorder(module.decoder.layers, "decoder_hidden_")
    with torch.no_grad():
        out = module(src, tgt, tgt_mask=square_subsequent_mask(t), tgt_is_causal=True)
        hidden = {**erec.tensors(), **drec.tensors()}
        erec.reset(); drec.reset()
        memory = module.encoder(src)
        out2 = module.decoder(tgt, memory, tgt_mask=square_subsequent_mask(t), tgt_is_causal=True)
    erec.remove(); drec.remove()
    assert torch.allclose(out, out2, atol=1e-6)
    io = {"src": src, "tgt": tgt, "tgt_mask": causal_01(t), "memory": memory, "out": out}
    desc = {
        "src": "encoder input, [batch, src_len, d_model]",
        "tgt": "decoder input, [batch, tgt_len, d_model]",
        "tgt_mask": "causal decoder self-attention mask as float32 0/1, [tgt_len, tgt_len]: 1 = query i "
                    "may NOT attend key j (j > i). PyTorch got tgt_mask=generate_square_subsequent_mask"
                    "(tgt_len) and tgt_is_causal=True. The encoder and the cross-attention are unmasked",
        "memory": "intermediate: encoder output after encoder.norm (what the decoder cross-attends), "
                  "[batch, src_len, d_model]",
        "out": "module output after decoder.norm, [batch, tgt_len, d_model]",
    }
    for k, v in hidden.items():
        io[k] = v
        which, _, i = k.partition("_hidden_")
        ln = "src_len" if which == "encoder" else "tgt_len"
        desc[k] = f"output of {which} layer {i} (before {which}.norm), [batch, {ln}, d_model]"
    cfg["final_norm_note"] = ("nn.Transformer always has final LayerNorms encoder.norm and "
                              "decoder.norm (same eps)")
    cfg.update({"batch": 1, "src_len": s, "tgt_len": t, "memory_len": s})
    fwd = lambda m: m(src, tgt, tgt_mask=square_subsequent_mask(t), tgt_is_causal=True)
    return module, cfg, io, desc, fwd


CASES = [
    ("encoder_post_relu", case_encoder_post_relu),
    ("encoder_pre_gelu_final_norm", case_encoder_pre_gelu_final_norm),
    ("encoder_padding_batch", case_encoder_padding_batch),
    ("encoder_causal", case_encoder_causal),
    ("decoder_memory", case_decoder_memory),
    ("decoder_pre_gelu_final_norm", case_decoder_pre_gelu_final_norm),
    ("transformer_full", case_transformer_full),
    ("odd_sizes", case_odd_sizes),
    ("single_head", case_single_head),
    ("no_bias", case_no_bias),
]


# --------------------------------------------------------------------------
# independent float64 NumPy re-implementation, reading only the written files
# --------------------------------------------------------------------------

def np_layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased variance
    y = (x - mu) / np.sqrt(var + eps)
    y = y * w
    return y + b if b is not None else y


def np_gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def np_linear(x, W, b):
    y = x @ W.T
    return y + b if b is not None else y


def np_mha(xq, xkv, W, prefix, d, heads, forbid):
    """forbid: bool [.., Lq, Lk] broadcastable, True = not allowed to attend."""
    w_in = W[prefix + "in_proj_weight"]
    b_in = W.get(prefix + "in_proj_bias")
    bq = bk = bv = None
    if b_in is not None:
        bq, bk, bv = b_in[:d], b_in[d:2 * d], b_in[2 * d:]
    q = np_linear(xq, w_in[:d], bq)
    k = np_linear(xkv, w_in[d:2 * d], bk)
    v = np_linear(xkv, w_in[2 * d:], bv)
    dh = d // heads
    B, Lq, _ = q.shape
    Lk = k.shape[1]
    q = q.reshape(B, Lq, heads, dh).transpose(0, 2, 1, 3)
    k = k.reshape(B, Lk, heads, dh).transpose(0, 2, 1, 3)
    v = v.reshape(B, Lk, heads, dh).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh)
    if forbid is not None:
        s = np.where(forbid, -np.inf, s)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p = p / p.sum(-1, keepdims=True)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(B, Lq, d)
    return np_linear(o, W[prefix + "out_proj.weight"], W.get(prefix + "out_proj.bias"))


def np_ff(x, W, prefix, act):
    h = np_linear(x, W[prefix + "linear1.weight"], W.get(prefix + "linear1.bias"))
    h = np.maximum(h, 0.0) if act == "relu" else np_gelu(h)
    return np_linear(h, W[prefix + "linear2.weight"], W.get(prefix + "linear2.bias"))


def np_ln(x, W, name, eps):
    return np_layer_norm(x, W[name + ".weight"], W.get(name + ".bias"), eps)


def np_encoder_layer(x, W, p, cfg, forbid):
    d, h, eps, act = cfg["d_model"], cfg["heads"], cfg["eps"], cfg["activation"]
    if cfg["norm"] == "pre":
        y = np_ln(x, W, p + "norm1", eps)
        x = x + np_mha(y, y, W, p + "self_attn.", d, h, forbid)
        x = x + np_ff(np_ln(x, W, p + "norm2", eps), W, p, act)
    else:
        x = np_ln(x + np_mha(x, x, W, p + "self_attn.", d, h, forbid), W, p + "norm1", eps)
        x = np_ln(x + np_ff(x, W, p, act), W, p + "norm2", eps)
    return x


def np_decoder_layer(x, mem, W, p, cfg, forbid):
    d, h, eps, act = cfg["d_model"], cfg["heads"], cfg["eps"], cfg["activation"]
    if cfg["norm"] == "pre":
        y = np_ln(x, W, p + "norm1", eps)
        x = x + np_mha(y, y, W, p + "self_attn.", d, h, forbid)
        x = x + np_mha(np_ln(x, W, p + "norm2", eps), mem, W, p + "multihead_attn.", d, h, None)
        x = x + np_ff(np_ln(x, W, p + "norm3", eps), W, p, act)
    else:
        x = np_ln(x + np_mha(x, x, W, p + "self_attn.", d, h, forbid), W, p + "norm1", eps)
        x = np_ln(x + np_mha(x, mem, W, p + "multihead_attn.", d, h, None), W, p + "norm2", eps)
        x = np_ln(x + np_ff(x, W, p, act), W, p + "norm3", eps)
    return x


def np_encoder(x, W, prefix, cfg, layers, forbid, final_norm):
    for i in range(layers):
        x = np_encoder_layer(x, W, f"{prefix}layers.{i}.", cfg, forbid)
    if final_norm:
        x = np_ln(x, W, prefix + "norm", cfg["eps"])
    return x


def np_decoder(x, mem, W, prefix, cfg, layers, forbid, final_norm):
    for i in range(layers):
        x = np_decoder_layer(x, mem, W, f"{prefix}layers.{i}.", cfg, forbid)
    if final_norm:
        x = np_ln(x, W, prefix + "norm", cfg["eps"])
    return x


def verify_case(out_dir, name):
    with open(os.path.join(out_dir, name + ".json")) as f:
        cfg = json.load(f)
    W = {k: v.astype(np.float64) for k, v in
         np_load_file(os.path.join(out_dir, cfg["files"]["weights"])).items()}
    io = {k: v.astype(np.float64) for k, v in
          np_load_file(os.path.join(out_dir, cfg["files"]["io"])).items()}
    kind = cfg["kind"]
    if kind == "encoder":
        forbid = None
        if cfg["causal"]:
            forbid = io["src_mask"][None, None] > 0.5
        if "src_key_padding_mask" in io:
            forbid = (io["src_key_padding_mask"] > 0.5)[:, None, None, :]
        ref = np_encoder(io["src"], W, "", cfg, cfg["layers"], forbid, cfg["final_norm"])
        if "valid_mask" in io:
            ref = ref * io["valid_mask"][:, :, None]
    elif kind == "decoder":
        forbid = io["tgt_mask"][None, None] > 0.5
        ref = np_decoder(io["tgt"], io["memory"], W, "", cfg, cfg["layers"], forbid, cfg["final_norm"])
    elif kind == "transformer":
        mem = np_encoder(io["src"], W, "encoder.", cfg, cfg["encoder_layers"], None, True)
        d_mem = np.abs(mem - io["memory"]).max()
        assert d_mem < 1e-4, f"{name}: memory mismatch {d_mem}"
        forbid = io["tgt_mask"][None, None] > 0.5
        ref = np_decoder(io["tgt"], mem, W, "decoder.", cfg, cfg["decoder_layers"], forbid, True)
    else:
        raise ValueError(kind)
    diff = float(np.abs(ref - io["out"]).max())
    assert diff < 1e-4, f"{name}: float64 reference differs from PyTorch by {diff}"
    return diff


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

MAX_SEED_ATTEMPTS = 64

INHERENTLY_UNUSED_NOTE = (
    "Entries that can never influence the output are excluded from "
    "zero_gradient_entries: the key part in_proj_bias[d_model:2*d_model] of every "
    "attention (q.(k+b_k) shifts all scores of a query by the same amount, which "
    "softmax cancels), and, when self-attention sees a single token "
    "(single_token_self_attention), the query/key rows in_proj_weight[:2*d_model] "
    "and in_proj_bias[:2*d_model] (softmax over one key is 1)."
)


def zero_gradient_entries(module, fwd, seed, single_token_self_attention=False):
    """Which parameter entries do not influence the recorded output at all?

    Back-propagates a fixed random projection of the output and counts, per
    state_dict tensor, the entries whose gradient is exactly 0 (e.g. rows of
    linear1/linear2 belonging to a ReLU unit that is negative for every token),
    leaving out the entries that are unused for every choice of weights (see
    INHERENTLY_UNUSED_NOTE).  Uses its own generator, so fixture values are
    unaffected.
    """
    gen = torch.Generator().manual_seed(seed)
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        out = fwd(module)
        proj = torch.randn(out.shape, generator=gen)
        (out * proj).sum().backward()
    zeros = {}
    for k, p in module.named_parameters():
        if p.grad is None:
            zeros[k] = p.numel()
            continue
        is_zero = p.grad == 0
        if k.endswith("in_proj_bias") or k.endswith("in_proj_weight"):
            d = p.shape[0] // 3
            if k.endswith("in_proj_bias"):
                is_zero[d:2 * d] = False
            if single_token_self_attention and ".self_attn." in "." + k:
                is_zero[:2 * d] = False
        nz = int(is_zero.sum().item())
        if nz:
            zeros[k] = nz
    module.zero_grad(set_to_none=True)
    return zeros


def build_case(name, fn):
    """Deterministic seed search: the first seed (base, base+1000, ...) whose
    weights and inputs leave no parameter entry without influence on `out`
    (falls back to the attempt with the fewest such entries)."""
    best = None
    for attempt in range(MAX_SEED_ATTEMPTS):
        seed = case_seed(name) + 1000 * attempt
        module, cfg, io, desc, fwd = fn(name, seed)
        single = cfg["kind"] == "encoder" and cfg.get("src_len") == 1
        zeros = zero_gradient_entries(module, fwd, seed + 1, single)
        score = sum(zeros.values())
        if best is None or score < best[0]:
            best = (score, seed, attempt, module, cfg, io, desc, zeros, single)
        if score == 0:
            break
    return best[1:]


def write_case(out_dir, name, fn):
    seed, attempt, module, cfg, io, desc, zeros, single = build_case(name, fn)
    assert set(io) == set(desc), (name, set(io) ^ set(desc))
    sd = {k: f32(v) for k, v in module.state_dict().items()}
    io32 = {k: f32(v) for k, v in io.items()}
    for k, v in io32.items():
        assert torch.isfinite(v).all(), f"{name}: {k} has non-finite values"
    weights_file = f"{name}.weights.safetensors"
    io_file = f"{name}.io.safetensors"
    save_file(sd, os.path.join(out_dir, weights_file))
    save_file(io32, os.path.join(out_dir, io_file))
    for f in (weights_file, io_file):  # safetensors writes 0600
        os.chmod(os.path.join(out_dir, f), 0o644)

    doc = {"schema_version": SCHEMA_VERSION, "case": name}
    doc.update(cfg)
    doc["parameters"] = n_params(module)
    doc["state_dict_numel"] = sum(v.numel() for v in sd.values())
    doc["zero_gradient_entries"] = zeros
    doc["single_token_self_attention"] = single
    doc["inherently_unused_note"] = INHERENTLY_UNUSED_NOTE
    doc["seed"] = seed
    doc["seed_attempt"] = attempt
    doc["init"] = INIT_DESCRIPTION
    doc["torch_version"] = torch.__version__
    doc["fastpath_disabled"] = FASTPATH_DISABLED
    doc["dtype"] = "float32"
    doc["module"] = repr(module)
    doc["files"] = {"weights": weights_file, "io": io_file}
    doc["state_dict"] = {k: list(v.shape) for k, v in sd.items()}
    doc["io"] = {k: {"shape": list(io32[k].shape), "dtype": "float32", "meaning": desc[k]}
                 for k in io32}
    doc["inputs"] = [k for k in ("src", "tgt", "memory", "src_mask", "tgt_mask",
                                 "src_key_padding_mask") if k in io32 and
                     not (k == "memory" and cfg["kind"] == "transformer")]
    doc["expected_output"] = "out"
    json_path = os.path.join(out_dir, name + ".json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="tests/fixtures", help="output folder")
    ap.add_argument("--only", nargs="*", help="case names to (re)generate")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    selected = [(n, f) for n, f in CASES if not args.only or n in args.only]
    print(f"torch {torch.__version__}, fast path disabled: {FASTPATH_DISABLED}")
    for name, fn in selected:
        doc = write_case(args.out, name, fn)
        diff = verify_case(args.out, name)
        doc["float64_reference_max_abs_diff"] = diff
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"{name:32s} params={doc['parameters']:6d}  float64 ref max|diff|={diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
