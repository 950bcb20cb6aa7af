"""Reference for gradient-weighted relevance (Chefer et al. 2021) on the fixture models, with
gradients from JAX's autodiff (an implementation independent of burn's).

    pip install numpy jax flax
    python3 tests/reference/make_relevance_fixtures.py

For each case: a JAX forward pass of MBT in which every attention map is multiplied by a ones
"probe"; the gradient of the explained logits with respect to the probe is A * dy/dA. The
relevance is then accumulated with plain NumPy loops: per layer, the head mean of
max(0, A * dy/dA) for each pass, placed in the joint token order (bottleneck rows averaged over
the passes that update them, zero elsewhere), and R <- R + A_bar R from R = I. Writes
tests/fixtures/mbt/<case>/relevance.npz with `classes` and `relevance`.
"""

import math
import os

import flax.serialization as fser
import jax
import jax.numpy as jnp
import json
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "mbt")
CASES = ["bottleneck_mid_token", "vanilla_mid_gap_rgb_first", "shared_mid_gmp", "late_token", "bottleneck_early_gap_chunked"]
ORDER = ["rgb", "spectrogram"]


def flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        name = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = jnp.asarray(v)
    return out


def ln(x, p, k):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + 1e-6) * p[k + "/scale"] + p[k + "/bias"]


def block(x, p, b, probe):
    a = b + "/MultiHeadDotProductAttention_0"
    y = ln(x, p, b + "/LayerNorm_0")
    q = jnp.einsum("bnd,dhk->bhnk", y, p[a + "/query/kernel"]) + p[a + "/query/bias"][None, :, None]
    k = jnp.einsum("bnd,dhk->bhnk", y, p[a + "/key/kernel"]) + p[a + "/key/bias"][None, :, None]
    v = jnp.einsum("bnd,dhk->bhnk", y, p[a + "/value/kernel"]) + p[a + "/value/bias"][None, :, None]
    probs = jax.nn.softmax(jnp.einsum("bhqk,bhnk->bhqn", q / math.sqrt(q.shape[-1]), k), -1)
    probs = probs * probe
    ctx = jnp.einsum("bhqn,bhnk->bqhk", probs, v)
    x = x + jnp.einsum("bqhk,hkd->bqd", ctx, p[a + "/out/kernel"]) + p[a + "/out/bias"]
    y = ln(x, p, b + "/LayerNorm_1")
    y = jax.nn.gelu(y @ p[b + "/MlpBlock_0/Dense_0/kernel"] + p[b + "/MlpBlock_0/Dense_0/bias"], approximate=True)
    return x + y @ p[b + "/MlpBlock_0/Dense_1/kernel"] + p[b + "/MlpBlock_0/Dense_1/bias"], probs


def tokens(cfg, p, m, x):
    fh, fw, ft = cfg["patches"]["size"]
    b = x.shape[0]
    if m == "rgb":
        t, h, w = x.shape[1] // ft, x.shape[2] // fh, x.shape[3] // fw
        x = x[:, : t * ft, : h * fh, : w * fw]
        x = x.reshape(b, t, ft, h, fh, w, fw, 3).transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, t * h * w, -1)
        return x @ p["embedding/kernel"].reshape(-1, cfg["hidden_size"]) + p["embedding/bias"]
    h, w = x.shape[1] // fh, x.shape[2] // fw
    x = x[:, : h * fh, : w * fw]
    x = x.reshape(b, h, fh, w, fw, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, h * w, -1)
    return x @ p["embedding_spectrogram/kernel"].reshape(-1, cfg["hidden_size"]) + p["embedding_spectrogram/bias"]


def forward(cfg, p, inputs, probes):
    """Returns logits and {(layer, pass): (layout, probs)} with layout = [(kind, modality, len)]."""
    fusion = cfg["modality_fusion"]
    token = cfg["classifier"] == "token"
    share = cfg.get("share_encoder", False)
    x, lay = {}, {}
    for m in fusion:
        t = tokens(cfg, p, m, inputs[m])
        segs = []
        if token:
            cls = p["cls" if (m == "rgb" or len(fusion) == 1) else "cls" + m]
            t = jnp.concatenate([jnp.broadcast_to(cls, (t.shape[0], 1, t.shape[2])), t], 1)
            segs.append(("cls", m, 1))
        segs.append(("patches", m, t.shape[1] - int(token)))
        x[m] = t + p["Transformer/posembed_input" + ("" if m == "rgb" else "_" + m) + "/pos_embedding"]
        lay[m] = segs
    bn = None
    if cfg.get("use_bottleneck"):
        bn = jnp.broadcast_to(p["bottleneck"], (x[fusion[0]].shape[0],) + p["bottleneck"].shape[1:])
    name = lambda m, l: f"Transformer/encoderblock_{l}" + ("" if m == "rgb" or share else "_" + m)
    maps, combined = {}, None
    for l in range(cfg["num_layers"]):
        if l < cfg["fusion_layer"] or len(fusion) == 1:
            for m in fusion:
                x[m], a = block(x[m], p, name(m, l), probes[(l, m)])
                maps[(l, m)] = (lay[m], a)
        elif cfg.get("use_bottleneck"):
            ups = []
            for m in fusion:
                n = x[m].shape[1]
                o, a = block(jnp.concatenate([x[m], bn], 1), p, name(m, l), probes[(l, m)])
                x[m] = o[:, :n]
                ups.append(o[:, n:])
                maps[(l, m)] = (lay[m] + [("bottleneck", None, bn.shape[1])], a)
            bn = sum(ups) / len(ups)
        elif not share:
            new = {}
            for m in fusion:
                others = [o for o in ORDER if o != m and o in fusion]
                o, a = block(jnp.concatenate([x[q] for q in others] + [x[m]], 1), p, name(m, l), probes[(l, m)])
                new[m] = o[:, -x[m].shape[1]:]
                maps[(l, m)] = (sum((lay[q] for q in others), []) + lay[m], a)
            x = new
        else:
            if combined is None:
                combined = jnp.concatenate([x[m] for m in fusion], 1)
            combined, a = block(combined, p, f"Transformer/encoderblock_{l}", probes[(l, "combined")])
            maps[(l, "combined")] = (sum((lay[m] for m in fusion), []), a)
    seq = combined if combined is not None else jnp.concatenate([x[m] for m in fusion], 1)
    enc = ln(seq, p, "Transformer/encoder_norm")

    def head(v):
        if cfg.get("representation_size"):
            v = jnp.tanh(v @ p["pre_logits/kernel"] + p["pre_logits/bias"])
        return v @ p["output_projection/kernel"] + p["output_projection/bias"]

    if token:
        logits, at = 0.0, 0
        for m in fusion:
            logits = logits + head(enc[:, at])
            at += sum(s[2] for s in lay[m])
        logits = logits / len(fusion)
    else:
        pool = {"gap": jnp.mean, "gmp": jnp.max, "gsp": jnp.sum}[cfg["classifier"]]
        logits = head(pool(enc, axis=1))
    return logits, maps


