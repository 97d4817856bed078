//! `--device auto|cpu|cuda:N` and the CPU thread count.

use candle_core::Device;

use crate::{Error, Result};

/// Parses a device spec. `auto` takes GPU 0 when this build has CUDA and the
/// machine has a usable GPU, and the CPU otherwise (candle's
/// `cuda_if_available` returns an error, not the CPU, when a CUDA build finds
/// no GPU).
pub fn parse_device(spec: &str) -> Result<Device> {
    resolve_device(spec).map(|(d, _)| d)
}

/// [`parse_device`], plus why `auto` fell back to the CPU in a CUDA build
/// (`None` when it did not, or when the build has no CUDA): a caller can
/// tell the user that the GPU it may have expected could not be opened.
pub fn resolve_device(spec: &str) -> Result<(Device, Option<String>)> {
    resolve_with(spec, candle_core::utils::cuda_is_available(), open_cuda)
}

/// [`resolve_device`] for a build that has CUDA or not (`cuda_built`), with
/// `open(spec, ordinal)` opening a CUDA device: the choices are the same in
/// every build, so a CPU build's tests check the CUDA build's too.
fn resolve_with(
    spec: &str,
    cuda_built: bool,
    open: impl FnOnce(&str, usize) -> Result<Device>,
) -> Result<(Device, Option<String>)> {
    match spec {
        "cpu" => Ok((Device::Cpu, None)),
        "auto" if cuda_built => match open(spec, 0) {
            Ok(d) => Ok((d, None)),
            Err(e) => Ok((Device::Cpu, Some(e.to_string()))),
        },
        "auto" => Ok((Device::Cpu, None)),
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
            if !cuda_built {
                return Err(Error::Device(format!(
                    "device {s:?} needs a build with the `cuda` feature (cargo build --features cuda)"
                )));
            }
            Ok((open(s, ordinal)?, None))
        }
    }
}

/// Opens CUDA device `ordinal` (`spec` names it in errors). A failure, an
/// error from the driver or a panic inside the CUDA bindings (cudarc panics
/// when a library or symbol it loads is missing), becomes one line.
fn open_cuda(spec: &str, ordinal: usize) -> Result<Device> {
    catch_device(spec, || Device::new_cuda(ordinal))
}

/// Runs a device constructor with panics caught and the default panic
/// message silenced, so a panic becomes one error line that names `spec`.
/// (The panic hook is process-wide: a panic on another thread meanwhile
/// would go unprinted; devices are opened once, before any work starts.)
fn catch_device(
    spec: &str,
    make: impl FnOnce() -> candle_core::Result<Device> + std::panic::UnwindSafe,
) -> Result<Device> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let made = std::panic::catch_unwind(make);
    std::panic::set_hook(hook);
    match made {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(Error::Device(format!(
            "device {spec:?}: {}",
            one_line(&e.to_string())
        ))),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(Error::Device(format!(
                "device {spec:?}: the CUDA libraries could not be used: {}",
                one_line(msg)
            )))
        }
    }
}

/// Joins a multi-line message (candle appends backtraces to some errors)
/// into one line, dropping empty lines and backtrace frames.
fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("stack backtrace") && !l.starts_with("0:"))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
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

    /// What cudarc does when a library it loads is missing (it panics) and
    /// what the driver does without a GPU (an error with a backtrace
    /// appended) both become one line naming the device, and the panic
    /// message is not printed.
    #[test]
    fn device_failures_become_one_line() {
        let e = catch_device("cuda:0", || {
            panic!(
                "Unable to dynamically load the \"cuda\" shared library - searched for library names: [\"libcuda.so\", \"libcuda.so.1\"]."
            )
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("device \"cuda:0\": "), "{e}");
        assert!(e.contains("libcuda.so"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = catch_device("cuda:1", || {
            Err(candle_core::Error::Msg(
                "DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")\nstack backtrace:\n   0: foo\n".into(),
            ))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "device \"cuda:1\": DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")"
        );
        assert!(catch_device("cpu", || Ok(Device::Cpu)).unwrap().is_cpu());
    }

    /// The choices of a CUDA build on a machine whose GPU does not open,
    /// and of a CPU build, whatever this build is: `auto` falls back to the
    /// CPU and says why in one line, `cuda:N` is refused in one line.
    #[test]
    fn auto_falls_back_and_cuda_n_is_refused_when_no_gpu_opens() {
        let no_gpu = |spec: &str, _: usize| {
            catch_device(spec, || {
                Err(candle_core::Error::Msg(
                    "DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")\nstack backtrace:\n   0: foo\n".into(),
                ))
            })
        };
        let no_library = |spec: &str, _: usize| {
            catch_device(spec, || {
                panic!("Unable to dynamically load the \"cuda\" shared library")
            })
        };
        // A CUDA build without a usable GPU.
        let (d, why) = resolve_with("auto", true, no_gpu).unwrap();
        assert!(d.is_cpu());
        assert_eq!(
            why.as_deref(),
            Some("device \"auto\": DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")")
        );
        let (d, why) = resolve_with("auto", true, no_library).unwrap();
        assert!(d.is_cpu());
        let why = why.unwrap();
        assert!(
            why.contains("could not be used") && !why.contains('\n'),
            "{why}"
        );
        let e = resolve_with("cuda:0", true, no_gpu)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("device \"cuda:0\": DriverError("), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // The ordinal reaches the opener; `cuda` alone is GPU 0.
        for (spec, want) in [("cuda:3", 3), ("cuda", 0)] {
            let (d, why) = resolve_with(spec, true, |_, n| {
                assert_eq!(n, want, "{spec}");
                Ok(Device::Cpu)
            })
            .unwrap();
            assert!(d.is_cpu() && why.is_none());
        }
        // A CPU build never tries to open a GPU: `auto` is the CPU with no
        // fallback to report, `cuda:N` names the missing feature.
        let never = |_: &str, _: usize| -> Result<Device> { panic!("opened a GPU in a CPU build") };
        let (d, why) = resolve_with("auto", false, never).unwrap();
        assert!(d.is_cpu() && why.is_none());
        let e = resolve_with("cuda:0", false, never)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "device \"cuda:0\" needs a build with the `cuda` feature (cargo build --features cuda)"
        );
        let e = resolve_with("cuda:x", true, never).unwrap_err().to_string();
        assert!(e.contains("unknown device \"cuda:x\""), "{e}");
    }
}
