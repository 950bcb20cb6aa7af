"""Peer benchmark: MBT forward pass plus attention rollout in PyTorch (CPU), on an mbtscope model
folder's weights (model.json + model.safetensors, Scenic parameter names), as a researcher would
otherwise run it.

    pip install torch numpy
    python3 benches/reference/mbt_torch.py --model MODEL_DIR --io IO.npz --runs 3

IO.npz (written by `cargo bench --bench peer`) holds the inputs `rgb` [B,T,H,W,3] and
`spectrogram` [B,time,mel,3] and mbtscope's `logits` and `rollout_row0` (the rollout row of
the rgb classification token over the joint token order). The port is written from the paper and
Scenic's `projects/mbt/model.py` semantics: pre-LN ViT blocks, tubelet and spectrogram patch
embeddings, per-modality CLS tokens (token classifier) or global average pooling (gap), bottleneck tokens averaged over the modality passes after each
fusion layer (or vanilla cross-modal attention), token classifier averaging the CLS logits. Rollout
uses the joint token graph as mbtscope does: per layer the head-mean attention of every pass is
placed in one joint matrix (bottleneck rows: identity outside fusion layers, the mean over passes
inside), A' = 0.5 A + 0.5 I, rows renormalised, R = A' R.

Prints `PEER|<seconds>|<max |logit diff|>|<max |rollout diff|>` (best of the runs after one
warm-up run).

    python3 benches/reference/mbt_torch.py --model MODEL_DIR --train-batch 24 --runs 5

times one training step instead, as `mbtscope train` takes it and as `cargo bench --bench forward
-- --modes train-step` measures it: random inputs of the model's geometry, the forward pass
(logits only), softmax cross-entropy, backward, and an Adam update of every parameter. Prints
`PEER_TRAIN|<seconds>`.
"""

import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

ORDER = ["rgb", "spectrogram"]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']}"
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"]).copy())
    return out


def layer_norm(x, p, prefix):
    return F.layer_norm(x, x.shape[-1:], p[prefix + "/scale"], p[prefix + "/bias"], eps=1e-6)


def block(x, p, prefix):
    """Pre-LN encoder block; returns the output and the head-mean attention [B, N, N]."""
    att = prefix + "/MultiHeadDotProductAttention_0"
    b, n, d = x.shape
    y = layer_norm(x, p, prefix + "/LayerNorm_0")

    def proj(name):
        k = p[f"{att}/{name}/kernel"]  # [d, heads, hd]
        heads, hd = k.shape[1], k.shape[2]
        out = y @ k.reshape(d, heads * hd) + p[f"{att}/{name}/bias"].reshape(-1)
        return out.reshape(b, n, heads, hd).transpose(1, 2)

    q, k, v = proj("query"), proj("key"), proj("value")
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    ctx = (probs @ v).transpose(1, 2).reshape(b, n, -1)
    out_k = p[att + "/out/kernel"]
    x = x + ctx @ out_k.reshape(-1, out_k.shape[-1]) + p[att + "/out/bias"]
    y = layer_norm(x, p, prefix + "/LayerNorm_1")
    y = F.gelu(y @ p[prefix + "/MlpBlock_0/Dense_0/kernel"] + p[prefix + "/MlpBlock_0/Dense_0/bias"], approximate="tanh")
    y = y @ p[prefix + "/MlpBlock_0/Dense_1/kernel"] + p[prefix + "/MlpBlock_0/Dense_1/bias"]
    return x + y, probs.mean(1)


def tokens(cfg, p, m, x):
    fh, fw, ft = cfg["patches"]["size"]
    if m == "spectrogram":
        w = p["embedding_spectrogram/kernel"].permute(3, 2, 0, 1)  # [D, C, fh, fw]
        out = F.conv2d(x.permute(0, 3, 1, 2), w, p["embedding_spectrogram/bias"], stride=(fh, fw))
        return out.flatten(2).transpose(1, 2)
    assert cfg["temporal_encoding_config"]["method"] == "3d_conv", "the port covers tubelet embedding"
    w = p["embedding/kernel"].permute(4, 3, 0, 1, 2)  # [D, C, ft, fh, fw]
    out = F.conv3d(x.permute(0, 4, 1, 2, 3), w, p["embedding/bias"], stride=(ft, fh, fw))
    return out.flatten(2).transpose(1, 2)


