//! Scoring one model checkpoint on the evaluation suite: batched greedy
//! decoding with the KV cache, answer extraction, and teacher-forced scores
//! of the gold completion (the answer in direct mode, trace and answer in
//! chain of thought); then per-item rows and aggregates with intervals.
//!
//! The suite (items, prompts, chance levels) is built once per sweep from
//! `eval.seed`, so every model and checkpoint answers the same items in the
//! same batches, which keeps scores deterministic and comparable item by item.

use super::config::SweepConfig;
use models::{GenerateOptions, Inference};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use runfolder::schema::metric;
use runfolder::{SampleRow, ScoreRow};
use tasks::answer;
use tasks::chance::{chance, scored_completion, Chance};
use tasks::fewshot::few_shot;
use tasks::format::Mode;
use tasks::vocab;
use tasks::{distinct_items, Split, Task};

/// Generated tokens and teacher-forced completion scores of a batch.
type Decoded = (Vec<Vec<u32>>, Vec<Vec<models::TokenScore>>);

/// One test question as asked in one (mode, shots) setting.
struct Prompt {
    item_id: String,
    prompt: String,
    prompt_ids: Vec<u32>,
    answer: String,
    /// `word_twin`: the answer of the training problem the item changes.
    parrot_answer: Option<String>,
    /// The gold completion teacher forcing scores after the prompt.
    completion_ids: Vec<u32>,
}

/// All prompts of one (task, mode, shots) cell of the suite.
struct Cell {
    task: usize,
    mode: Mode,
    shots: u32,
    prompts: Vec<Prompt>,
    max_new_tokens: usize,
}

struct SuiteTask {
    task: Box<dyn Task>,
    /// Per mode: token accuracy's chance level depends on the completion.
    chance: Vec<(Mode, Chance)>,
}

pub struct Suite {
    tasks: Vec<SuiteTask>,
    cells: Vec<Cell>,
    batch: usize,
    seed: u64,
}

fn encode(text: &str, origin: &str) -> Result<Vec<u32>, String> {
    vocab::encode(text, origin).map_err(|e| e.to_string())
}

