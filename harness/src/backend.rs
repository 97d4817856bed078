//! `--device` and `--kernels`: where the models compute and with which
//! backend, resolved once per command and used for every trainer it makes.

use models::{DType, Device, Kernels, ModelConfig, TrainConfig, Trainer};

/// A device and the backend that runs on it.
pub struct Backend {
    pub device: Device,
    pub kernels: Kernels,
}

impl Backend {
    /// `kernels` on `device` (a spec as `--device` takes it); without
    /// `kernels`, the fast backend on the CPU and candle's elsewhere. Models
    /// train in f32. When `auto` finds a CUDA build but no usable GPU, it
    /// says so on stderr (one line) and uses the CPU.
    pub fn new(device: &str, kernels: Option<Kernels>) -> Result<Self, String> {
        let (device, fallback) = models::resolve_device(device).map_err(|e| e.to_string())?;
        if let Some(why) = fallback {
            eprintln!("emerge: device auto: no usable GPU ({why}); using the CPU");
        }
        let kernels = kernels.unwrap_or_else(|| Kernels::default_for(&device, DType::F32));
        if !kernels.supports(&device, DType::F32) {
            return Err(format!(
                "--kernels {kernels} runs on the CPU only, not on {}",
                models::device_name(&device)
            ));
        }
        Ok(Self { device, kernels })
    }

    /// A fresh trainer on this backend.
    pub fn trainer(
        &self,
        model: ModelConfig,
        train: TrainConfig,
        seed: u64,
    ) -> models::Result<Trainer> {
        Trainer::new(model, train, &self.device, seed)?.with_kernels(self.kernels)
    }
}
