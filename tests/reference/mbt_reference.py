"""An independent NumPy implementation of MBT, written from the paper (Nagrani et al. 2021) and
the semantics of Scenic's `scenic/projects/mbt/model.py`, used to generate test fixtures.

Parameters use Scenic's names and Flax's shapes, e.g.
`Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel` of shape
[hidden, heads, head_dim]. Everything is computed in float64.
"""

import math

import numpy as np

SCENIC_ORDER = ["rgb", "spectrogram"]
LN_EPS = 1e-6


def layer_norm(x, p, prefix):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * p[prefix + "/scale"] + p[prefix + "/bias"]


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def softmax(x, axis=-1):
    x = x - x.max(axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis, keepdims=True)


def encoder_block(x, p, prefix):
    """Pre-LN transformer block; returns (output, attention probabilities [B, H, N, N])."""
    att = prefix + "/MultiHeadDotProductAttention_0"
    y = layer_norm(x, p, prefix + "/LayerNorm_0")
    q = np.einsum("bnd,dhk->bhnk", y, p[att + "/query/kernel"]) + p[att + "/query/bias"][None, :, None, :]
    k = np.einsum("bnd,dhk->bhnk", y, p[att + "/key/kernel"]) + p[att + "/key/bias"][None, :, None, :]
    v = np.einsum("bnd,dhk->bhnk", y, p[att + "/value/kernel"]) + p[att + "/value/bias"][None, :, None, :]
    q = q / math.sqrt(q.shape[-1])
    probs = softmax(np.einsum("bhqk,bhnk->bhqn", q, k))
    ctx = np.einsum("bhqn,bhnk->bqhk", probs, v)
    out = np.einsum("bqhk,hkd->bqd", ctx, p[att + "/out/kernel"]) + p[att + "/out/bias"]
    x = x + out
    y = layer_norm(x, p, prefix + "/LayerNorm_1")
    y = y @ p[prefix + "/MlpBlock_0/Dense_0/kernel"] + p[prefix + "/MlpBlock_0/Dense_0/bias"]
    y = gelu_tanh(y)
    y = y @ p[prefix + "/MlpBlock_0/Dense_1/kernel"] + p[prefix + "/MlpBlock_0/Dense_1/bias"]
    return x + y, probs


def temporal_sampling_indices(num_frames, n_sampled):
    """Scenic's frame picking: round(arange(s, T, s)) with s = T / (n + 1), as JAX computes it
    (length from a float64 ceil, values in float32)."""
    if n_sampled < num_frames:
        start = step = num_frames / (n_sampled + 1)
    else:
        start, step = 0.0, 1.0
    size = max(0, int(np.ceil((num_frames - start) / step)))
    values = np.float32(start) + np.float32(step) * np.arange(size, dtype=np.float32)
    idx = np.round(values).astype(np.int64)
    return np.minimum(idx, num_frames - 1)


def patchify_2d(x, fh, fw):
    """[B, H, W, C] -> [B, (H//fh)*(W//fw), fh*fw*C], patches row-major (VALID conv)."""
    b, hh, ww, c = x.shape
    h, w = hh // fh, ww // fw
    x = x[:, : h * fh, : w * fw]
    x = x.reshape(b, h, fh, w, fw, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * w, fh * fw * c)


def conv2d_valid(x, kernel, bias):
    """A direct VALID convolution with stride = kernel size, written as explicit loops over output
    positions (independent of the reshape trick): kernel [fh, fw, C, D]."""
    fh, fw, _, d = kernel.shape
    b, hh, ww, _ = x.shape
    h, w = hh // fh, ww // fw
    out = np.zeros((b, h, w, d))
    for i in range(h):
        for j in range(w):
            patch = x[:, i * fh : (i + 1) * fh, j * fw : (j + 1) * fw, :]
            out[:, i, j] = np.einsum("bxyc,xycd->bd", patch, kernel) + bias
    return out


def conv3d_valid(x, kernel, bias):
    """VALID 3-D convolution with stride = kernel size; x [B, T, H, W, C], kernel [ft, fh, fw, C, D]."""
    ft, fh, fw, _, d = kernel.shape
    b, tt, hh, ww, _ = x.shape
    t, h, w = tt // ft, hh // fh, ww // fw
    out = np.zeros((b, t, h, w, d))
    for s in range(t):
        for i in range(h):
            for j in range(w):
                patch = x[:, s * ft : (s + 1) * ft, i * fh : (i + 1) * fh, j * fw : (j + 1) * fw, :]
                out[:, s, i, j] = np.einsum("btxyc,txycd->bd", patch, kernel) + bias
    return out


