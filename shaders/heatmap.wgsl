// A video frame with an explanation heatmap over it. The heatmap arrives normalised to [0, 1]
// at patch resolution; it is upsampled (bilinear or nearest), thresholded, coloured through a
// 256-entry colormap table and blended over the frame. src/render/mod.rs does the same on the
// CPU for exports; a test holds the two to the same pixels.

struct Params {
    // Where the model's crop lies in the frame: u0, v0, u1, v1.
    crop: vec4<f32>,
    opacity: f32,
    threshold: f32,
    // Row of the colormap table: turbo, viridis, inferno, jet, rdbu.
    colormap: u32,
    // 1: bilinear upsampling, 0: nearest (patches visible).
    bilinear: u32,
    heat_size: vec2<u32>,
    // 0: frame only.
    show_heat: u32,
    _pad: u32,
};

@group(0) @binding(0) var frame_tex: texture_2d<f32>;
@group(0) @binding(1) var frame_sampler: sampler;
@group(0) @binding(2) var heat_tex: texture_2d<f32>;
@group(0) @binding(3) var lut_tex: texture_2d<f32>;
@group(0) @binding(4) var<uniform> params: Params;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// A quad over the whole viewport (the paint callback's rectangle), as a 4-vertex strip.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VsOut {
    let uv = vec2<f32>(f32(index & 1u), f32(index >> 1u));
    var out: VsOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

fn heat_texel(x: i32, y: i32) -> f32 {
    let size = vec2<i32>(params.heat_size);
    let at = clamp(vec2<i32>(x, y), vec2<i32>(0, 0), size - vec2<i32>(1, 1));
    return textureLoad(heat_tex, at, 0).r;
}

// Texel centres at (i + 0.5) / size, clamped at the edges. Both upsamplings are computed and
// one is selected: this shader has no branch on its parameters. lavapipe (Mesa's software
// Vulkan) specialises a shader on every uniform value its control flow depends on and, in the
// Mesa that Debian 12 ships, compiles that specialisation again whenever the bound uniforms
// change, so a branch here cost an LLVM compile on every repaint.
fn sample_heat(uv: vec2<f32>) -> f32 {
    let size = vec2<f32>(params.heat_size);
    let n = vec2<i32>(floor(uv * size));
    let nearest = heat_texel(n.x, n.y);
    let p = uv * size - vec2<f32>(0.5, 0.5);
    let p0 = floor(p);
    let f = p - p0;
    let i = vec2<i32>(p0);
    let top = heat_texel(i.x, i.y) * (1.0 - f.x) + heat_texel(i.x + 1, i.y) * f.x;
    let bottom = heat_texel(i.x, i.y + 1) * (1.0 - f.x) + heat_texel(i.x + 1, i.y + 1) * f.x;
    let bilinear = top * (1.0 - f.y) + bottom * f.y;
    return select(nearest, bilinear, params.bilinear != 0u);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let frame = textureSample(frame_tex, frame_sampler, in.uv).rgb;
    let c = params.crop;
    let inside = (in.uv.x >= c.x) & (in.uv.x < c.z) & (in.uv.y >= c.y) & (in.uv.y < c.w);
    // Outside the crop the heat coordinates leave [0, 1]; the texel reads clamp, and the
    // result is not used there.
    let v = clamp(sample_heat((in.uv - c.xy) / (c.zw - c.xy)), 0.0, 1.0);
    let colour = textureLoad(lut_tex, vec2<i32>(i32(round(v * 255.0)), i32(params.colormap)), 0).rgb;
    let a = clamp(params.opacity, 0.0, 1.0);
    let blended = frame * (1.0 - a) + colour * a;
    let heat_here = (params.show_heat != 0u) & inside & (v >= params.threshold);
    return vec4<f32>(select(frame, blended, heat_here), 1.0);
}
