//! The heatmap overlay on the GPU: `shaders/heatmap.wgsl` through wgpu. One [`OverlayRenderer`]
//! per device holds the pipeline and the colormap table; each view (a frame with its heatmap,
//! several for side by side) keeps its own textures, re-uploaded only when its frame or map
//! changes. The app draws views inside egui paint callbacks; [`render_offscreen`] draws one
//! into an image (tests, parity with the CPU exporter).

use std::collections::HashMap;

use super::{Heat, OverlayStyle, lut};

pub const SHADER: &str = include_str!("../../shaders/heatmap.wgsl");

#[repr(C)]
#[derive(Clone, Copy)]
struct Params {
    crop: [f32; 4],
    opacity: f32,
    threshold: f32,
    colormap: u32,
    smooth: u32,
    heat_size: [u32; 2],
    show_heat: u32,
    _pad: u32,
}

impl Params {
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        for v in self.crop {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.opacity.to_le_bytes());
        out.extend_from_slice(&self.threshold.to_le_bytes());
        for v in [self.colormap, self.smooth, self.heat_size[0], self.heat_size[1], self.show_heat, self._pad] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }
}

/// A frame to draw: RGB bytes and an identity (so unchanged frames are not uploaded again).
pub struct FrameRef<'a> {
    pub key: u64,
    pub width: u32,
    pub height: u32,
    pub rgb: &'a [u8],
}

/// The frame texture, shared by all views (side by side shows one frame twice).
struct SharedFrame {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    key: Option<u64>,
    /// Bumped when the texture is recreated, so that views rebuild their bind groups.
    generation: u64,
}

struct View {
    frame_generation: u64,
    heat: wgpu::Texture,
    heat_key: Option<u64>,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

pub struct OverlayRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    lut: wgpu::TextureView,
    frame: Option<SharedFrame>,
    views: HashMap<u64, View>,
    /// RGBA staging for uploads, reused between frames.
    rgba: Vec<u8>,
}

fn texture(device: &wgpu::Device, label: &str, size: (u32, u32), format: wgpu::TextureFormat) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d { width: size.0.max(1), height: size.1.max(1), depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

fn write(queue: &wgpu::Queue, texture: &wgpu::Texture, bytes: &[u8], bytes_per_row: u32) {
    let size = texture.size();
    queue.write_texture(
        wgpu::TexelCopyTextureInfo { texture, mip_level: 0, origin: wgpu::Origin3d::ZERO, aspect: wgpu::TextureAspect::All },
        bytes,
        wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(bytes_per_row), rows_per_image: Some(size.height) },
        size,
    );
}