def tokenize(cfg, p, modality, x):
    fh, fw = cfg["patches"]["size"][:2]
    if modality == "spectrogram":
        if x.ndim == 3:
            x = np.repeat(x[..., None], 3, axis=-1)
        out = conv2d_valid(x, p["embedding_spectrogram/kernel"], p["embedding_spectrogram/bias"])
        return out.reshape(out.shape[0], -1, out.shape[-1])
    method = cfg["temporal_encoding_config"]["method"]
    if method == "3d_conv":
        out = conv3d_valid(x, p["embedding/kernel"], p["embedding/bias"])
    else:
        idx = temporal_sampling_indices(x.shape[1], cfg["temporal_encoding_config"]["n_sampled_frames"])
        x = x[:, idx]
        b, t, h, w, c = x.shape
        out = conv2d_valid(x.reshape(b, t * h, w, c), p["embedding/kernel"], p["embedding/bias"])
    return out.reshape(out.shape[0], -1, out.shape[-1])


def forward(cfg, p, inputs):
    """Returns logits, encoded tokens and a list of (layer, pass_name, layout, probs)."""
    fusion = cfg["modality_fusion"]
    token = cfg["classifier"] == "token"
    share = cfg.get("share_encoder", False)
    use_bn = cfg.get("use_bottleneck", False)
    fusion_layer = cfg.get("fusion_layer", 0)
    x, layout = {}, {}
    for m in fusion:
        t = tokenize(cfg, p, m, inputs[m].astype(np.float64))
        segs = []
        if token:
            name = "cls" if (m == "rgb" or len(fusion) == 1) else "cls" + m
            cls = np.broadcast_to(p[name], (t.shape[0], 1, t.shape[2]))
            t = np.concatenate([cls, t], axis=1)
            segs.append(("cls", m, 1))
        segs.append(("patches", m, t.shape[1] - int(token)))
        pos = "Transformer/posembed_input" + ("" if m == "rgb" else "_" + m) + "/pos_embedding"
        x[m] = t + p[pos]
        layout[m] = segs
    batch = x[fusion[0]].shape[0]
    bottleneck = None
    if use_bn:
        bottleneck = np.broadcast_to(p["bottleneck"], (batch,) + p["bottleneck"].shape[1:])

    def block_name(m, layer):
        if m == "rgb" or share:
            return f"Transformer/encoderblock_{layer}"
        return f"Transformer/encoderblock_{layer}_{m}"

    attention = []
    combined = None
    for layer in range(cfg["num_layers"]):
        if layer < fusion_layer or len(fusion) == 1:
            for m in fusion:
                x[m], probs = encoder_block(x[m], p, block_name(m, layer))
                attention.append((layer, m, list(layout[m]), probs))
        elif use_bn:
            updates = []
            for m in fusion:
                n = x[m].shape[1]
                out, probs = encoder_block(np.concatenate([x[m], bottleneck], 1), p, block_name(m, layer))
                x[m] = out[:, :n]
                updates.append(out[:, n:])
                attention.append((layer, m, layout[m] + [("bottleneck", None, bottleneck.shape[1])], probs))
            bottleneck = np.mean(np.stack(updates, -1), -1)
        elif not share:
            new = {}
            for m in fusion:
                others = [o for o in SCENIC_ORDER if o != m and o in fusion]
                seq = np.concatenate([x[o] for o in others] + [x[m]], 1)
                out, probs = encoder_block(seq, p, block_name(m, layer))
                new[m] = out[:, -x[m].shape[1] :]
                lay = sum((layout[o] for o in others), []) + layout[m]
                attention.append((layer, m, lay, probs))
            x = new
        else:
            if combined is None:
                combined = np.concatenate([x[m] for m in fusion], 1)
            combined, probs = encoder_block(combined, p, f"Transformer/encoderblock_{layer}")
            attention.append((layer, "combined", sum((layout[m] for m in fusion), []), probs))

    seq = combined if combined is not None else np.concatenate([x[m] for m in fusion], 1)
    encoded = layer_norm(seq, p, "Transformer/encoder_norm")

    def head(v):
        if cfg.get("representation_size"):
            v = np.tanh(v @ p["pre_logits/kernel"] + p["pre_logits/bias"])
        return v @ p["output_projection/kernel"] + p["output_projection/bias"]

    if token:
        logits, at = 0.0, 0
        for m in fusion:
            logits = logits + head(encoded[:, at])
            at += sum(s[2] for s in layout[m])
        logits = logits / len(fusion)
    else:
        pool = {"gap": np.mean, "gmp": np.max, "gsp": np.sum}[cfg["classifier"]]
        logits = head(pool(encoded, axis=1))
    return logits, encoded, bottleneck, attention