impl Suite {
    pub fn build(cfg: &SweepConfig) -> Result<Suite, String> {
        let e = &cfg.eval;
        let mut tasks = Vec::new();
        let mut cells = Vec::new();
        for entry in &e.tasks {
            let task = entry
                .task_config()
                .and_then(|t| t.build())
                .map_err(|err| err.to_string())?;
            let items = distinct_items(task.as_ref(), e.seed, Split::Test, e.items)
                .map_err(|err| err.to_string())?;
            let mut chances = Vec::new();
            let t = tasks.len();
            for &mode in &e.modes {
                chances.push((
                    mode,
                    chance(task.as_ref(), mode, e.seed, e.items).map_err(|err| err.to_string())?,
                ));
                for &shots in e.shots_of(entry) {
                    let prompts = items
                        .par_iter()
                        .map(|item| {
                            let fs = few_shot(task.as_ref(), item, mode, shots as usize, e.seed)
                                .map_err(|err| err.to_string())?;
                            let completion = scored_completion(&item.trace, &item.answer, mode);
                            Ok(Prompt {
                                item_id: item.id.clone(),
                                prompt_ids: vocab::encode_prompt(&fs.prompt, &item.id)
                                    .map_err(|err| err.to_string())?,
                                completion_ids: encode(&completion, &item.id)?,
                                answer: item.answer.clone(),
                                parrot_answer: task.parrot_answer(item),
                                prompt: fs.prompt,
                            })
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    cells.push(Cell {
                        task: t,
                        mode,
                        shots,
                        // The longest example bounds any completion;
                        // `generate` also stops where the context ends.
                        max_new_tokens: task.max_len(),
                        prompts,
                    });
                }
            }
            tasks.push(SuiteTask {
                task,
                chance: chances,
            });
        }
        Ok(Suite {
            tasks,
            cells,
            batch: e.batch,
            seed: e.seed,
        })
    }

    /// Estimated seconds to score one checkpoint with `inf`'s model.
    ///
    /// One batch of the slowest cell (chain of thought, most shots) is timed
    /// twice: decoding one token, and decoding to its limit, which an
    /// untrained model always reaches. The difference prices one decoding
    /// step; the rest (prefill and teacher forcing) is priced per token of
    /// prompt and completion. Every batch is then charged its own tokens and
    /// as many steps as its longest gold completion plus the stop token,
    /// where a model that has learned the format stops (an untrained one
    /// decodes to the limit: early checkpoints can take longer than this).
    pub fn estimate_secs(&self, inf: &Inference) -> Result<f64, String> {
        let Some(slowest) = self
            .cells
            .iter()
            .max_by_key(|c| c.max_new_tokens + c.shots as usize)
        else {
            return Ok(0.0);
        };
        let timed = &slowest.prompts[..slowest.prompts.len().min(self.batch)];
        let time = |max_new_tokens: usize| -> Result<f64, String> {
            let t0 = std::time::Instant::now();
            self.run_chunk(inf, timed, max_new_tokens)?;
            Ok(t0.elapsed().as_secs_f64())
        };
        let one = time(1)?;
        let full = time(slowest.max_new_tokens)?;
        let per_step =
            (full - one).max(0.0) / slowest.max_new_tokens.saturating_sub(1).max(1) as f64;
        let tokens = |chunk: &[Prompt]| -> usize {
            chunk
                .iter()
                .map(|p| p.prompt_ids.len() + p.completion_ids.len())
                .sum()
        };
        let per_token = one / tokens(timed).max(1) as f64;
        let per_row_step = per_step / timed.len() as f64;
        let mut total = 0.0;
        for cell in &self.cells {
            for chunk in cell.prompts.chunks(self.batch) {
                let longest = chunk
                    .iter()
                    .map(|p| p.completion_ids.len())
                    .max()
                    .unwrap_or(0);
                let steps = (longest + 1).min(cell.max_new_tokens);
                total += per_token * tokens(chunk) as f64
                    + per_row_step * (chunk.len() * steps.saturating_sub(1)) as f64;
            }
        }
        Ok(total)
    }

    fn run_chunk(
        &self,
        inf: &Inference,
        chunk: &[Prompt],
        max_new_tokens: usize,
    ) -> Result<Decoded, String> {
        let opts = GenerateOptions {
            max_new_tokens,
            stop_tokens: vec![vocab::NEWLINE, vocab::EOS],
            no_cache: false,
        };
        let ids: Vec<Vec<u32>> = chunk.iter().map(|p| p.prompt_ids.clone()).collect();
        let out = inf.generate(&ids, &opts).map_err(|e| e.to_string())?;
        let pairs: Vec<(Vec<u32>, Vec<u32>)> = chunk
            .iter()
            .map(|p| (p.prompt_ids.clone(), p.completion_ids.clone()))
            .collect();
        let forced = inf.score(&pairs).map_err(|e| e.to_string())?;
        Ok((out, forced))
    }

    /// Score one checkpoint: its `samples.csv` and `scores.csv` rows.
    pub fn evaluate(
        &self,
        inf: &Inference,
        model_id: &str,
        step: u64,
    ) -> Result<(Vec<SampleRow>, Vec<ScoreRow>), String> {
        let mut samples = Vec::new();
        let mut scores = Vec::new();
        for cell in &self.cells {
            let st = &self.tasks[cell.task];
            let task = st.task.as_ref();
            let mut outputs = Vec::with_capacity(cell.prompts.len());
            let mut forced = Vec::with_capacity(cell.prompts.len());
            for chunk in cell.prompts.chunks(self.batch) {
                let (o, f) = self.run_chunk(inf, chunk, cell.max_new_tokens)?;
                outputs.extend(o);
                forced.extend(f);
            }
            let rows: Vec<SampleRow> = cell
                .prompts
                .par_iter()
                .zip(outputs.par_iter())
                .zip(forced.par_iter())
                .map(|((p, out), tf)| {
                    let output = vocab::decode(out);
                    let ex = answer::extract(task, cell.mode, &output);
                    let s = answer::score(&ex, &p.answer);
                    let n = tf.len().max(1) as f64;
                    SampleRow {
                        model_id: model_id.to_string(),
                        step,
                        task: task.name().to_string(),
                        mode: cell.mode,
                        shots: cell.shots,
                        item_id: p.item_id.clone(),
                        prompt: p.prompt.clone(),
                        target: p.answer.clone(),
                        output: output.clone(),
                        answer: ex.answer.clone().unwrap_or_default(),
                        exact_match: s.exact_match == 1.0,
                        edit_similarity: s.edit_similarity,
                        token_accuracy: tf.iter().filter(|t| t.is_argmax).count() as f64 / n,
                        completion_logprob: tf.iter().map(|t| f64::from(t.logprob)).sum::<f64>()
                            / n,
                        extraction_failed: ex.failure.is_some(),
                        parrot: p
                            .parrot_answer
                            .as_ref()
                            .map(|a| ex.answer.as_ref() == Some(a)),
                        completion_tokens: Some(tf.len() as u32),
                    }
                })
                .collect();
            let chance = st
                .chance
                .iter()
                .find(|(m, _)| *m == cell.mode)
                .map(|(_, c)| c)
                .expect("a chance level for every mode of the suite");
            scores.extend(self.aggregate(&rows, chance, model_id, step, cell));
            samples.extend(rows);
        }
        Ok((samples, scores))
    }

    fn aggregate(
        &self,
        rows: &[SampleRow],
        chance: &Chance,
        model_id: &str,
        step: u64,
        cell: &Cell,
    ) -> Vec<ScoreRow> {
        let task = self.tasks[cell.task].task.name();
        let mut names: Vec<&str> = metric::ALL.to_vec();
        names.push(metric::EXTRACTION_FAILURE);
        if rows.iter().any(|r| r.parrot.is_some()) {
            names.push(metric::PARROT);
        }
        names
            .into_iter()
            .map(|m| {
                let values: Vec<f64> = rows.iter().filter_map(|r| r.metric_value(m)).collect();
                let n = values.len();
                let mean = values.iter().sum::<f64>() / n.max(1) as f64;
                let proportion = matches!(
                    m,
                    metric::EXACT_MATCH | metric::EXTRACTION_FAILURE | metric::PARROT
                );
                let (ci_lo, ci_hi) = if proportion {
                    let k = values.iter().filter(|&&v| v == 1.0).count();
                    results::stats::wilson(k as u64, n as u64)
                } else {
                    // Seeded per cell and metric: the interval is part of
                    // the scores and must repeat exactly.
                    let key = format!(
                        "{}|{model_id}|{step}|{task}|{}|{}|{m}",
                        self.seed, cell.mode, cell.shots
                    );
                    let mut rng = ChaCha8Rng::seed_from_u64(results::stats::stable_hash(&key));
                    results::stats::bootstrap_mean_interval(&values, 1000, &mut rng)
                };
                ScoreRow {
                    model_id: model_id.to_string(),
                    step,
                    task: task.to_string(),
                    mode: cell.mode,
                    shots: cell.shots,
                    metric: m.to_string(),
                    value: mean,
                    ci_lo,
                    ci_hi,
                    n: n as u64,
                    chance: chance.get(m).unwrap_or(0.0),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::parse;
    use crate::sweep::Preset;

    /// Teacher forcing scores what free generation must write: in cot mode the
    /// trace, cue and answer, so a model cannot score on the answer alone by
    /// copying it from the end of a gold trace.
    #[test]
    fn teacher_forcing_scores_the_whole_completion_of_the_mode() {
        let cfg = parse(Preset::Quick.text(), "quick").unwrap();
        let suite = Suite::build(&cfg).unwrap();
        let mut seen = [false; 2];
        for cell in &suite.cells {
            let task = suite.tasks[cell.task].task.as_ref();
            let items = distinct_items(task, cfg.eval.seed, Split::Test, cfg.eval.items).unwrap();
            for (p, item) in cell.prompts.iter().zip(&items) {
                assert_eq!(p.item_id, item.id);
                let text = vocab::decode(&p.completion_ids);
                match cell.mode {
                    Mode::Direct => assert_eq!(text, item.answer),
                    Mode::Cot => {
                        assert_eq!(text, format!("{} A:{}", item.trace, item.answer));
                        assert!(text.len() > item.answer.len() + 3);
                    }
                }
            }
            seen[usize::from(cell.mode == Mode::Cot)] = true;
        }
        assert_eq!(seen, [true, true]);
        // Token accuracy's chance level follows the completion.
        for st in &suite.tasks {
            let get = |m: Mode| st.chance.iter().find(|(x, _)| *x == m).unwrap().1;
            let (d, c) = (get(Mode::Direct), get(Mode::Cot));
            assert_eq!(d.exact_match, c.exact_match);
            assert_ne!(d.token_accuracy, c.token_accuracy);
        }
    }
}
