//! Heatmap overlays on frames, on the CPU: the same colormap tables, normalisation, threshold,
//! upsampling and blending as `shaders/heatmap.wgsl`, so that exported images match what the
//! app draws (a test renders both and compares).

pub mod gpu;
pub mod lut;

use serde::{Deserialize, Serialize};

use crate::explain::maps::{RgbMap, TimedMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    #[default]
    Turbo,
    Viridis,
    Inferno,
    Jet,
    /// Diverging (matplotlib's RdBu reversed: blue low, near-white middle, red high): for the
    /// difference of two maps, where 0.5 means equal.
    #[value(name = "rdbu")]
    RdBu,
}

impl Colormap {
    /// The sequential colormaps, offered for a single map.
    pub const ALL: [Colormap; 4] = [Colormap::Turbo, Colormap::Viridis, Colormap::Inferno, Colormap::Jet];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Turbo => "turbo",
            Colormap::Viridis => "viridis",
            Colormap::Inferno => "inferno",
            Colormap::Jet => "jet",
            Colormap::RdBu => "rdbu",
        }
    }

    /// The shader's index for this colormap.
    pub fn index(self) -> u32 {
        self as u32
    }

    /// The table entry for `t` in [0, 1]: `round(t * 255)`, as the shader indexes it.
    pub fn eval(self, t: f32) -> [u8; 3] {
        lut::LUT[self.index() as usize][lut_index(t)]
    }
}

/// The table row for a normalised value (NaN maps to 0).
pub fn lut_index(t: f32) -> usize {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    (t * 255.0).round() as usize
}

/// How map values become [0, 1] before the colormap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Normalisation {
    /// Each frame's map spans [0, 1].
    #[default]
    Frame,
    /// One range over every analysed window of the clip.
    Clip,
    /// Per frame, with the map blended between neighbouring time slices so it does not flicker.
    Smooth,
}

/// What time span of a window's rgb map a frame shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MapSpan {
    /// The time slice (tubelet) the frame falls in: where the model looked at that moment.
    #[default]
    Slice,
    /// The window's slices summed: where it looked over the whole window, one map per window.
    /// Evidence for a sound often sits in the one slice where sound and picture coincide.
    Window,
}

/// Overlay look, shared by the app's shader and the exporter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverlayStyle {
    pub colormap: Colormap,
    /// Weight of the colormap over the frame where the map is at its maximum.
    pub opacity: f32,
    /// Normalised values below this are not drawn.
    pub threshold: f32,
    /// Bilinear upsampling of the patch map (else nearest, showing the patches).
    pub smooth: bool,
    pub normalisation: Normalisation,
    /// Settings saved before this field existed read as [`MapSpan::Slice`].
    #[serde(default)]
    pub span: MapSpan,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self {
            colormap: Colormap::Turbo,
            opacity: 0.6,
            threshold: 0.15,
            smooth: true,
            normalisation: Normalisation::Frame,
            span: MapSpan::Slice,
        }
    }
}

/// A map ready to draw: `width x height` values already normalised to [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Heat {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl Heat {
    /// Samples at `(u, v)` in [0, 1]^2 over the map, as the shader does (texel centres at
    /// `(i + 0.5) / size`, clamped at the edges).
    pub fn sample(&self, u: f32, v: f32, smooth: bool) -> f32 {
        let (w, h) = (self.width as f32, self.height as f32);
        let at = |x: i64, y: i64| {
            let x = x.clamp(0, self.width as i64 - 1) as usize;
            let y = y.clamp(0, self.height as i64 - 1) as usize;
            self.values[y * self.width + x]
        };
        if !smooth {
            return at((u * w).floor() as i64, (v * h).floor() as i64);
        }
        let (x, y) = (u * w - 0.5, v * h - 0.5);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
        let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Normalises `values` into [0, 1] with `range` (or their own min and max).
pub fn normalise(values: &[f32], range: Option<(f32, f32)>) -> Vec<f32> {
    let (lo, hi) = range.unwrap_or_else(|| value_range(values));
    let span = (hi - lo).max(1e-12);
    values.iter().map(|&v| ((v - lo) / span).clamp(0.0, 1.0)).collect()
}

pub use crate::explain::maps::value_range;

/// One time slice of an rgb map as a raw (unnormalised) plane.
pub fn slice_plane(map: &RgbMap, slice: usize) -> &[f32] {
    let plane = map.width * map.height;
    let s = slice.min(map.slices.saturating_sub(1));
    &map.values[s * plane..(s + 1) * plane]
}

/// One time slice of a map sequence: a plane of raw values shown around `time` (seconds).
#[derive(Debug, Clone)]
pub struct Slice<'a> {
    pub time: f64,
    pub width: usize,
    pub height: usize,
    pub plane: std::borrow::Cow<'a, [f32]>,
}

