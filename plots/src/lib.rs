//! PNG charts of a run folder, drawn with plotters from `results` types only.
//!
//! Every figure is rendered into an in-memory RGB buffer, encoded with `png`
//! and written whole via `runfolder::write_bytes_atomic`, so an interrupted
//! `emerge plot` never leaves a torn PNG under a final name. Text uses the
//! embedded DejaVu Sans (see `fonts/`), so no system font is needed.

mod arms;
pub mod chart;
mod claims;
pub mod figures;
mod forecast;
pub mod grid;
pub mod inspect;
mod mirage;
mod overlay;
pub mod panel;
pub mod style;
mod training;

pub use arms::plot_arms;
pub use figures::plot_run;
pub use forecast::plot_forecast;
pub use overlay::plot_compare;

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Results(#[from] results::Error),
    #[error("{0}")]
    Nothing(String),
}

/// Render a `width` × `height` figure with `draw` and write it to `path` whole.
pub fn render_png<F>(path: &Path, (width, height): (u32, u32), draw: F) -> Result<(), Error>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), Error>,
{
    style::register();
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| Error::Draw(e.to_string()))?;
        draw(&root)?;
        root.present().map_err(|e| Error::Draw(e.to_string()))?;
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| Error::Draw(e.to_string()))?;
        w.write_image_data(&buf)
            .map_err(|e| Error::Draw(e.to_string()))?;
    }
    runfolder::write_bytes_atomic(path, &bytes)?;
    Ok(())
}
