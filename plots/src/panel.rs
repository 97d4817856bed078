//! One chart panel: a description of what to draw ([`Panel`]) and the single
//! routine that draws it, shared by every figure so they all look alike.
//! The x axis holds log10 values with SI tick labels (10k, 100k, 1M).

use crate::style::{lighten, log_tick, CHANCE, FONT, GRID};
use crate::Error;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A panel's chart: log10 (or linear) x against y, both plain f64.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
/// The plotted ranges: x from, x to, y from, y to.
type Bounds = (f64, f64, f64, f64);

/// A drawing backend's error as this crate's.
fn drawn<E: std::error::Error + Send + Sync>(x: DrawingAreaErrorKind<E>) -> Error {
    Error::Draw(x.to_string())
}

/// One plotted point: (x = log10, y, interval low, interval high).
pub type Point = (f64, f64, f64, f64);

/// Points of one series.
#[derive(Debug, Clone)]
pub struct PointSeries {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<Point>,
    /// Join the points with a thin line (as for a curve of one model).
    pub joined: bool,
    /// 0 circle, 1 triangle, 2 square, 3 cross.
    pub marker: usize,
    /// Dashed join line (second run of a comparison).
    pub dashed: bool,
    /// Drawn small and pale, without interval bars (one seed of several).
    pub faint: bool,
}

/// A shaded range over x, e.g. the spread between seeds at every size.
#[derive(Debug, Clone)]
pub struct Band {
    pub color: RGBColor,
    /// (x, low, high), x ascending.
    pub points: Vec<(f64, f64, f64)>,
}

/// A fitted curve sampled on a grid; solid when preferred.
#[derive(Debug, Clone)]
pub struct Curve {
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub solid: bool,
}

/// A threshold marker: dashed vertical line at x, its interval [lo, hi] as a
/// shaded band over the panel's height with a bar at y, and a label at the
/// top (e.g. "N*", or "N* 100k–336k" when the data only bracket it).
#[derive(Debug, Clone)]
pub struct Threshold {
    pub color: RGBColor,
    pub x: f64,
    pub y: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub label: String,
}

#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// y values are log10 too (loss vs tokens).
    pub y_log: bool,
    /// x values are plain numbers (shot counts), not log10 of a scale.
    pub x_linear: bool,
    /// Decimals of a plain x axis's tick labels (0 for shot counts).
    pub x_decimals: usize,
    pub series: Vec<PointSeries>,
    pub curves: Vec<Curve>,
    /// Shaded ranges, drawn first.
    pub bands: Vec<Band>,
    pub thresholds: Vec<Threshold>,
    /// Chance levels, drawn dashed grey.
    pub chance: Vec<f64>,
    /// A fixed y range (e.g. [0, 1] for proportions); else from the data.
    pub y_range: Option<(f64, f64)>,
    /// A line under the title, right-aligned (outside the plot area, so it
    /// hides no data).
    pub note: String,
    pub legend: bool,
    /// Legend in the upper right instead of the upper left.
    pub legend_right: bool,
}

