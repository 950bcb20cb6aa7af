"""Generates the model fixtures under tests/fixtures/ once (the outputs are committed).

    pip install numpy msgpack jax flax
    python3 tests/reference/make_fixtures.py

For every case: a Scenic-style config.json, a Flax checkpoint written by
`flax.serialization.msgpack_serialize` (current `params/` layout, or the older
`optimizer/target/` layout, one with Flax's chunked-array encoding forced on), and io.npz with
the inputs and the NumPy reference's logits, encoded tokens, bottleneck and attention maps.
Before writing anything, the NumPy encoder block is checked against Flax's own LayerNorm,
MultiHeadDotProductAttention, Dense and gelu with the same parameters.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import mbt_reference as ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")

HIDDEN, HEADS, MLP, LAYERS, CLASSES, BATCH = 16, 2, 32, 3, 5, 2

BASE = {
    "hidden_size": HIDDEN,
    "num_layers": LAYERS,
    "num_heads": HEADS,
    "mlp_dim": MLP,
    "num_classes": CLASSES,
    "patches": {"size": [8, 8, 2]},
    "temporal_encoding_config": {"method": "3d_conv"},
    "classifier": "gap",
    "modality_fusion": ["spectrogram", "rgb"],
    "fusion_layer": 1,
    "use_bottleneck": False,
    "n_bottlenecks": 4,
    "share_encoder": False,
    "dropout_rate": 0.1,
}

# Input geometry: rgb [B, 5, 17, 18, 3] gives 2x2x2 = 8 tubelets (VALID drops the remainder),
# spectrogram [B, 33, 16, 3] gives 4x2 = 8 patches.
DATASET = {"num_frames": 4, "crop_size": 16, "spec_shape": [32, 16], "num_spec_frames": 1}
RGB_SHAPE = (BATCH, 5, 17, 18, 3)
SPEC_SHAPE = (BATCH, 33, 16, 3)

CASES = {
    "bottleneck_mid_gap_old_layout": dict(use_bottleneck=True, layout="optimizer"),
    "bottleneck_mid_token": dict(use_bottleneck=True, n_bottlenecks=2, classifier="token"),
    "bottleneck_early_gap_chunked": dict(use_bottleneck=True, fusion_layer=0, chunked=True),
    "vanilla_early_token_repr": dict(fusion_layer=0, classifier="token", representation_size=12),
    "vanilla_mid_gap_rgb_first": dict(modality_fusion=["rgb", "spectrogram"], fusion_layer=2),
    "shared_mid_gmp": dict(share_encoder=True, classifier="gmp"),
    "shared_bottleneck_gsp": dict(share_encoder=True, use_bottleneck=True, classifier="gsp"),
    "late_token": dict(fusion_layer=LAYERS, classifier="token"),
    "rgb_only_token_temporal_sampling": dict(
        modality_fusion=["rgb"],
        classifier="token",
        temporal_encoding_config={"method": "temporal_sampling", "n_sampled_frames": 5},
    ),
    "spectrogram_only_gap_mono": dict(modality_fusion=["spectrogram"], mono=True),
    "spectrogram_only_token_shared": dict(modality_fusion=["spectrogram"], classifier="token", share_encoder=True),
    "temporal_sampling_bottleneck_token_repr": dict(
        use_bottleneck=True,
        classifier="token",
        representation_size=12,
        temporal_encoding_config={"method": "temporal_sampling", "n_sampled_frames": 5},
    ),
}


def param_shapes(cfg, rgb_tokens, spec_tokens):
    """Scenic's parameter tree (names and Flax shapes) for a config."""
    d, h, m = cfg["hidden_size"], cfg["num_heads"], cfg["mlp_dim"]
    fh, fw, ft = cfg["patches"]["size"]
    fusion = cfg["modality_fusion"]
    token = cfg["classifier"] == "token"
    shapes = {}
    if "rgb" in fusion:
        if cfg["temporal_encoding_config"]["method"] == "3d_conv":
            shapes["embedding/kernel"] = (ft, fh, fw, 3, d)
        else:
            shapes["embedding/kernel"] = (fh, fw, 3, d)
        shapes["embedding/bias"] = (d,)
        shapes["Transformer/posembed_input/pos_embedding"] = (1, rgb_tokens + token, d)
        if token:
            shapes["cls"] = (1, 1, d)
    if "spectrogram" in fusion:
        shapes["embedding_spectrogram/kernel"] = (fh, fw, 3, d)
        shapes["embedding_spectrogram/bias"] = (d,)
        shapes["Transformer/posembed_input_spectrogram/pos_embedding"] = (1, spec_tokens + token, d)
        if token:
            shapes["cls" if len(fusion) == 1 else "clsspectrogram"] = (1, 1, d)
    if cfg.get("use_bottleneck"):
        shapes["bottleneck"] = (1, cfg["n_bottlenecks"] + token, d)
    names = []
    for layer in range(cfg["num_layers"]):
        if "rgb" in fusion or cfg.get("share_encoder"):
            names.append(f"Transformer/encoderblock_{layer}")
        if "spectrogram" in fusion and not cfg.get("share_encoder"):
            names.append(f"Transformer/encoderblock_{layer}_spectrogram")
    for b in names:
        att = b + "/MultiHeadDotProductAttention_0"
        for q in ("query", "key", "value"):
            shapes[f"{att}/{q}/kernel"] = (d, h, d // h)
            shapes[f"{att}/{q}/bias"] = (h, d // h)
        shapes[f"{att}/out/kernel"] = (h, d // h, d)
        shapes[f"{att}/out/bias"] = (d,)
        for ln in ("LayerNorm_0", "LayerNorm_1"):
            shapes[f"{b}/{ln}/scale"] = (d,)
            shapes[f"{b}/{ln}/bias"] = (d,)
        shapes[f"{b}/MlpBlock_0/Dense_0/kernel"] = (d, m)
        shapes[f"{b}/MlpBlock_0/Dense_0/bias"] = (m,)
        shapes[f"{b}/MlpBlock_0/Dense_1/kernel"] = (m, d)
        shapes[f"{b}/MlpBlock_0/Dense_1/bias"] = (d,)
    shapes["Transformer/encoder_norm/scale"] = (d,)
    shapes["Transformer/encoder_norm/bias"] = (d,)
    head_in = d
    if cfg.get("representation_size"):
        r = cfg["representation_size"]
        shapes["pre_logits/kernel"] = (d, r)
        shapes["pre_logits/bias"] = (r,)
        head_in = r
    shapes["output_projection/kernel"] = (head_in, cfg["num_classes"])
    shapes["output_projection/bias"] = (cfg["num_classes"],)
    return shapes


def random_params(shapes, rng):
    params = {}
    for name, shape in shapes.items():
        if name.endswith("/scale"):
            v = 1.0 + 0.2 * rng.standard_normal(shape)
        else:
            # Larger than Scenic's initial weights, so that attention is far from uniform.
            v = rng.standard_normal(shape) * (0.5 if "kernel" in name else 0.3)
        params[name] = v.astype(np.float32)
    return params


def nest(flat):
    tree = {}
    for name, value in flat.items():
        node = tree
        parts = name.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def check_block_against_flax(rng):
    """The NumPy encoder block against Flax's modules, same parameters."""
    import flax.linen as nn
    import jax.numpy as jnp

    class Mlp(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.gelu(nn.Dense(MLP)(x))
            return nn.Dense(HIDDEN)(x)

    class Block(nn.Module):
        @nn.compact
        def __call__(self, inputs):
            x = nn.LayerNorm()(inputs)
            x = nn.MultiHeadDotProductAttention(num_heads=HEADS)(x, x)
            x = x + inputs
            y = nn.LayerNorm()(x)
            y = Mlp(name="MlpBlock_0")(y)
            return x + y

    shapes = {k[len("Transformer/encoderblock_0/"):]: v for k, v in param_shapes(
        dict(BASE, modality_fusion=["rgb"]), 8, 8).items() if k.startswith("Transformer/encoderblock_0/")}
    params = random_params(shapes, rng)
    x = rng.standard_normal((BATCH, 7, HIDDEN)).astype(np.float32)
    ours, _ = ref.encoder_block(x.astype(np.float64), {"b/" + k: v.astype(np.float64) for k, v in params.items()}, "b")
    theirs = Block().apply({"params": nest({k: jnp.asarray(v) for k, v in params.items()})}, jnp.asarray(x))
    err = np.abs(np.asarray(theirs) - ours).max()
    assert err < 1e-4, f"NumPy block disagrees with Flax by {err}"
    print(f"numpy encoder block vs flax: max abs diff {err:.2e}")


def layout_rows(layout):
    rows = []
    start = 0
    for kind, modality, length in layout:
        rows.append([{"cls": 0, "patches": 1, "bottleneck": 2}[kind],
                     {"rgb": 0, "spectrogram": 1, None: -1}[modality], start, length])
        start += length
    return np.array(rows, dtype=np.int32)


def write_case(name, spec, rng):
    import flax.serialization as fser

    spec = dict(spec)
    layout_kind = spec.pop("layout", "params")
    chunked = spec.pop("chunked", False)
    mono = spec.pop("mono", False)
    cfg = dict(BASE, **spec)
    cfg["dataset_configs"] = dict(DATASET)
    rgb_shape = RGB_SHAPE
    if cfg["temporal_encoding_config"]["method"] == "temporal_sampling":
        rgb_shape = (BATCH, 8, 16, 16, 3)
        cfg["dataset_configs"]["num_frames"] = 8
    inputs = {}
    if "rgb" in cfg["modality_fusion"]:
        inputs["rgb"] = rng.uniform(-1, 1, rgb_shape).astype(np.float32)
    if "spectrogram" in cfg["modality_fusion"]:
        spec_shape = SPEC_SHAPE[:3] if mono else SPEC_SHAPE
        inputs["spectrogram"] = rng.standard_normal(spec_shape).astype(np.float32)
    # Token counts come from the reference tokeniser itself.
    counts = {}
    for m, x in inputs.items():
        dummy = {k: np.zeros(v) for k, v in param_shapes(cfg, 1, 1).items()}
        counts[m] = ref.tokenize(cfg, dummy, m, x).shape[1]
    shapes = param_shapes(cfg, counts.get("rgb", 0), counts.get("spectrogram", 0))
    params = random_params(shapes, rng)
    logits, encoded, bottleneck, attention = ref.forward(
        cfg, {k: v.astype(np.float64) for k, v in params.items()}, inputs)

    out_dir = os.path.join(OUT, "mbt", name)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tree = nest(params)
    state = {"params": tree, "global_step": np.int64(7), "opt_state": {"0": {"count": np.int32(7)}}}
    if layout_kind == "optimizer":
        state = {"optimizer": {"target": tree, "state": {"step": np.int64(7)}}, "global_step": 7}
    old_chunk = fser.MAX_CHUNK_SIZE
    if chunked:
        fser.MAX_CHUNK_SIZE = 256  # force Flax's chunked-array encoding on the larger leaves
    try:
        blob = fser.msgpack_serialize(state)
    finally:
        fser.MAX_CHUNK_SIZE = old_chunk
    with open(os.path.join(out_dir, "checkpoint.msgpack"), "wb") as f:
        f.write(blob)
    arrays = dict(inputs)
    arrays["logits"] = logits.astype(np.float32)
    arrays["encoded"] = encoded.astype(np.float32)
    if bottleneck is not None:
        arrays["bottleneck"] = np.ascontiguousarray(bottleneck, dtype=np.float32)
    for layer, pass_name, layout, probs in attention:
        arrays[f"attn/layer{layer}/{pass_name}"] = probs.astype(np.float32)
        arrays[f"attn_layout/layer{layer}/{pass_name}"] = layout_rows(layout)
    np.savez(os.path.join(out_dir, "io.npz"), **arrays)
    print(f"{name}: {len(params)} leaves, tokens {counts}, {len(attention)} attention maps")


def temporal_sampling_table():
    import jax.numpy as jnp

    rows = []
    for num_frames in range(2, 49):
        for n in range(1, num_frames + 2):
            s = num_frames / (n + 1) if n < num_frames else None
            if s is None:
                idx = jnp.arange(0, num_frames, 1)
            else:
                idx = jnp.round(jnp.arange(s, num_frames, s)).astype(jnp.int32)
            idx = np.minimum(np.asarray(idx), num_frames - 1)
            ours = ref.temporal_sampling_indices(num_frames, n)
            assert list(ours) == [int(i) for i in idx], (num_frames, n)
            rows.append([num_frames, n, [int(i) for i in idx]])
    with open(os.path.join(OUT, "temporal_sampling.json"), "w") as f:
        json.dump(rows, f, separators=(",", ":"))
    print(f"temporal_sampling.json: {len(rows)} rows")


def main():
    rng = np.random.default_rng(20211206)
    os.makedirs(OUT, exist_ok=True)
    check_block_against_flax(rng)
    temporal_sampling_table()
    for name, spec in CASES.items():
        write_case(name, spec, rng)


if __name__ == "__main__":
    main()
