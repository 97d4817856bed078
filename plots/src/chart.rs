//! Every chart this crate writes, named and described once: the writers
//! take their file names from [`Chart`], and `report.md` its order and the
//! sentence above each chart.

use crate::style::slug;

/// A chart in a run folder's `plots/`, in the order a report shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Chart {
    Overview,
    /// One per task, as are [`Chart::Arms`] and [`Chart::Forecast`].
    Task,
    Arms,
    Forecast,
    Claims,
    Mirage,
    LossVsTokens,
    ScoreVsFlops,
    ScoreVsLoss,
}

impl Chart {
    pub const ALL: [Chart; 9] = [
        Chart::Overview,
        Chart::Task,
        Chart::Arms,
        Chart::Forecast,
        Chart::Claims,
        Chart::Mirage,
        Chart::LossVsTokens,
        Chart::ScoreVsFlops,
        Chart::ScoreVsLoss,
    ];

    /// The file name's stem, or its prefix before `_<task>` for a chart per task.
    fn stem(self) -> &'static str {
        match self {
            Chart::Overview => "overview",
            Chart::Task => "task",
            Chart::Arms => "arms",
            Chart::Forecast => "forecast",
            Chart::Claims => "claims",
            Chart::Mirage => "mirage",
            Chart::LossVsTokens => "loss_vs_tokens",
            Chart::ScoreVsFlops => "score_vs_flops",
            Chart::ScoreVsLoss => "score_vs_loss",
        }
    }

    fn per_task(self) -> bool {
        matches!(self, Chart::Task | Chart::Arms | Chart::Forecast)
    }

    /// The file of a chart drawn once per run.
    ///
    /// # Panics
    /// For a chart drawn per task ([`Chart::task_file`]).
    pub fn file(self) -> String {
        assert!(!self.per_task(), "{self:?} is drawn per task");
        format!("{}.png", self.stem())
    }

    /// The file of a chart drawn per task, for `task`.
    ///
    /// # Panics
    /// For a chart drawn once per run ([`Chart::file`]).
    pub fn task_file(self, task: &str) -> String {
        assert!(self.per_task(), "{self:?} is drawn once per run");
        format!("{}_{}.png", self.stem(), slug(task))
    }

    /// The chart a file name belongs to, with the task for a chart per task
    /// (as the file spells it); `None` for any other file.
    pub fn of_file(file_name: &str) -> Option<(Chart, Option<&str>)> {
        let stem = file_name.strip_suffix(".png")?;
        Chart::ALL.into_iter().find_map(|c| {
            if c.per_task() {
                let task = stem.strip_prefix(c.stem())?.strip_prefix('_')?;
                (!task.is_empty()).then_some((c, Some(task)))
            } else {
                (stem == c.stem()).then_some((c, None))
            }
        })
    }

    /// What the chart shows, in a sentence for a reader of `report.md`.
    pub fn caption(self, task: Option<&str>) -> String {
        let task = task.unwrap_or("each task");
        match self {
            Chart::Overview => "Exact match against model size for every task, direct and chain of thought: the seed means with their intervals, the two fitted shapes, and N* with its interval where located.".into(),
            Chart::Task => format!("`{task}`: every metric against model size, direct and chain of thought."),
            Chart::Arms => format!("`{task}`: the arms' curves overlaid on the baseline's."),
            Chart::Forecast => format!("`{task}`: N* forecast from the sizes below the level alone, against the measured N*."),
            Chart::Claims => "The number behind each claim, with its 95% interval, by model size.".into(),
            Chart::Mirage => "Exact match beside the continuous metrics on the same items: does the jump survive a smoother metric?".into(),
            Chart::LossVsTokens => "Training loss against tokens seen, one line per model.".into(),
            Chart::ScoreVsFlops => "Exact match against training compute, at each scored checkpoint.".into(),
            Chart::ScoreVsLoss => "Exact match against held-out loss, at each scored checkpoint: does the ability follow the loss whatever the size?".into(),
        }
    }
}

/// The sentence for a chart's file name, `None` for a file this crate does
/// not write.
pub fn caption(file_name: &str) -> Option<String> {
    let (chart, task) = Chart::of_file(file_name)?;
    Some(chart.caption(task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_is_found_again_from_its_file_name() {
        for c in Chart::ALL {
            let (name, task) = if c.per_task() {
                (c.task_file("word_ood"), Some("word_ood"))
            } else {
                (c.file(), None)
            };
            assert_eq!(Chart::of_file(&name), Some((c, task)), "{name}");
            if let Some(t) = task {
                assert!(c.caption(task).contains(t), "{name}");
            }
        }
        for other in [
            "scores.csv",
            "task.png",
            "task_.png",
            "compare_add.png",
            "overview",
        ] {
            assert_eq!(Chart::of_file(other), None, "{other}");
        }
    }
}