def run_case(name):
    d = os.path.join(FIXTURES, name)
    cfg = json.load(open(os.path.join(d, "config.json")))
    state = fser.msgpack_restore(open(os.path.join(d, "checkpoint.msgpack"), "rb").read())
    tree = state["params"] if "params" in state else state["optimizer"]["target"]
    p = flatten(tree)
    io = np.load(os.path.join(d, "io.npz"))
    inputs = {m: jnp.asarray(io[m]) for m in cfg["modality_fusion"]}
    # Probe shapes from a first pass.
    shapes = {}
    for key in io.files:
        if key.startswith("attn/"):
            _, layer, pass_name = key.split("/")
            shapes[(int(layer[5:]), pass_name)] = io[key].shape
    probes = {k: jnp.ones(s) for k, s in shapes.items()}
    logits, maps = forward(cfg, p, inputs, probes)
    err = np.abs(np.asarray(logits) - io["logits"]).max()
    assert err < 1e-4, f"{name}: JAX forward disagrees with the NumPy reference by {err}"
    classes = np.asarray(jnp.argmax(logits, 1))
    onehot = jax.nn.one_hot(classes, logits.shape[1])
    grads = jax.grad(lambda pr: (forward(cfg, p, inputs, pr)[0] * onehot).sum())(probes)

    # Joint order: modalities in modality_fusion order with CLS first, then the bottleneck.
    token = cfg["classifier"] == "token"
    joint = []
    for m in cfg["modality_fusion"]:
        if token:
            joint.append(("cls", m, 1))
        joint.append(("patches", m, [s for s in maps[(0, m if (0, m) in maps else "combined")][0] if s[0] == "patches" and s[1] == m][0][2]))
    if cfg.get("use_bottleneck"):
        joint.append(("bottleneck", None, p["bottleneck"].shape[1]))
    starts, at = {}, 0
    for kind, m, n in joint:
        starts[(kind, m)] = at
        at += n
    n_joint = at
    batch = logits.shape[0]
    relevance = np.zeros((batch, n_joint, n_joint))
    for b in range(batch):
        r = np.eye(n_joint)
        for layer in range(cfg["num_layers"]):
            a = np.zeros((n_joint, n_joint))
            bsum, bcount = None, 0
            for pass_name in ["rgb", "spectrogram", "combined"]:
                if (layer, pass_name) not in maps:
                    continue
                layout, _ = maps[(layer, pass_name)]
                cam = np.asarray(grads[(layer, pass_name)])[b]  # probe gradient = A * dy/dA
                cam = np.maximum(cam, 0.0).mean(0)
                pos, offs = 0, []
                for kind, m, n in layout:
                    offs.append((kind, m, pos, n))
                    pos += n
                has_bn = False
                for rk, rm, rs, rn in offs:
                    if not (pass_name == "combined" or rk == "bottleneck" or rm == pass_name):
                        continue
                    for i in range(rn):
                        row = np.zeros(n_joint)
                        for ck, cm, cs, cn in offs:
                            jc = starts[(ck, cm)]
                            for j in range(cn):
                                row[jc + j] = cam[rs + i, cs + j]
                        if rk == "bottleneck":
                            has_bn = True
                            if bsum is None:
                                bsum = np.zeros((rn, n_joint))
                            bsum[i] += row
                        else:
                            a[starts[(rk, rm)] + i] = row
                bcount += int(has_bn)
            if bsum is not None:
                jb = starts[("bottleneck", None)]
                a[jb:jb + bsum.shape[0]] = bsum / bcount
            r = r + a @ r
        relevance[b] = r
    np.savez(os.path.join(d, "relevance.npz"), classes=classes.astype(np.int32), relevance=relevance.astype(np.float32))
    print(f"{name}: classes {classes.tolist()}, relevance {relevance.shape}, max {relevance.max():.3g}")


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", False)
    for case in CASES:
        run_case(case)
