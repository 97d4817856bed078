//! LayerNorm forward and backward over rows.

use super::*;

// ---------------------------------------------------------------- LayerNorm

#[inline(always)]
pub(crate) fn row_stats<T: Real>(x: &[T], inv_d: T, eps: T) -> (T, T) {
    let mean = sum8(x) * inv_d;
    let var = sq_dev8(x, mean) * inv_d;
    (mean, T::one() / (var + eps).sqrt())
}

/// `y = (x - mean) / sqrt(var + eps) * w + b` per row of `w.len()` elements.
pub(crate) fn ln_fwd<T: Real>(x: &[T], w: &[T], b: &[T], eps: f64, y: &mut [T]) {
    let d = w.len();
    let (eps, inv_d): (T, T) = (c(eps), c(1.0 / d as f64));
    let rc = row_chunk(d) * d;
    y.par_chunks_mut(rc)
        .zip(x.par_chunks(rc))
        .for_each(|(yc, xc)| {
            simd(
                #[inline(always)]
                || {
                    for (yr, xr) in yc.chunks_mut(d).zip(xc.chunks(d)) {
                        let (mean, rstd) = row_stats(xr, inv_d, eps);
                        for j in 0..d {
                            yr[j] = (xr[j] - mean) * rstd * w[j] + b[j];
                        }
                    }
                },
            )
        });
}

/// LayerNorm backward: `dx += ∂`, `dw += Σ g·x̂`, `db += Σ g` (statistics
/// recomputed from `x`).
pub(crate) fn ln_bwd<T: Real>(
    x: &[T],
    w: &[T],
    g: &[T],
    eps: f64,
    dx: &mut [T],
    dw: &mut [T],
    db: &mut [T],
) {
    let d = w.len();
    let (eps, inv_d): (T, T) = (c(eps), c(1.0 / d as f64));
    let rows = row_chunk(d);
    let n_chunks = (x.len() / d).div_ceil(rows);
    // Per-chunk partial sums of dw and db, added up in chunk order.
    let mut partial = vec![T::zero(); n_chunks * 2 * d];
    dx.par_chunks_mut(rows * d)
        .zip(x.par_chunks(rows * d))
        .zip(g.par_chunks(rows * d))
        .zip(partial.par_chunks_mut(2 * d))
        .for_each(|(((dxc, xc), gc), pc)| {
            simd(
                #[inline(always)]
                || {
                    let (pw, pb) = pc.split_at_mut(d);
                    let (mut xhat, mut gw) = (vec![T::zero(); d], vec![T::zero(); d]);
                    for ((dxr, xr), gr) in dxc.chunks_mut(d).zip(xc.chunks(d)).zip(gc.chunks(d)) {
                        let (mean, rstd) = row_stats(xr, inv_d, eps);
                        for j in 0..d {
                            xhat[j] = (xr[j] - mean) * rstd;
                            gw[j] = gr[j] * w[j];
                            pw[j] += gr[j] * xhat[j];
                            pb[j] += gr[j];
                        }
                        let (sg, sgx) = (sum8(&gw) * inv_d, dot(&gw, &xhat) * inv_d);
                        for j in 0..d {
                            dxr[j] += rstd * (gr[j] * w[j] - sg - xhat[j] * sgx);
                        }
                    }
                },
            )
        });
    for pc in partial.chunks(2 * d) {
        for (acc, &p) in dw.iter_mut().zip(&pc[..d]) {
            *acc += p;
        }
        for (acc, &p) in db.iter_mut().zip(&pc[d..]) {
            *acc += p;
        }
    }
}
