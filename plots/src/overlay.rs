//! The comparison overlay of `emerge compare`: two runs on one chart per task.

use crate::grid::*;
use crate::panel::{Panel, PointSeries};
use crate::style::*;
use crate::Error;
use results::Run;
use runfolder::schema::Mode;
use std::path::{Path, PathBuf};

/// One overlay PNG per shared task: run A solid circles, run B dashed
/// triangles, colours by mode, a panel per metric. Files are
/// `{prefix}_{task}.png`.
pub fn plot_compare(a: &Run, b: &Run, prefix: &Path) -> Result<Vec<PathBuf>, Error> {
    let shared: Vec<String> = a.tasks().intersection(&b.tasks()).cloned().collect();
    let mut written = Vec::new();
    let stem = prefix
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "compare".into());
    for task in shared {
        let mut panels = Vec::new();
        for m in metrics_of(&a.final_points, &task) {
            let shots = *shots_of(&a.final_points, &task).first().unwrap_or(&0);
            let mut panel = Panel {
                title: m.replace('_', " "),
                x_label: "non-embedding parameters".into(),
                y_label: m.clone(),
                legend: true,
                y_range: is_proportion(&m).then_some((-0.03, 1.05)),
                ..Default::default()
            };
            for (ri, run) in [a, b].iter().enumerate() {
                for mode in [Mode::Direct, Mode::Cot] {
                    let pts = final_points(run, &task, mode, shots, &m);
                    if pts.is_empty() {
                        continue;
                    }
                    panel.series.push(PointSeries {
                        label: format!("{} {mode}", if ri == 0 { "A" } else { "B" }),
                        color: shade(mode_color(mode), ri),
                        points: pts,
                        joined: true,
                        marker: ri,
                        dashed: ri == 1,
                        faint: false,
                    });
                }
            }
            if !panel.is_empty() {
                panels.push(panel);
            }
        }
        let p = prefix.with_file_name(format!("{stem}_{}.png", slug(&task)));
        let title = format!(
            "{task}: A = {} (solid) vs B = {} (dashed)",
            a.name(),
            b.name()
        );
        let footer =
            "x: non-embedding parameters (log); bars: 95% intervals; lowest shots setting shown";
        grid_figure(&p, &title, footer, &panels, 2)?;
        written.push(p);
    }
    Ok(written)
}