/// The time slices of the windows' rgb maps, in time order. With [`MapSpan::Slice`] a slice's
/// time is the middle of the frames it covers; with [`MapSpan::Window`] each window gives one
/// slice, the sum of its slices, at its centre.
pub fn rgb_slices<'a>(maps: impl IntoIterator<Item = TimedMap<'a>>, num_frames: usize, span: MapSpan) -> Vec<Slice<'a>> {
    let mut out = Vec::new();
    for r in maps {
        let map = r.map;
        match span {
            MapSpan::Slice => {
                let step = if num_frames > 1 { (r.last_frame - r.first_frame) / (num_frames - 1) as f64 } else { 0.0 };
                for (s, frames) in map.frames.iter().enumerate() {
                    let middle = (frames.start + frames.end.saturating_sub(1)) as f64 / 2.0;
                    let plane = std::borrow::Cow::Borrowed(slice_plane(map, s));
                    out.push(Slice { time: r.first_frame + step * middle, width: map.width, height: map.height, plane });
                }
            }
            MapSpan::Window => {
                let plane = std::borrow::Cow::Owned(map.summed_slices());
                out.push(Slice { time: r.centre, width: map.width, height: map.height, plane });
            }
        }
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    out
}

/// The heatmap to show at `t`: the nearest slice normalised per frame or over all slices, or
/// (smooth) the two slices around `t`, each normalised, blended linearly in time.
pub fn heat_at(slices: &[Slice<'_>], t: f64, normalisation: Normalisation) -> Option<Heat> {
    let nearest = slices.iter().min_by(|a, b| (a.time - t).abs().total_cmp(&(b.time - t).abs()))?;
    let heat = |values| Heat { width: nearest.width, height: nearest.height, values };
    match normalisation {
        Normalisation::Frame => Some(heat(normalise(&nearest.plane, None))),
        Normalisation::Clip => {
            let range =
                slices.iter().map(|s| value_range(&s.plane)).fold((f32::INFINITY, f32::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)));
            Some(heat(normalise(&nearest.plane, Some(range))))
        }
        Normalisation::Smooth => {
            let after = slices.iter().position(|s| s.time >= t);
            let (a, b) = match after {
                Some(0) | None => (nearest, nearest),
                Some(i) => (&slices[i - 1], &slices[i]),
            };
            if a.plane.len() != b.plane.len() || b.time <= a.time {
                return Some(heat(normalise(&nearest.plane, None)));
            }
            let w = ((t - a.time) / (b.time - a.time)).clamp(0.0, 1.0) as f32;
            let (na, nb) = (normalise(&a.plane, None), normalise(&b.plane, None));
            Some(heat(na.iter().zip(&nb).map(|(x, y)| x * (1.0 - w) + y * w).collect()))
        }
    }
}

/// A map value for a colour bar's ends and readouts: 4 decimals without trailing zeros, or
/// scientific notation outside [1e-3, 1e4).
pub fn short_value(v: f32) -> String {
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.3e}")
    }
}

/// The raw values that [`heat_at`] maps to 0 and 1 at `t`: the nearest slice's own range (per
/// frame; smooth blends two slices, each over its own range, and this is the nearer one's), or
/// the range over every slice (clip).
pub fn raw_range_at(slices: &[Slice<'_>], t: f64, normalisation: Normalisation) -> Option<(f32, f32)> {
    let nearest = slices.iter().min_by(|a, b| (a.time - t).abs().total_cmp(&(b.time - t).abs()))?;
    Some(match normalisation {
        Normalisation::Frame | Normalisation::Smooth => value_range(&nearest.plane),
        Normalisation::Clip => {
            slices.iter().map(|s| value_range(&s.plane)).fold((f32::INFINITY, f32::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)))
        }
    })
}

/// `b - a` of two normalised maps of the same size, mapped to [0, 1] (0.5: no difference).
pub fn difference(a: &Heat, b: &Heat) -> Option<Heat> {
    (a.values.len() == b.values.len()).then(|| Heat {
        width: a.width,
        height: a.height,
        values: a.values.iter().zip(&b.values).map(|(x, y)| 0.5 + 0.5 * (y - x)).collect(),
    })
}

/// Blends an overlay into one pixel: `frame` and the result are sRGB bytes; `heat` is the
/// normalised value at the pixel (or `None` outside the crop the model saw).
pub fn blend_pixel(frame: [u8; 3], heat: Option<f32>, style: &OverlayStyle) -> [u8; 3] {
    let Some(v) = heat else { return frame };
    if v < style.threshold {
        return frame;
    }
    let c = style.colormap.eval(v);
    let a = style.opacity.clamp(0.0, 1.0);
    let mut out = [0u8; 3];
    for ch in 0..3 {
        out[ch] = (f32::from(frame[ch]) * (1.0 - a) + f32::from(c[ch]) * a).round().clamp(0.0, 255.0) as u8;
    }
    out
}

/// Where the model's crop lies in the frame, as `[u0, v0, u1, v1]` in [0, 1].
pub fn crop_rect(mapping: &crate::features::input::CropMapping, frame_width: u32, frame_height: u32) -> [f32; 4] {
    let c = mapping.crop as f32;
    let p0 = mapping.unmap_point([0.0, 0.0]);
    let p1 = mapping.unmap_point([c, c]);
    [p0[0] / frame_width as f32, p0[1] / frame_height as f32, p1[0] / frame_width as f32, p1[1] / frame_height as f32]
}

