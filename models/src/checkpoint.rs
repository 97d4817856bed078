//! Checkpoints: weights (safetensors, readable names), optimizer moments
//! (safetensors), and `trainer.json` with the step, the caller's data position
//! and a length + CRC-32 of each tensor file so truncation or corruption is
//! caught on load instead of silently training on garbage.
//!
//! A checkpoint is a folder written whole under `<dir>.tmp` and renamed into
//! place; the previous one is kept as `<dir>.old` until the rename is done, so a
//! crash at any moment leaves one complete checkpoint to load.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::config::TrainConfig;
use crate::train::Trainer;
use crate::{Error, Result};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "trainer.json";
const FORMAT: u32 = 1;

/// A file's length and CRC-32: what a checkpoint's `state.json` records of
/// each tensor file, and what the sweep records of every file it must be
/// able to trust again after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub bytes: u64,
    pub crc32: u32,
}

impl FileSum {
    pub fn of(bytes: &[u8]) -> FileSum {
        FileSum {
            bytes: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    format: u32,
    model: ModelConfig,
    train: TrainConfig,
    dtype: String,
    step: u64,
    tokens: u64,
    optimizer_t: u64,
    data_position: u64,
    files: BTreeMap<String, FileSum>,
}

/// What a loaded checkpoint says about where training stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub step: u64,
    pub tokens: u64,
    /// Whatever the caller passed to [`Trainer::save`] (e.g. the stream position).
    pub data_position: u64,
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

fn serialize(tensors: Vec<(String, &Tensor)>) -> Result<Vec<u8>> {
    safetensors::serialize(tensors, None)
        .map_err(|e| Error::Candle(candle_core::Error::Msg(e.to_string())))
}

impl Trainer {
    /// Writes the checkpoint folder `dir` atomically (see the module docs).
    pub fn save(&self, dir: &Path, data_position: u64) -> Result<()> {
        let params = &self.model.params;
        let weights = serialize(
            params
                .iter()
                .map(|p| (p.name.clone(), p.var.as_tensor()))
                .collect(),
        )?;
        let opt = self.opt();
        let moments = serialize(
            params
                .iter()
                .enumerate()
                .flat_map(|(i, p)| {
                    [
                        (format!("m.{}", p.name), &opt.m[i]),
                        (format!("v.{}", p.name), &opt.v[i]),
                    ]
                })
                .collect(),
        )?;
        let sum = FileSum::of;
        let state = State {
            format: FORMAT,
            model: self.model.config,
            train: self.train.clone(),
            dtype: format!("{:?}", self.model.dtype()),
            step: self.steps_done(),
            tokens: self.tokens_seen(),
            optimizer_t: opt.t(),
            data_position,
            files: BTreeMap::from([
                (WEIGHTS_FILE.to_string(), sum(&weights)),
                (OPTIMIZER_FILE.to_string(), sum(&moments)),
            ]),
        };
        let state = serde_json::to_vec_pretty(&state).expect("state serializes");

        let tmp = sibling(dir, ".tmp");
        let old = sibling(dir, ".old");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        write_synced(&tmp.join(WEIGHTS_FILE), &weights)?;
        write_synced(&tmp.join(OPTIMIZER_FILE), &moments)?;
        write_synced(&tmp.join(STATE_FILE), &state)?;
        if dir.exists() {
            if old.exists() {
                fs::remove_dir_all(&old).map_err(io(&old))?;
            }
            fs::rename(dir, &old).map_err(io(dir))?;
        }
        fs::rename(&tmp, dir).map_err(io(dir))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        if let Some(parent) = dir.parent() {
            // Make the renames durable; not every filesystem supports this.
            if let Ok(d) = fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Whether `dir` (or the `.old` copy a crash mid-save leaves) holds a checkpoint.
    pub fn checkpoint_exists(dir: &Path) -> bool {
        dir.join(STATE_FILE).exists() || sibling(dir, ".old").join(STATE_FILE).exists()
    }

    /// Replaces this trainer's weights, moments and counters with the
    /// checkpoint in `dir`. The checkpoint must be for the same model config;
    /// a truncated or corrupt checkpoint is an error and nothing is changed.
    pub fn load(&mut self, dir: &Path) -> Result<CheckpointInfo> {
        let (dir, state) = self.read_own_state(dir)?;
        let weights = self.tensors(&dir, &state, WEIGHTS_FILE)?;
        let moments = self.tensors(&dir, &state, OPTIMIZER_FILE)?;
        // Validate everything before changing anything.
        let mut new_w = Vec::new();
        let mut new_m = Vec::new();
        let mut new_v = Vec::new();
        for p in &self.model.params {
            let like = p.var.as_tensor();
            new_w.push(fetch(&dir, &weights, &p.name, like, WEIGHTS_FILE)?);
            new_m.push(fetch(
                &dir,
                &moments,
                &format!("m.{}", p.name),
                like,
                OPTIMIZER_FILE,
            )?);
            new_v.push(fetch(
                &dir,
                &moments,
                &format!("v.{}", p.name),
                like,
                OPTIMIZER_FILE,
            )?);
        }
        for (p, w) in self.model.params.iter().zip(&new_w) {
            p.var.set(w)?;
        }
        let opt = self.opt_mut();
        opt.m = new_m;
        opt.v = new_v;
        self.restore(state.step, state.tokens, state.optimizer_t);
        Ok(state.info())
    }

    /// Replaces this trainer's weights only (not its AdamW moments or
    /// counters) with those of the checkpoint in `dir`: what scoring needs.
    /// The optimizer file is not read, so its damage does not matter here.
    pub fn load_weights(&mut self, dir: &Path) -> Result<CheckpointInfo> {
        let (dir, state) = self.read_own_state(dir)?;
        let weights = self.tensors(&dir, &state, WEIGHTS_FILE)?;
        let new_w = self
            .model
            .params
            .iter()
            .map(|p| fetch(&dir, &weights, &p.name, p.var.as_tensor(), WEIGHTS_FILE))
            .collect::<Result<Vec<_>>>()?;
        for (p, w) in self.model.params.iter().zip(&new_w) {
            p.var.set(w)?;
        }
        Ok(state.info())
    }

    /// The state of the checkpoint in `dir` (or its `.old` copy), refused
    /// unless it is for this trainer's model config and dtype.
    fn read_own_state(&self, dir: &Path) -> Result<(PathBuf, State)> {
        let dir = resolve(dir);
        let state = read_state(&dir)?;
        let state_path = dir.join(STATE_FILE);
        if state.model != self.model.config {
            return Err(corrupt(
                &state_path,
                format!(
                    "model config {:?} differs from this trainer's {:?}",
                    state.model, self.model.config
                ),
            ));
        }
        if state.dtype != format!("{:?}", self.model.dtype()) {
            return Err(corrupt(
                &state_path,
                format!("dtype {} differs", state.dtype),
            ));
        }
        Ok((dir, state))
    }

    /// The tensors of `name`, checked against the state's length and CRC-32.
    fn tensors(
        &self,
        dir: &Path,
        state: &State,
        name: &str,
    ) -> Result<std::collections::HashMap<String, Tensor>> {
        let bytes = read_checked(dir, state, name)?;
        candle_core::safetensors::load_buffer(&bytes, self.model.device())
            .map_err(|e| corrupt(&dir.join(name), e.to_string()))
    }
}

impl State {
    fn info(&self) -> CheckpointInfo {
        CheckpointInfo {
            step: self.step,
            tokens: self.tokens,
            data_position: self.data_position,
        }
    }
}

/// `dir`, or the `.old` copy a crash in the middle of a save leaves.
fn resolve(dir: &Path) -> PathBuf {
    if !dir.join(STATE_FILE).exists() && sibling(dir, ".old").join(STATE_FILE).exists() {
        sibling(dir, ".old")
    } else {
        dir.to_path_buf()
    }
}

fn read_state(dir: &Path) -> Result<State> {
    let state_path = dir.join(STATE_FILE);
    let raw = fs::read(&state_path).map_err(io(&state_path))?;
    let state: State =
        serde_json::from_slice(&raw).map_err(|e| corrupt(&state_path, e.to_string()))?;
    if state.format != FORMAT {
        return Err(corrupt(
            &state_path,
            format!("unknown format {}", state.format),
        ));
    }
    Ok(state)
}

/// The bytes of `dir/name`, refused unless their length and CRC-32 are the
/// ones `trainer.json` recorded.
fn read_checked(dir: &Path, state: &State, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let want = state
        .files
        .get(name)
        .ok_or_else(|| corrupt(&dir.join(STATE_FILE), format!("no checksum for {name}")))?;
    let bytes = fs::read(&path).map_err(io(&path))?;
    if bytes.len() as u64 != want.bytes {
        return Err(corrupt(
            &path,
            format!(
                "{} bytes, expected {} (truncated?)",
                bytes.len(),
                want.bytes
            ),
        ));
    }
    if crc32fast::hash(&bytes) != want.crc32 {
        return Err(corrupt(&path, "CRC-32 mismatch (corrupted)"));
    }
    Ok(bytes)
}

fn fetch(
    dir: &Path,
    map: &std::collections::HashMap<String, Tensor>,
    key: &str,
    like: &Tensor,
    file: &str,
) -> Result<Tensor> {
    let t = map
        .get(key)
        .ok_or_else(|| corrupt(&dir.join(file), format!("missing tensor {key}")))?;
    if t.dims() != like.dims() || t.dtype() != like.dtype() {
        return Err(corrupt(
            &dir.join(file),
            format!("tensor {key} has shape {:?}", t.dims()),
        ));
    }
    Ok(t.clone())
}

/// Check that `dir` (or its `.old` copy) holds a whole checkpoint without
/// parsing any tensor: `trainer.json` reads, and every file it lists has
/// the length and CRC-32 it recorded. Cheap next to [`Trainer::load`].
pub fn verify(dir: &Path) -> Result<CheckpointInfo> {
    let dir = resolve(dir);
    let state = read_state(&dir)?;
    for name in [WEIGHTS_FILE, OPTIMIZER_FILE] {
        read_checked(&dir, &state, name)?;
    }
    Ok(state.info())
}