fn bounds(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

fn pad((lo, hi): (f64, f64), frac: f64, min_width: f64) -> (f64, f64) {
    let w = (hi - lo).max(min_width);
    let c = 0.5 * (lo + hi);
    (c - w * (0.5 + frac), c + w * (0.5 + frac))
}

/// The x range a panel shows for its points' x values: their span, padded
/// (a panel with no finite x shows 1k to 10M).
pub fn x_range_of(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    pad(bounds(xs).unwrap_or((3.0, 7.0)), 0.06, 0.5)
}

/// The y range a panel without a fixed one shows for `ys` (its points'
/// values and interval ends, and its chance levels): their span, padded.
pub fn y_range_of(ys: impl Iterator<Item = f64>) -> (f64, f64) {
    pad(bounds(ys).unwrap_or((0.0, 1.0)), 0.08, 1e-3)
}

impl Panel {
    fn x_range(&self) -> (f64, f64) {
        x_range_of(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        )
    }

    fn y_range(&self) -> (f64, f64) {
        if let Some(r) = self.y_range {
            return r;
        }
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|p| [p.1, p.2, p.3]));
        y_range_of(ys.chain(self.chance.iter().copied()))
    }

    /// Whether anything would be drawn.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// Draw the panel into `area`: the axes, then layer by layer from the
    /// back (bands, chance, fitted curves, N* markers, the points), then the
    /// legend.
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), Error> {
        let (x0, x1) = self.x_range();
        let (y0, y1) = self.y_range();
        // With a note, the title and the note's line are drawn here and the
        // chart below them; without, the chart builder draws the title.
        let with_note;
        let mut builder = if self.note.is_empty() {
            let mut b = ChartBuilder::on(area);
            b.caption(&self.title, (FONT, 17)).margin(8);
            b
        } else {
            let below_title = area
                .margin(8, 0, 0, 0)
                .titled(&self.title, (FONT, 17))
                .map_err(drawn)?;
            let (w, _) = below_title.dim_in_pixel();
            below_title
                .draw(&Text::new(
                    self.note.clone(),
                    (w as i32 - 12, 0),
                    (FONT, 13)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Top)),
                ))
                .map_err(drawn)?;
            with_note = below_title.split_vertically(18).1;
            let mut b = ChartBuilder::on(&with_note);
            b.margin(8).margin_top(0);
            b
        };
        let mut chart = builder
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(drawn)?;
        let y_fmt = |v: &f64| {
            if self.y_log {
                log_tick(*v)
            } else {
                format!("{v:.2}")
            }
        };
        let decades = ((x1 - x0).ceil() as usize + 1).clamp(3, 8);
        let x_fmt = |v: &f64| {
            if self.x_linear {
                format!("{v:.prec$}", prec = self.x_decimals)
            } else {
                log_tick(*v)
            }
        };
        chart
            .configure_mesh()
            .x_labels(decades)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(drawn)?;

        let b = (x0, x1, y0, y1);
        self.draw_bands(&mut chart, b)?;
        self.draw_curves(&mut chart, b)?;
        self.draw_thresholds(&mut chart, b)?;
        self.draw_series(&mut chart, b)?;
        if self.legend && self.series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(if self.legend_right {
                    SeriesLabelPosition::UpperRight
                } else {
                    SeriesLabelPosition::UpperLeft
                })
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(GRID)
                .draw()
                .map_err(drawn)?;
        }
        Ok(())
    }

    /// The shaded ranges over seeds, and the chance lines.
    fn draw_bands<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        (x0, x1, y0, y1): Bounds,
    ) -> Result<(), Error> {
        for b in self.bands.iter().filter(|b| b.points.len() > 1) {
            let outline: Vec<(f64, f64)> = b
                .points
                .iter()
                .map(|&(x, lo, _)| (x, lo.clamp(y0, y1)))
                .chain(
                    b.points
                        .iter()
                        .rev()
                        .map(|&(x, _, hi)| (x, hi.clamp(y0, y1))),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    b.color.mix(0.16).filled(),
                )))
                .map_err(drawn)?;
        }
        for &c in &self.chance {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, c), (x1, c)],
                    6,
                    5,
                    CHANCE.stroke_width(2),
                ))
                .map_err(drawn)?;
        }
        Ok(())
    }

    /// The fitted curves, solid (preferred) or dashed.
    fn draw_curves<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        (_, _, y0, y1): Bounds,
    ) -> Result<(), Error> {
        for c in &self.curves {
            let pts: Vec<(f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|p| p.1 >= y0 && p.1 <= y1)
                .collect();
            if c.solid {
                chart
                    .draw_series(LineSeries::new(pts, c.color.stroke_width(2)))
                    .map_err(drawn)?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(
                        pts,
                        7,
                        5,
                        c.color.mix(0.8).stroke_width(2),
                    ))
                    .map_err(drawn)?;
            }
        }
        Ok(())
    }

    /// N* markers: the interval's band first, then each line, bar and label.
    fn draw_thresholds<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        (x0, x1, y0, y1): Bounds,
    ) -> Result<(), Error> {
        // Bands first, so the markers and lines drawn after stay on top.
        for t in self.thresholds.iter().filter(|t| t.x > x0 && t.x < x1) {
            if let (Some(lo), Some(hi)) = (t.lo, t.hi) {
                let (lo, hi) = (lo.max(x0), hi.min(x1));
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(lo, y0), (hi, y1)],
                        t.color.mix(0.13).filled(),
                    )))
                    .map_err(drawn)?;
            }
        }
        for (i, t) in self
            .thresholds
            .iter()
            .filter(|t| t.x > x0 && t.x < x1)
            .enumerate()
        {
            let style = t.color.mix(0.7).stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(t.x, y0), (t.x, y1)],
                    3,
                    4,
                    style,
                ))
                .map_err(drawn)?;
            if let (Some(lo), Some(hi)) = (t.lo, t.hi) {
                let (lo, hi) = (lo.max(x0), hi.min(x1));
                chart
                    .draw_series(LineSeries::new(
                        vec![(lo, t.y), (hi, t.y)],
                        t.color.stroke_width(3),
                    ))
                    .map_err(drawn)?;
            }
            // One label line per threshold, so two modes' labels never overlap.
            let y = y1 - (y1 - y0) * 0.055 * i as f64;
            let x = t.lo.map_or(t.x, |lo| lo.max(x0));
            chart
                .draw_series(std::iter::once(Text::new(
                    t.label.clone(),
                    (x, y),
                    (FONT, 13).into_font().color(&t.color),
                )))
                .map_err(drawn)?;
        }
        Ok(())
    }

    /// The points: faint ones (each seed) under the bold ones (the mean),
    /// with interval bars, joining lines, markers and legend entries.
    fn draw_series<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        (_, _, y0, y1): Bounds,
    ) -> Result<(), Error> {
        for s in self.series.iter().filter(|s| s.faint) {
            let color = lighten(s.color, 0.45);
            if s.joined {
                let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(1)))
                    .map_err(drawn)?;
            }
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&(x, y, _, _)| Circle::new((x, y), 2, color.filled())),
                )
                .map_err(drawn)?;
        }
        for s in self.series.iter().filter(|s| !s.faint) {
            let st = s.color.stroke_width(1);
            // Interval bars.
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|p| p.2.is_finite() && p.3.is_finite())
                        .map(|&(x, _, lo, hi)| {
                            PathElement::new(vec![(x, lo.max(y0)), (x, hi.min(y1))], st)
                        }),
                )
                .map_err(drawn)?;
            if s.joined {
                let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
                if s.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(pts, 5, 4, s.color.stroke_width(1)))
                        .map_err(drawn)?;
                } else {
                    chart
                        .draw_series(LineSeries::new(pts, s.color.stroke_width(1)))
                        .map_err(drawn)?;
                }
            }
            let color = s.color;
            let xy = s.points.iter().map(|&(x, y, _, _)| (x, y));
            // One arm per marker shape: plotters elements are distinct types.
            let anno = match s.marker % 4 {
                0 => chart.draw_series(xy.map(|p| Circle::new(p, 4, color.filled()))),
                1 => chart.draw_series(xy.map(|p| TriangleMarker::new(p, 5, color.filled()))),
                2 => chart.draw_series(xy.map(|p| {
                    EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], color.filled())
                })),
                _ => chart.draw_series(xy.map(|p| Cross::new(p, 4, color.stroke_width(2)))),
            }
            .map_err(drawn)?;
            if !s.label.is_empty() {
                let anno = anno.label(s.label.clone());
                match s.marker % 4 {
                    0 => anno.legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled())),
                    1 => anno
                        .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, color.filled())),
                    2 => anno.legend(move |(x, y)| {
                        Rectangle::new([(x + 4, y - 4), (x + 12, y + 4)], color.filled())
                    }),
                    _ => {
                        anno.legend(move |(x, y)| Cross::new((x + 8, y), 4, color.stroke_width(2)))
                    }
                };
            }
        }
        Ok(())
    }
}
