//! Reading a written figure back: its pixels, the panels of a grid figure,
//! each panel's plot area (found from its axis lines) and where a data
//! point lands in it. The tests of this crate and of `harness` use it to
//! check that a figure shows its data's colours where the data are.

use crate::grid::{PANEL_H, PANEL_W, TITLE_H};
use plotters::style::RGBColor;
use std::path::Path;

/// A decoded RGB image.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// A rectangle of pixels, `x0..x1` × `y0..y1` (ends excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Image {
    /// Decode the 8-bit RGB PNG at `path` (what [`crate::render_png`] writes).
    pub fn read(path: &Path) -> Result<Image, String> {
        let what = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let file = std::fs::File::open(path).map_err(|e| what(&e))?;
        let mut reader = png::Decoder::new(file).read_info().map_err(|e| what(&e))?;
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).map_err(|e| what(&e))?;
        if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
            return Err(what(&format!(
                "{:?} {:?}, not 8-bit RGB",
                info.color_type, info.bit_depth
            )));
        }
        buf.truncate(info.buffer_size());
        Ok(Image {
            width: info.width,
            height: info.height,
            rgb: buf,
        })
    }

    /// The colour at (x, y), if inside.
    pub fn at(&self, x: i64, y: i64) -> Option<RGBColor> {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return None;
        }
        let i = 3 * (y as usize * self.width as usize + x as usize);
        Some(RGBColor(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]))
    }

    /// Pixels exactly of colour `c` in `r` (markers and lines are opaque).
    pub fn count(&self, c: RGBColor, r: Rect) -> usize {
        (r.y0..r.y1)
            .flat_map(|y| (r.x0..r.x1).map(move |x| (x, y)))
            .filter(|&(x, y)| self.at(x.into(), y.into()) == Some(c))
            .count()
    }

    /// The whole image.
    pub fn rect(&self) -> Rect {
        Rect {
            x0: 0,
            y0: 0,
            x1: self.width,
            y1: self.height,
        }
    }

    /// The `n` panels of a grid figure of `cols` columns with panels of
    /// `size` (the default [`PANEL_W`] × [`PANEL_H`] when `None`),
    /// row-major under the title, as `grid_figure` lays them out.
    pub fn grid_panels(&self, n: usize, cols: usize, size: Option<(u32, u32)>) -> Vec<Rect> {
        let (w, h) = size.unwrap_or((PANEL_W, PANEL_H));
        (0..n)
            .map(|i| {
                let (c, r) = ((i % cols) as u32, (i / cols) as u32);
                Rect {
                    x0: c * w,
                    y0: TITLE_H + r * h,
                    x1: (c + 1) * w,
                    y1: TITLE_H + (r + 1) * h,
                }
            })
            .collect()
    }

    /// The plot area of the panel in `panel`: the y axis is the longest
    /// vertical run of black pixels, the x axis the longest horizontal one;
    /// the plot area lies right of the first and above the second, and each
    /// spans its side of it. A data point's interval bar or marker drawn on
    /// an axis breaks its run, so each run is extended over gaps of up to
    /// [`AXIS_GAP`] pixels.
    pub fn plot_area(&self, panel: Rect) -> Result<Rect, String> {
        let black = |x: u32, y: u32| self.at(x.into(), y.into()) == Some(RGBColor(0, 0, 0));
        // (length, first, last) of the longest run along one line, gaps
        // bridged.
        let longest = |len: u32, at: &dyn Fn(u32) -> bool| -> (u32, u32, u32) {
            let (mut best, mut run, mut gap) = ((0, 0, 0), None::<(u32, u32)>, 0);
            for i in 0..len {
                if at(i) {
                    let (first, _) = run.unwrap_or((i, i));
                    run = Some((first, i));
                    gap = 0;
                    let n = i + 1 - first;
                    if n > best.0 {
                        best = (n, first, i);
                    }
                } else if run.is_some() {
                    gap += 1;
                    if gap > AXIS_GAP {
                        run = None;
                        gap = 0;
                    }
                }
            }
            best
        };
        let (w, h) = (panel.x1 - panel.x0, panel.y1 - panel.y0);
        let (mut v, mut hz) = ((0, 0, 0), (0, 0, 0));
        for x in panel.x0..panel.x1 {
            let (n, first, _) = longest(h, &|i| black(x, panel.y0 + i));
            if n > v.0 {
                v = (n, x, panel.y0 + first);
            }
        }
        for y in panel.y0..panel.y1 {
            let (n, _, last) = longest(w, &|i| black(panel.x0 + i, y));
            if n > hz.0 {
                hz = (n, y, panel.x0 + last);
            }
        }
        let (v_len, axis_x, top) = v;
        let (h_len, axis_y, right) = hz;
        if v_len < h / 3 || h_len < w / 3 {
            return Err(format!(
                "no axes in {panel:?}: longest black runs {v_len} px down, {h_len} px across"
            ));
        }
        Ok(Rect {
            x0: axis_x,
            y0: top,
            x1: right + 1,
            y1: axis_y + 1,
        })
    }
}

