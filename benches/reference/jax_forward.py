"""Peer benchmark: the same MBT forward pass in JAX (jit-compiled by XLA, CPU), with random
weights of the same shapes, as a researcher would otherwise run it.

    pip install jax flax numpy
    python3 benches/reference/jax_forward.py --config small --runs 3

Prints `PEER|<config>|<seconds>` (best of the runs after one compile/warm-up run).
"""

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from make_fixtures import param_shapes  # noqa: E402
import make_relevance_fixtures as relevance_reference  # noqa: E402


def load_config(name):
    with open(os.path.join(ROOT, "assets", "configs", "mbt_b_bottleneck_audioset.json")) as f:
        cfg = json.load(f)
    if name == "mbt-b-vanilla":
        cfg["use_bottleneck"] = False
    elif name == "small":
        cfg.update(hidden_size=192, num_heads=3, mlp_dim=768, num_layers=6, fusion_layer=3, num_classes=10)
        cfg["dataset_configs"].update(num_frames=8, crop_size=112, num_spec_frames=4)
    return cfg


def block(x, p, b):
    """The reference encoder block (shared with the relevance fixtures), heads fused by mean."""
    out, probs = relevance_reference.block(x, p, b, 1.0)
    return out, probs.mean(1)


def make_forward(cfg):
    fh, fw, ft = cfg["patches"]["size"]
    fusion = cfg["modality_fusion"]

    def forward(p, rgb, spec):
        b = rgb.shape[0]
        x = {}
        t, hh, ww = rgb.shape[1] // ft, rgb.shape[2] // fh, rgb.shape[3] // fw
        r = rgb.reshape(b, t, ft, hh, fh, ww, fw, 3).transpose(0, 1, 3, 5, 2, 4, 6, 7)
        r = r.reshape(b, t * hh * ww, -1) @ p["embedding/kernel"].reshape(-1, cfg["hidden_size"]) + p["embedding/bias"]
        x["rgb"] = r + p["Transformer/posembed_input/pos_embedding"]
        h2, w2 = spec.shape[1] // fh, spec.shape[2] // fw
        s = spec.reshape(b, h2, fh, w2, fw, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, h2 * w2, -1)
        s = s @ p["embedding_spectrogram/kernel"].reshape(-1, cfg["hidden_size"]) + p["embedding_spectrogram/bias"]
        x["spectrogram"] = s + p["Transformer/posembed_input_spectrogram/pos_embedding"]
        bn = jnp.broadcast_to(p["bottleneck"], (b,) + p["bottleneck"].shape[1:]) if cfg["use_bottleneck"] else None
        maps = []
        for layer in range(cfg["num_layers"]):
            names = {m: f"Transformer/encoderblock_{layer}" + ("" if m == "rgb" else "_" + m) for m in fusion}
            if layer < cfg["fusion_layer"]:
                for m in fusion:
                    x[m], a = block(x[m], p, names[m])
                    maps.append(a)
            elif cfg["use_bottleneck"]:
                ups = []
                for m in fusion:
                    n = x[m].shape[1]
                    o, a = block(jnp.concatenate([x[m], bn], 1), p, names[m])
                    x[m], _ = o[:, :n], maps.append(a)
                    ups.append(o[:, n:])
                bn = sum(ups) / len(ups)
            else:
                new = {}
                for m in fusion:
                    others = [o for o in ["rgb", "spectrogram"] if o != m]
                    o, a = block(jnp.concatenate([x[q] for q in others] + [x[m]], 1), p, names[m])
                    new[m] = o[:, -x[m].shape[1]:]
                    maps.append(a)
                x = new
        enc = relevance_reference.ln(jnp.concatenate([x[m] for m in fusion], 1), p, "Transformer/encoder_norm")
        logits = enc.mean(1) @ p["output_projection/kernel"] + p["output_projection/bias"]
        return logits, maps

    return jax.jit(forward)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="small")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cfg = load_config(args.config)
    ds = cfg["dataset_configs"]
    fh, fw, ft = cfg["patches"]["size"]
    rgb_tokens = (ds["num_frames"] // ft) * (ds["crop_size"] // fh) * (ds["crop_size"] // fw)
    spec_t = ds["spec_shape"][0] * ds["num_spec_frames"]
    spec_tokens = (spec_t // fh) * (ds["spec_shape"][1] // fw)
    rng = np.random.default_rng(1)
    params = {k: jnp.asarray(rng.standard_normal(s).astype(np.float32) * 0.02)
              for k, s in param_shapes(cfg, rgb_tokens, spec_tokens).items()}
    rgb = jnp.asarray(rng.uniform(-1, 1, (1, ds["num_frames"], ds["crop_size"], ds["crop_size"], 3)).astype(np.float32))
    spec = jnp.asarray(rng.standard_normal((1, spec_t, ds["spec_shape"][1], 3)).astype(np.float32))
    forward = make_forward(cfg)
    best = float("inf")
    for run in range(args.runs + 1):
        start = time.perf_counter()
        jax.block_until_ready(forward(params, rgb, spec))
        if run > 0:
            best = min(best, time.perf_counter() - start)
    print(f"PEER|{args.config}|{best:.3f}")


if __name__ == "__main__":
    main()
