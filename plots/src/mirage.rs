//! The mirage chart: one task and mode under exact match and the
//! continuous metrics on the same items, with the verdict from `fits.csv`.

use crate::grid::*;
use crate::panel::{Panel, PointSeries};
use crate::Error;
use plotters::prelude::*;
use results::Run;
use runfolder::schema::{metric, FitRow, Mode};
use std::path::Path;

pub(crate) fn mirage_figure(run: &Run, fits: &[FitRow], path: &Path) -> Result<(), Error> {
    const COLORS: [(&str, RGBColor); 3] = [
        (metric::EXACT_MATCH, RGBColor(20, 20, 20)),
        (metric::EDIT_SIMILARITY, RGBColor(44, 160, 44)),
        (metric::TOKEN_ACCURACY, RGBColor(148, 103, 189)),
    ];
    let mut panels = Vec::new();
    for task in run.tasks() {
        let shots = *shots_of(&run.final_points, &task).first().unwrap_or(&0);
        for mode in [Mode::Direct, Mode::Cot] {
            let verdict = params_fits(fits, &task, mode, shots, metric::EXACT_MATCH)
                .find(|r| !r.mirage.is_empty())
                .map(|r| r.mirage.replace('_', " "))
                .unwrap_or_else(|| "no verdict".into());
            let mut panel = Panel {
                title: format!("{task} · {mode}: {verdict}"),
                x_label: "non-embedding parameters".into(),
                y_label: "score".into(),
                y_range: Some((-0.03, 1.05)),
                legend: panels.is_empty(),
                ..Default::default()
            };
            for (k, (m, color)) in COLORS.iter().enumerate() {
                let pts = final_points(run, &task, mode, shots, m);
                if pts.is_empty() {
                    continue;
                }
                let rows: Vec<&FitRow> = params_fits(fits, &task, mode, shots, m).collect();
                add_fits(&mut panel, &rows, *color, x_span(&pts));
                panel.thresholds.clear();
                panel.series.push(PointSeries {
                    label: m.replace('_', " "),
                    color: *color,
                    points: pts,
                    joined: false,
                    marker: k,
                    dashed: false,
                    faint: false,
                });
            }
            if !panel.is_empty() {
                panels.push(panel);
            }
        }
    }
    if panels.is_empty() {
        return Err(Error::Nothing("no scores for the mirage check".into()));
    }
    let footer = "Same items under exact match and continuous metrics. survives: the continuous metrics also prefer a sigmoid; \
mirage: they prefer log-linear; solid: preferred fit";
    grid_figure(
        path,
        &format!(
            "Mirage check: is the jump in the metric or in the model? ({})",
            run.name()
        ),
        footer,
        &panels,
        2,
    )
}
