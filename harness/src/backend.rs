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
        let resolved = models::resolve_device(device).map_err(|e| e.to_string())?;
        Self::from_resolved(resolved, kernels, &mut std::io::stderr())
    }

    /// [`Backend::new`] from what [`models::resolve_device`] gave, with the
    /// fallback line written to `say`.
    fn from_resolved(
        (device, fallback): (Device, Option<String>),
        kernels: Option<Kernels>,
        say: &mut dyn std::io::Write,
    ) -> Result<Self, String> {
        if let Some(why) = fallback {
            // Unwritable stderr: nothing better to do than run on.
            let _ = writeln!(
                say,
                "emerge: device auto: no usable GPU ({why}); using the CPU"
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--device auto` where a CUDA build finds no usable GPU: one line on
    /// stderr that says why, and the CPU's default backend.
    #[test]
    fn auto_says_why_it_fell_back_in_one_line() {
        let why = "device \"auto\": DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")";
        let mut said = Vec::new();
        let b = Backend::from_resolved((Device::Cpu, Some(why.into())), None, &mut said).unwrap();
        assert!(b.device.is_cpu());
        assert_eq!(b.kernels, Kernels::Fast);
        assert_eq!(
            String::from_utf8(said).unwrap(),
            format!("emerge: device auto: no usable GPU ({why}); using the CPU\n")
        );
        // No fallback, no line.
        let mut said = Vec::new();
        Backend::from_resolved((Device::Cpu, None), None, &mut said).unwrap();
        assert!(said.is_empty());
    }
}
