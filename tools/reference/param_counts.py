#!/usr/bin/env python3
"""Print PyTorch's parameter counts for a list of transformer configurations.

Usage (from the workspace root):

    /tmp/venv/bin/python tools/reference/param_counts.py --out tests/fixtures/param_counts.json

Each entry of the written JSON list is the configuration plus
"parameters": sum(p.numel() for p in module.parameters()) as PyTorch counts it
(and "state_dict_tensors": how many tensors module.state_dict() holds).
Every count is also checked against the closed-form formula documented in
tools/reference/README.md ("formula" in the JSON).
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn

torch.set_num_threads(1)


def attn_params(d, bias):
    # in_proj_weight [3d, d] (+ in_proj_bias [3d]) + out_proj.weight [d, d] (+ bias [d])
    return 4 * d * d + (4 * d if bias else 0)


def ff_params(d, d_ff, bias):
    return 2 * d * d_ff + ((d_ff + d) if bias else 0)


def ln_params(d, bias):
    return 2 * d if bias else d


def formula(cfg):
    d, f, b = cfg["d_model"], cfg["d_ff"], cfg["bias"]
    enc_layer = attn_params(d, b) + ff_params(d, f, b) + 2 * ln_params(d, b)
    dec_layer = 2 * attn_params(d, b) + ff_params(d, f, b) + 3 * ln_params(d, b)
    if cfg["kind"] == "encoder":
        return cfg["layers"] * enc_layer + (ln_params(d, b) if cfg["final_norm"] else 0)
    if cfg["kind"] == "decoder":
        return cfg["layers"] * dec_layer + (ln_params(d, b) if cfg["final_norm"] else 0)
    if cfg["kind"] == "transformer":
        return (cfg["encoder_layers"] * enc_layer + cfg["decoder_layers"] * dec_layer
                + 2 * ln_params(d, b))
    raise ValueError(cfg["kind"])


FORMULA_TEXT = {
    "encoder": "layers*(4d^2 + 2*d*d_ff + [bias] (9d + d_ff) | [no bias] 2d) + final_norm*(2d | d)",
    "decoder": "layers*(8d^2 + 2*d*d_ff + [bias] (15d + d_ff) | [no bias] 3d) + final_norm*(2d | d)",
    "transformer": "encoder_layers*enc_layer + decoder_layers*dec_layer + 2 final norms (2*2d | 2*d)",
}


def build(cfg):
    d, h, f = cfg["d_model"], cfg["heads"], cfg["d_ff"]
    common = dict(dim_feedforward=f, dropout=0.0, activation=cfg["activation"],
                  batch_first=True, norm_first=(cfg["norm"] == "pre"))
    if not cfg["bias"]:
        common["bias"] = False

    def final_norm():
        if not cfg["final_norm"]:
            return None
        return nn.LayerNorm(d) if cfg["bias"] else nn.LayerNorm(d, bias=False)

    if cfg["kind"] == "encoder":
        layer = nn.TransformerEncoderLayer(d, h, **common)
        return nn.TransformerEncoder(layer, cfg["layers"], norm=final_norm(),
                                     enable_nested_tensor=False)
    if cfg["kind"] == "decoder":
        layer = nn.TransformerDecoderLayer(d, h, **common)
        return nn.TransformerDecoder(layer, cfg["layers"], norm=final_norm())
    if cfg["kind"] == "transformer":
        assert cfg["final_norm"], "nn.Transformer always has encoder.norm and decoder.norm"
        return nn.Transformer(d_model=d, nhead=h, num_encoder_layers=cfg["encoder_layers"],
                              num_decoder_layers=cfg["decoder_layers"], **common)
    raise ValueError(cfg["kind"])


def enc(d, h, layers, f, *, bias=True, norm="post", final_norm=False, act="relu"):
    return {"kind": "encoder", "d_model": d, "heads": h, "layers": layers, "d_ff": f,
            "bias": bias, "norm": norm, "final_norm": final_norm, "activation": act}


CONFIGS = [
    enc(64, 4, 2, 256),
    enc(384, 12, 6, 1536),
    enc(64, 4, 2, 256, bias=False),
    enc(384, 12, 6, 1536, bias=False),
    enc(64, 4, 2, 256, norm="pre", final_norm=True),
    enc(384, 12, 6, 1536, norm="pre", final_norm=True),
    enc(64, 4, 2, 256, bias=False, norm="pre", final_norm=True),
    {"kind": "decoder", "d_model": 32, "heads": 4, "layers": 2, "d_ff": 64, "bias": True,
     "norm": "post", "final_norm": False, "activation": "relu"},
    {"kind": "decoder", "d_model": 32, "heads": 4, "layers": 2, "d_ff": 64, "bias": True,
     "norm": "post", "final_norm": True, "activation": "relu"},
    {"kind": "transformer", "d_model": 32, "heads": 4, "encoder_layers": 2, "decoder_layers": 3,
     "d_ff": 64, "bias": True, "norm": "post", "final_norm": True, "activation": "relu"},
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="tests/fixtures/param_counts.json")
    args = ap.parse_args(argv)
    results = []
    for cfg in CONFIGS:
        module = build(cfg)
        n = sum(p.numel() for p in module.parameters())
        expect = formula(cfg)
        assert n == expect, f"{cfg}: torch says {n}, formula says {expect}"
        entry = dict(cfg)
        entry["parameters"] = n
        entry["state_dict_tensors"] = len(module.state_dict())
        entry["formula"] = FORMULA_TEXT[cfg["kind"]]
        results.append(entry)
        desc = ", ".join(f"{k}={v}" for k, v in cfg.items())
        print(f"{n:>10}  {desc}")
    doc = results
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"torch {torch.__version__}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