impl OverlayRenderer {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, target: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("heatmap.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let float_texture = |binding, filterable| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("heatmap"),
            entries: &[
                float_texture(0, true),
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                float_texture(2, false),
                float_texture(3, false),
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("heatmap"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("heatmap"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState { format: target, blend: None, write_mask: wgpu::ColorWrites::ALL })],
            }),
            primitive: wgpu::PrimitiveState { topology: wgpu::PrimitiveTopology::TriangleStrip, ..Default::default() },
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("frame"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            ..Default::default()
        });
        let lut_texture = texture(device, "colormaps", (256, lut::LUT.len() as u32), wgpu::TextureFormat::Rgba8Unorm);
        let rgba: Vec<u8> = lut::LUT.iter().flat_map(|row| row.iter().flat_map(|c| [c[0], c[1], c[2], 255])).collect();
        write(queue, &lut_texture, &rgba, 256 * 4);
        Self {
            pipeline,
            layout,
            sampler,
            lut: lut_texture.create_view(&Default::default()),
            frame: None,
            views: HashMap::new(),
            rgba: Vec::new(),
        }
    }

    /// Uploads what changed for view `id`: the frame (by `frame.key`; one texture serves every
    /// view), the heatmap (by `heat_key`; `None` draws the frame alone) and the style.
    #[expect(
        clippy::too_many_arguments,
        reason = "the paint callback's wgpu handles plus what one view draws; a struct would only rename them"
    )]
    pub fn update(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        id: u64,
        frame: &FrameRef<'_>,
        heat: Option<(&Heat, u64)>,
        crop: [f32; 4],
        style: &OverlayStyle,
    ) {
        let heat_size = heat.map_or((1, 1), |(h, _)| (h.width as u32, h.height as u32));
        let frame_stale = self.frame.as_ref().is_none_or(|f| {
            let size = f.texture.size();
            (size.width, size.height) != (frame.width, frame.height)
        });
        if frame_stale {
            let texture = texture(device, "frame", (frame.width, frame.height), wgpu::TextureFormat::Rgba8Unorm);
            let view = texture.create_view(&Default::default());
            let generation = self.frame.as_ref().map_or(0, |f| f.generation + 1);
            self.frame = Some(SharedFrame { texture, view, key: None, generation });
        }
        let Some(shared) = self.frame.as_mut() else { return };
        if shared.key != Some(frame.key) {
            let rgba = &mut self.rgba;
            rgba.resize(frame.rgb.len() / 3 * 4, 255);
            for (out, p) in rgba.chunks_exact_mut(4).zip(frame.rgb.chunks_exact(3)) {
                out[..3].copy_from_slice(p);
                out[3] = 255;
            }
            write(queue, &shared.texture, rgba, frame.width * 4);
            shared.key = Some(frame.key);
        }
        let stale = self.views.get(&id).is_none_or(|v| {
            let hs = v.heat.size();
            v.frame_generation != shared.generation || (hs.width, hs.height) != heat_size
        });
        if stale {
            let heat_tex = texture(device, "heat", heat_size, wgpu::TextureFormat::R32Float);
            let uniform = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("heatmap params"),
                size: 48,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let heat_view = heat_tex.create_view(&Default::default());
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("heatmap"),
                layout: &self.layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&shared.view) },
                    wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::Sampler(&self.sampler) },
                    wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&heat_view) },
                    wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::TextureView(&self.lut) },
                    wgpu::BindGroupEntry { binding: 4, resource: uniform.as_entire_binding() },
                ],
            });
            self.views.insert(id, View { frame_generation: shared.generation, heat: heat_tex, heat_key: None, uniform, bind_group });
        }
        let Some(view) = self.views.get_mut(&id) else { return };
        if let Some((h, key)) = heat
            && view.heat_key != Some(key)
        {
            let bytes: Vec<u8> = h.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            write(queue, &view.heat, &bytes, h.width as u32 * 4);
            view.heat_key = Some(key);
        }
        let params = Params {
            crop,
            opacity: style.opacity,
            threshold: style.threshold,
            colormap: style.colormap.index(),
            smooth: u32::from(style.smooth),
            heat_size: [heat_size.0, heat_size.1],
            show_heat: u32::from(heat.is_some()),
            _pad: 0,
        };
        queue.write_buffer(&view.uniform, 0, &params.bytes());
    }

    /// Draws view `id` over the render pass's viewport.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, id: u64) {
        if let Some(view) = self.views.get(&id) {
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &view.bind_group, &[]);
            pass.draw(0..4, 0..1);
        }
    }
}

/// Draws `frame` with `heat` at the frame's own size into an RGB image, through the shader.
pub fn render_offscreen(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    frame: &FrameRef<'_>,
    heat: Option<&Heat>,
    crop: [f32; 4],
    style: &OverlayStyle,
) -> Result<Vec<u8>, String> {
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let mut renderer = OverlayRenderer::new(device, queue, format);
    renderer.update(device, queue, 0, frame, heat.map(|h| (h, 0)), crop, style);
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("offscreen"),
        size: wgpu::Extent3d { width: frame.width, height: frame.height, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = target.create_view(&Default::default());
    let row = (frame.width * 4).div_ceil(256) * 256;
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: u64::from(row * frame.height),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("offscreen"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations { load: wgpu::LoadOp::Clear(wgpu::Color::BLACK), store: wgpu::StoreOp::Store },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        renderer.paint(&mut pass, 0);
    }
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo { texture: &target, mip_level: 0, origin: wgpu::Origin3d::ZERO, aspect: wgpu::TextureAspect::All },
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(row), rows_per_image: Some(frame.height) },
        },
        target.size(),
    );
    queue.submit([encoder.finish()]);
    let slice = readback.slice(..);
    slice.map_async(wgpu::MapMode::Read, |_| {});
    let _ = device.poll(wgpu::PollType::wait_indefinitely());
    let data = slice.get_mapped_range().map_err(|e| format!("reading the rendered frame: {e}"))?;
    let mut rgb = Vec::with_capacity((frame.width * frame.height * 3) as usize);
    for y in 0..frame.height as usize {
        let line = &data[y * row as usize..y * row as usize + frame.width as usize * 4];
        rgb.extend(line.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]));
    }
    Ok(rgb)
}