/// The widest break in an axis line that [`Image::plot_area`] bridges.
pub const AXIS_GAP: u32 = 12;

/// A panel's data coordinates over its plot area.
#[derive(Debug, Clone, Copy)]
pub struct Axes {
    pub area: Rect,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Axes {
    /// The pixel that data point (x, y) lands on (x and y in the panel's
    /// units: log10 of a size, a score).
    pub fn pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let a = self.area;
        let fx = (x - self.x.0) / (self.x.1 - self.x.0);
        let fy = (y - self.y.0) / (self.y.1 - self.y.0);
        (
            f64::from(a.x0) + fx * f64::from(a.x1 - 1 - a.x0),
            f64::from(a.y1 - 1) - fy * f64::from(a.y1 - 1 - a.y0),
        )
    }
}

/// One series of a panel as the figure should show it: its colour and its
/// points (x, y) in the panel's units, in drawing order.
#[derive(Debug, Clone)]
pub struct Expected {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// Check that every point of every series has its series' colour within
/// `reach` pixels of where the axes put it. A point that a later series'
/// point covers (within 6 pixels; markers are 4 to 5 pixels wide each way)
/// may show that one's colour instead, and is counted as covered.
/// Returns (points seen, points covered), or the points that are missing.
pub fn check_points(
    img: &Image,
    axes: &Axes,
    series: &[Expected],
    reach: i64,
) -> Result<(usize, usize), String> {
    let (mut seen, mut covered) = (0, 0);
    let mut missing = Vec::new();
    for (i, s) in series.iter().enumerate() {
        for &(x, y) in &s.points {
            let (px, py) = axes.pixel(x, y);
            let (cx, cy) = (px.round() as i64, py.round() as i64);
            let has = (-reach..=reach)
                .any(|dy| (-reach..=reach).any(|dx| img.at(cx + dx, cy + dy) == Some(s.color)));
            if has {
                seen += 1;
                continue;
            }
            let under_later = series[i + 1..].iter().any(|t| {
                t.points.iter().any(|&(tx, ty)| {
                    let (qx, qy) = axes.pixel(tx, ty);
                    (qx - px).abs() <= 6.0 && (qy - py).abs() <= 6.0
                })
            });
            if under_later {
                covered += 1;
            } else {
                missing.push(format!(
                    "{} ({x:.3}, {y:.3}) at pixel ({cx}, {cy}): {:?}",
                    s.label,
                    img.at(cx, cy)
                ));
            }
        }
    }
    if missing.is_empty() {
        Ok((seen, covered))
    } else {
        Err(format!(
            "{} of {} points not drawn where the data are (plot area {:?}): {}",
            missing.len(),
            seen + covered + missing.len(),
            axes.area,
            missing.join("; ")
        ))
    }
}
