//! LayerNorm forward and backward over rows.

use super::*;

// ---------------------------------------------------------------- LayerNorm

#[inline(always)]
pub(crate) fn row_stats<T: Real>(x: &[T], inv_d: T, eps: T) -> (T, T) {
    let mean = sum8(x) * inv_d;
    let var = sq_dev8(x, mean) * inv_d;
    (mean, T::one() / (var + eps).sqrt())
}

/// `y = (x - mean) / sqrt(var + eps) * w + b` per row of `w.len()` elements;
/// with `stats`, each row's `(mean, 1/sqrt(var + eps))` is written there too
/// (two per row) for [`ln_bwd`].
pub(crate) fn ln_fwd<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    eps: f64,
    y: &mut [T],
    stats: Option<&mut [T]>,
) {
    let d = w.len();
    let (eps, inv_d): (T, T) = (c(eps), c(1.0 / d as f64));
    let rows = row_chunk(d);
    let chunk = |yc: &mut [T], xc: &[T], mut sc: Option<&mut [T]>| {
        simd(
            #[inline(always)]
            || {
                for (r, (yr, xr)) in yc.chunks_mut(d).zip(xc.chunks(d)).enumerate() {
                    let (mean, rstd) = row_stats(xr, inv_d, eps);
                    if let Some(sc) = sc.as_deref_mut() {
                        sc[2 * r] = mean;
                        sc[2 * r + 1] = rstd;
                    }
                    for j in 0..d {
                        yr[j] = (xr[j] - mean) * rstd * w[j] + b[j];
                    }
                }
            },
        )
    };
    let (yc, xc) = (y.par_chunks_mut(rows * d), x.par_chunks(rows * d));
    match stats {
        Some(st) => yc
            .zip(xc)
            .zip(st.par_chunks_mut(2 * rows))
            .for_each(|((yc, xc), sc)| chunk(yc, xc, Some(sc))),
        None => yc.zip(xc).for_each(|(yc, xc)| chunk(yc, xc, None)),
    }
}

/// LayerNorm backward: `dx += ∂`, `dw += Σ g·x̂`, `db += Σ g`, with the
/// forward's statistics when given (the same values: [`ln_fwd`] computes
/// them the same way), else recomputed from `x`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ln_bwd<T: Real>(
    x: &[T],
    w: &[T],
    g: &[T],
    eps: f64,
    stats: Option<&[T]>,
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
        .enumerate()
        .for_each(|(ci, (((dxc, xc), gc), pc))| {
            simd(
                #[inline(always)]
                || {
                    let (pw, pb) = pc.split_at_mut(d);
                    let (mut xhat, mut gw) = (vec![T::zero(); d], vec![T::zero(); d]);
                    let rows_of = dxc.chunks_mut(d).zip(xc.chunks(d)).zip(gc.chunks(d));
                    for (r, ((dxr, xr), gr)) in rows_of.enumerate() {
                        let (mean, rstd) = match stats {
                            Some(st) => {
                                let i = 2 * (ci * rows + r);
                                (st[i], st[i + 1])
                            }
                            None => row_stats(xr, inv_d, eps),
                        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_with_the_forward_statistics_gives_the_same_bits() {
        // 5000 rows of 8: three work chunks of rows, the last partial.
        let (n, d) = (5000, 8);
        let val = |i: usize, m: usize| ((i * 7919 + m) % 1013) as f32 / 500.0 - 1.0;
        let x: Vec<f32> = (0..n * d).map(|i| val(i, 1) * 3.0).collect();
        let g: Vec<f32> = (0..n * d).map(|i| val(i, 2)).collect();
        let w: Vec<f32> = (0..d).map(|j| val(j, 3)).collect();
        let bias: Vec<f32> = (0..d).map(|j| val(j, 4)).collect();
        let (mut y, mut stats) = (vec![0f32; n * d], vec![0f32; 2 * n]);
        ln_fwd(&x, &w, &bias, 1e-5, &mut y, Some(&mut stats));
        let mut y2 = vec![0f32; n * d];
        ln_fwd(&x, &w, &bias, 1e-5, &mut y2, None);
        assert_eq!(y, y2);
        let run = |st: Option<&[f32]>| {
            let (mut dx, mut dw, mut db) = (vec![0.5f32; n * d], vec![0f32; d], vec![0f32; d]);
            ln_bwd(&x, &w, &g, 1e-5, st, &mut dx, &mut dw, &mut db);
            (dx, dw, db)
        };
        assert_eq!(run(Some(&stats)), run(None));
    }
}
