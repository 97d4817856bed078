//! Colours, label formats and the embedded font.

use plotters::style::{register_font, FontStyle, RGBColor};
use runfolder::Mode;
use std::sync::Once;

/// Family name the charts ask for; the only font there is.
pub const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Register the embedded DejaVu Sans once per process, so text renders on
/// machines without any system font or fontconfig.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a known-good TTF compiled in; failure would be a build bug.
        if register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            panic!("embedded DejaVuSans.ttf failed to load");
        }
    });
}

/// Fixed mode colours (matplotlib's tab:blue / tab:orange): a reader learns
/// them once for every chart.
pub const DIRECT: RGBColor = RGBColor(31, 119, 180);
pub const COT: RGBColor = RGBColor(230, 110, 0);
pub const CHANCE: RGBColor = RGBColor(140, 140, 140);
pub const GRID: RGBColor = RGBColor(225, 225, 225);

pub fn mode_color(mode: Mode) -> RGBColor {
    match mode {
        Mode::Direct => DIRECT,
        Mode::Cot => COT,
    }
}

/// The colour of the i-th arm of an ablation: the baseline dark grey, then
/// distinct hues (tab10), cycling.
pub fn arm_color(i: usize) -> RGBColor {
    const ARMS: [RGBColor; 6] = [
        RGBColor(60, 60, 60),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
    ];
    ARMS[i % ARMS.len()]
}

/// A lighter variant for the k-th extra shots setting of the same mode.
pub fn shade(c: RGBColor, k: usize) -> RGBColor {
    lighten(c, (0.3 * k as f64).min(0.7))
}

/// `c` mixed with white by fraction `t` in [0, 1].
pub fn lighten(c: RGBColor, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |v: u8| (v as f64 + (255.0 - v as f64) * t).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Colours for model sizes in loss/FLOPs charts (viridis-like, dark = small).
pub fn size_color(i: usize, n: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (220.0, 200.0, 30.0),
    ];
    let t = if n <= 1 {
        0.0
    } else {
        i as f64 / (n - 1) as f64
    } * (STOPS.len() - 1) as f64;
    let j = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - j as f64;
    let (a, b) = (STOPS[j], STOPS[j + 1]);
    let lerp = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// A size as every chart labels it (`results::human::si`).
pub use results::human::si;

/// Tick label for an axis holding log10 values.
pub fn log_tick(x: f64) -> String {
    si(10f64.powf(x))
}

/// A file-name-safe form of a task name.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_readable() {
        assert_eq!(log_tick(4.0), "10k");
        assert_eq!(log_tick(5.0), "100k");
        assert_eq!(log_tick(6.0), "1M");
        assert_eq!(log_tick(4.5), "31.6k");
        assert_eq!(log_tick(5.5), "316k");
        assert_eq!(slug("word ood/1"), "word_ood_1");
    }
}