def forward_rollout(cfg, p, inputs, rollout=True):
    fusion = cfg["modality_fusion"]
    token = cfg["classifier"] == "token"
    assert cfg["classifier"] in ("token", "gap") and not cfg.get("share_encoder", False)
    use_bn, fusion_layer = cfg.get("use_bottleneck", False), cfg.get("fusion_layer", 0)
    x, start, n = {}, {}, 0
    for m in fusion:
        t = tokens(cfg, p, m, inputs[m])
        if token:
            cls = p["cls" if (m == "rgb" or len(fusion) == 1) else "cls" + m].expand(t.shape[0], 1, -1)
            t = torch.cat([cls, t], 1)
        pos = "Transformer/posembed_input" + ("" if m == "rgb" else "_" + m) + "/pos_embedding"
        x[m] = t + p[pos]
        start[m] = n
        n += x[m].shape[1]
    batch = x[fusion[0]].shape[0]
    bn = p["bottleneck"].expand(batch, -1, -1) if use_bn else None
    nb = bn.shape[1] if use_bn else 0
    total = n + nb
    eye = torch.eye(total).expand(batch, total, total)
    layers = []  # A'_l of each layer, bottom first
    span = {m: range(start[m], start[m] + x[m].shape[1]) for m in fusion}

    def name(m, layer):
        return f"Transformer/encoderblock_{layer}" + ("" if m == "rgb" else "_" + m)

    for layer in range(cfg["num_layers"]):
        a = torch.zeros(batch, total, total)
        if nb:
            a[:, n:, n:] = torch.eye(nb)
        fused = layer >= fusion_layer and len(fusion) > 1
        if fused and use_bn:
            updates, bn_rows = [], []
            for m in fusion:
                k = x[m].shape[1]
                out, att = block(torch.cat([x[m], bn], 1), p, name(m, layer))
                x[m] = out[:, :k]
                updates.append(out[:, k:])
                cols = list(span[m]) + list(range(n, total))
                rows = att[:, :k]
                a[:, span[m].start : span[m].stop][:, :, cols] = rows
                bn_rows.append((att[:, k:], cols))
            bn = torch.stack(updates, -1).mean(-1)
            mean_rows = torch.zeros(batch, nb, total)
            for rows, cols in bn_rows:
                mean_rows[:, :, cols] += rows / len(bn_rows)
            a[:, n:] = mean_rows
        elif fused:
            new = {}
            for m in fusion:
                others = [o for o in ORDER if o != m and o in fusion]
                seq = torch.cat([x[o] for o in others] + [x[m]], 1)
                out, att = block(seq, p, name(m, layer))
                k = x[m].shape[1]
                new[m] = out[:, -k:]
                cols = sum((list(span[o]) for o in others), []) + list(span[m])
                a[:, span[m].start : span[m].stop][:, :, cols] = att[:, -k:]
            x = new
        else:
            for m in fusion:
                x[m], att = block(x[m], p, name(m, layer))
                a[:, span[m].start : span[m].stop, span[m].start : span[m].stop] = att
        a = 0.5 * a + 0.5 * eye
        a = a / a.sum(-1, keepdim=True)
        if rollout:
            layers.append(a)
    encoded = layer_norm(torch.cat([x[m] for m in fusion], 1), p, "Transformer/encoder_norm")
    head = lambda v: v @ p["output_projection/kernel"] + p["output_projection/bias"]  # noqa: E731
    if token:
        logits = sum(head(encoded[:, start[m]]) for m in fusion) / len(fusion)
    else:
        logits = head(encoded.mean(1))
    if not rollout:
        return logits, None
    # Row 0 of A'_L ... A'_0, as mbtscope takes it: a vector-matrix product per layer from the
    # top down (the dense product would cost N^3 a layer for one row).
    row = torch.zeros(batch, 1, total)
    row[:, 0, 0] = 1.0
    for a in reversed(layers):
        row = row @ a
    return logits, row[:, 0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--io")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--train-batch", type=int, default=0)
    args = parser.parse_args()
    with open(os.path.join(args.model, "model.json")) as f:
        cfg = json.load(f)
    cfg = cfg.get("model", cfg)
    p = read_safetensors(os.path.join(args.model, "model.safetensors"))
    if args.train_batch:
        train_step(cfg, p, args.train_batch, args.runs)
        return
    io = np.load(args.io)
    inputs = {m: torch.from_numpy(io[m].astype(np.float32)) for m in cfg["modality_fusion"]}
    best = float("inf")
    with torch.inference_mode():
        for run in range(args.runs + 1):
            t0 = time.perf_counter()
            logits, row = forward_rollout(cfg, p, inputs)
            elapsed = time.perf_counter() - t0
            if run > 0:
                best = min(best, elapsed)
    dl = float(np.abs(logits.numpy() - io["logits"]).max())
    dr = float(np.abs(row.numpy() - io["rollout_row0"]).max())
    print(f"PEER|{best:.4f}|{dl:.3g}|{dr:.3g}", flush=True)


def train_step(cfg, p, batch, runs):
    d = cfg["dataset_configs"]
    frames, crop = d["num_frames"], d["crop_size"]
    time_steps, mel = d["spec_shape"][0] * d["num_spec_frames"], d["spec_shape"][1]
    torch.manual_seed(0)
    inputs = {
        "rgb": torch.rand(batch, frames, crop, crop, 3) * 2 - 1,
        "spectrogram": torch.randn(batch, time_steps, mel, 3),
    }
    params = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    optim = torch.optim.Adam(params.values(), lr=1e-4)
    labels = torch.arange(batch) % cfg["num_classes"]
    best = float("inf")
    for run in range(runs + 1):
        t0 = time.perf_counter()
        optim.zero_grad()
        logits, _ = forward_rollout(cfg, params, inputs, rollout=False)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optim.step()
        elapsed = time.perf_counter() - t0
        if run > 0:
            best = min(best, elapsed)
    print(f"PEER_TRAIN|{best:.4f}", flush=True)


if __name__ == "__main__":
    main()
