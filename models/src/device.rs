//! `--device auto|cpu|cuda:N` and the CPU thread count.

use candle_core::Device;

use crate::{Error, Result};

/// Parses a device spec. `auto` takes GPU 0 when this build has CUDA and the
/// machine has a GPU, and the CPU otherwise (candle's `cuda_if_available`
/// returns an error, not the CPU, when a CUDA build finds no GPU).
pub fn parse_device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
        s => {
            let ordinal = s
                .strip_prefix("cuda:")
                .or_else(|| (s == "cuda").then_some("0"))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    Error::Device(format!(
                        "unknown device {s:?}; expected auto, cpu or cuda:N"
                    ))
                })?;
            if !candle_core::utils::cuda_is_available() {
                return Err(Error::Device(format!(
                    "device {s:?} needs a build with the `cuda` feature (cargo build --features cuda)"
                )));
            }
            Device::new_cuda(ordinal).map_err(|e| Error::Device(format!("device {s:?}: {e}")))
        }
    }
}

/// A short human-readable name for manifests and logs.
pub fn device_name(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => format!("{:?}", d.location()).to_lowercase(),
        other => format!("{:?}", other.location()).to_lowercase(),
    }
}

/// Sets the number of CPU threads candle's kernels use. candle's matmuls read
/// `RAYON_NUM_THREADS` at every call and run on rayon's global pool, so both
/// are set; call it once, before any tensor work.
pub fn set_cpu_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Device("threads must be positive".into()));
    }
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    // Ignore "already initialized": then the pool already exists and the env
    // var still bounds candle's matmul parallelism.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        // Without a GPU (always true in CI) auto falls back to the CPU.
        if !candle_core::utils::cuda_is_available() {
            assert!(parse_device("auto").unwrap().is_cpu());
            let e = parse_device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("cuda"), "{e}");
        }
        let e = parse_device("tpu").unwrap_err().to_string();
        assert!(e.contains("\"tpu\""), "{e}");
    }
}
