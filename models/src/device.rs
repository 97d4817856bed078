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
/// are set (the fused kernels run on that pool too); call it once, before any
/// tensor work.
pub fn set_cpu_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::Device("threads must be positive".into()));
    }
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    // candle runs large elementwise ops on its own spinning "barrier pool"
    // (CANDLE_NUM_THREADS - 1 workers). Its workers busy-wait between ops and
    // so compete for the cores with the rayon threads that run the matmuls
    // and the fused kernels (on 2 cores this cost up to 8x, BENCHMARKS.md).
    // The fused kernels cover the large elementwise work, so that pool gets
    // no workers unless the caller asked for some.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    // Ignore "already initialized": then the pool already exists and the env
    // var still bounds candle's matmul parallelism.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
    Ok(())
}

/// Runs `f` on a worker of rayon's global pool (directly if already on one).
///
/// The kernels split work with rayon. Called from a thread outside the pool,
/// every parallel op is injected into the pool while the caller sleeps on a
/// futex and a worker is woken: two context switches per op, thousands per
/// training step or decode. Run from inside the pool, the caller is itself a
/// worker and splits work by stealing instead.
pub(crate) fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::join(f, || ()).0
    }
}

/// Keeps freed memory in the process instead of returning it to the kernel.
///
/// A training step allocates and frees tensors of up to a few MB; glibc's
/// defaults serve those with `mmap`/`munmap` and trim the heap after large
/// frees, so every step paid page faults and zeroing for all of them (about
/// 40 % system time, measured in BENCHMARKS.md). Raising the mmap threshold
/// to its maximum (32 MiB), not using mmap above it either, and disabling
/// trimming makes them plain heap reuse: the process keeps its peak memory.
/// Idempotent; called by [`crate::Gpt::new`], so every trainer, test and
/// bench gets it. No effect outside glibc.
pub fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
            // Not even above 32 MiB (the largest models' flat gradient
            // buffers): every allocation comes from the heap and is reused.
            libc::mallopt(libc::M_MMAP_MAX, 0);
        }
    });
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