/// Draws `heat` over an RGB frame (in place), inside `crop` (`[u0, v0, u1, v1]`).
pub fn overlay_frame(rgb: &mut [u8], width: u32, height: u32, heat: &Heat, crop: [f32; 4], style: &OverlayStyle) {
    for y in 0..height {
        for x in 0..width {
            let (u, v) = ((x as f32 + 0.5) / width as f32, (y as f32 + 0.5) / height as f32);
            let inside = u >= crop[0] && u < crop[2] && v >= crop[1] && v < crop[3];
            let value = inside.then(|| {
                let (mu, mv) = ((u - crop[0]) / (crop[2] - crop[0]), (v - crop[1]) / (crop[3] - crop[1]));
                heat.sample(mu, mv, style.smooth)
            });
            let i = ((y * width + x) * 3) as usize;
            let px = blend_pixel([rgb[i], rgb[i + 1], rgb[i + 2]], value, style);
            rgb[i..i + 3].copy_from_slice(&px);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormaps_match_matplotlib_at_known_points() {
        // matplotlib's values at 0, 0.5 and 1 (rounded to bytes).
        assert_eq!(Colormap::Viridis.eval(0.0), [68, 1, 84]);
        assert_eq!(Colormap::Viridis.eval(1.0), [253, 231, 37]);
        assert_eq!(Colormap::Inferno.eval(0.0), [0, 0, 4]);
        assert_eq!(Colormap::Jet.eval(0.5), Colormap::Jet.eval(128.0 / 255.0));
        assert_eq!(Colormap::Turbo.eval(0.0), [48, 18, 59]);
        assert_eq!(lut_index(f32::NAN), 0);
        assert_eq!(lut_index(2.0), 255);
    }

    #[test]
    fn a_window_span_sums_the_slices_into_one_map_at_the_window_centre() {
        use crate::explain::maps::RgbMap;
        // Two windows of 8 frames, 2 tubelets of 1x2 patches each; the peak moves between
        // tubelets within the first window.
        let window = |first: f64, values: Vec<f32>| (first, RgbMap { slices: 2, height: 1, width: 2, values, frames: vec![0..4, 4..8] });
        let results = [window(0.0, vec![3.0, 0.0, 0.0, 1.0]), window(1.0, vec![0.0, 2.0, 0.0, 2.0])];
        let timed =
            || results.iter().map(|(first, map)| TimedMap { first_frame: *first, last_frame: first + 0.7, centre: first + 0.5, map });
        let slices = rgb_slices(timed(), 8, MapSpan::Slice);
        assert_eq!(slices.len(), 4);
        // Frames 0-3 of the first window: the middle of frames 0 and 3 is 1.5 steps of 0.1 s.
        assert!((slices[0].time - 0.15).abs() < 1e-9);
        assert_eq!(&*slices[1].plane, &[0.0, 1.0]);
        let windows = rgb_slices(timed(), 8, MapSpan::Window);
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[0].time, &*windows[0].plane), (0.5, &[3.0, 1.0][..]));
        assert_eq!((windows[1].time, &*windows[1].plane), (1.5, &[0.0, 4.0][..]));
        // Late in the first window the slice map peaks on the right, the window map on the left.
        let at = |slices: &[Slice<'_>]| heat_at(slices, 0.6, Normalisation::Frame).unwrap().values;
        assert_eq!(at(&slices), vec![0.0, 1.0]);
        assert_eq!(at(&windows), vec![1.0, 0.0]);
    }

    #[test]
    fn sampling_hits_texel_centres_and_interpolates_between() {
        let heat = Heat { width: 2, height: 1, values: vec![0.0, 1.0] };
        assert_eq!(heat.sample(0.25, 0.5, true), 0.0);
        assert_eq!(heat.sample(0.75, 0.5, true), 1.0);
        assert!((heat.sample(0.5, 0.5, true) - 0.5).abs() < 1e-6);
        assert_eq!(heat.sample(0.49, 0.5, false), 0.0);
        assert_eq!(heat.sample(0.51, 0.5, false), 1.0);
    }

    #[test]
    fn blending_respects_threshold_and_opacity() {
        let style = OverlayStyle { opacity: 1.0, threshold: 0.5, ..OverlayStyle::default() };
        assert_eq!(blend_pixel([10, 20, 30], Some(0.4), &style), [10, 20, 30]);
        assert_eq!(blend_pixel([10, 20, 30], None, &style), [10, 20, 30]);
        assert_eq!(blend_pixel([10, 20, 30], Some(0.9), &style), Colormap::Turbo.eval(0.9));
        let half = OverlayStyle { opacity: 0.5, threshold: 0.0, ..OverlayStyle::default() };
        let c = Colormap::Turbo.eval(0.9);
        let expect = [0, 1, 2].map(|i| ((f32::from([10u8, 20, 30][i]) + f32::from(c[i])) / 2.0).round() as u8);
        assert_eq!(blend_pixel([10, 20, 30], Some(0.9), &half), expect);
    }
}
