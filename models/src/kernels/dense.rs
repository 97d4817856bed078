//! GELU, linear layers, embedding and cross-entropy.

use super::*;

// ---------------------------------------------------------------- GELU

/// `y = 0.5·x·(1 + erf(x/√2))` (candle's gelu_erf expression; f32 uses
/// [`erf_f32`]),
/// and the derivative into `deriv` when given.
pub(crate) fn gelu_fwd<T: Real>(x: &[T], y: &mut [T], deriv: Option<&mut [T]>) {
    match deriv {
        None => y
            .par_chunks_mut(ELEM_CHUNK)
            .zip(x.par_chunks(ELEM_CHUNK))
            .for_each(|(yc, xc)| {
                simd_wide(
                    #[inline(always)]
                    || gelu_rows(xc, yc, None),
                )
            }),
        Some(dy) => y
            .par_chunks_mut(ELEM_CHUNK)
            .zip(dy.par_chunks_mut(ELEM_CHUNK))
            .zip(x.par_chunks(ELEM_CHUNK))
            .for_each(|((yc, dc), xc)| {
                simd_wide(
                    #[inline(always)]
                    || gelu_rows(xc, yc, Some(dc)),
                )
            }),
    }
}

/// The loop of [`gelu_fwd`] over one chunk.
#[inline(always)]
pub(crate) fn gelu_rows<T: Real>(x: &[T], y: &mut [T], deriv: Option<&mut [T]>) {
    let r: T = c(std::f64::consts::FRAC_1_SQRT_2);
    let half: T = c(0.5);
    let inv_sqrt_2pi: T = c(1.0 / (2.0 * std::f64::consts::PI).sqrt());
    match deriv {
        None => {
            for (y, &v) in y.iter_mut().zip(x) {
                *y = ((v * r).erf_() + T::one()) * half * v;
            }
        }
        Some(dy) => {
            for ((y, d), &v) in y.iter_mut().zip(dy).zip(x) {
                let e = (v * r).erf_() + T::one();
                *y = e * half * v;
                *d = half * e + v * (-half * v * v).exp_() * inv_sqrt_2pi;
            }
        }
    }
}

// ---------------------------------------------------------------- linear

/// `y (+)= x Wᵀ` for `x (n, k)`, `w (o, k)`, `y (n, o)`.
pub(crate) fn xwt<T: Real>(x: &[T], w: &[T], o: usize, y: &mut [T], accumulate: bool) {
    x_times_w(x, w, o, y, accumulate, true)
}

/// `y (+)= x Wt` for `x (n, k)`, `wt (k, o)` (a transposed weight), `y (n, o)`.
pub(crate) fn xw<T: Real>(x: &[T], wt: &[T], o: usize, y: &mut [T], accumulate: bool) {
    x_times_w(x, wt, o, y, accumulate, false)
}

/// [`xwt`] (`w` stored `(o, k)`, read transposed) or [`xw`] (`w` stored
/// `(k, o)`): the same product, only the weight's strides differ.
fn x_times_w<T: Real>(
    x: &[T],
    w: &[T],
    o: usize,
    y: &mut [T],
    accumulate: bool,
    w_is_o_by_k: bool,
) {
    let (n, k) = dims(x, w, o, "xw");
    assert_eq!(y.len(), n * o, "xw: output length");
    // Strides of the (k, o) right-hand side: row (over k), column (over o).
    let (w_rs, w_cs) = if w_is_o_by_k { (1, k) } else { (o, 1) };
    // SAFETY: x is (n, k) with row stride k, w holds k·o elements read with
    // strides (w_rs, w_cs) inside them, y is (n, o) with row stride o: the
    // asserts above checked all three lengths.
    unsafe {
        mm(
            n,
            o,
            k,
            y.as_mut_ptr(),
            o,
            1,
            accumulate,
            x.as_ptr(),
            k,
            1,
            w.as_ptr(),
            w_rs,
            w_cs,
            false,
            gemm_par(n, o, k),
        )
    }
}

/// `wt (k, o) = wᵀ` for `w (o, k)`, in 8 × 8 blocks.
pub(crate) fn transpose<T: Real>(w: &[T], o: usize, wt: &mut [T]) {
    assert!(
        o > 0 && w.len().is_multiple_of(o),
        "transpose: {} elements in rows of {o}",
        w.len()
    );
    let k = w.len() / o;
    assert_eq!(wt.len(), w.len(), "transpose: output length");
    for i0 in (0..o).step_by(8) {
        for j0 in (0..k).step_by(8) {
            for i in i0..(i0 + 8).min(o) {
                for j in j0..(j0 + 8).min(k) {
                    wt[j * o + i] = w[i * k + j];
                }
            }
        }
    }
}

/// `(n, k)` for `x (n, k)` and a weight of `k·o` elements, asserting that
/// the lengths divide: the products index raw pointers with these sizes.
fn dims<T>(x: &[T], w: &[T], o: usize, what: &str) -> (usize, usize) {
    assert!(
        o > 0 && !w.is_empty() && w.len().is_multiple_of(o),
        "{what}: weight of {} elements for {o} outputs",
        w.len()
    );
    let k = w.len() / o;
    assert!(
        x.len().is_multiple_of(k),
        "{what}: input of {} elements in rows of {k}",
        x.len()
    );
    (x.len() / k, k)
}

/// `y = b + y` for every row of `y`: a linear layer's bias added to its
/// product (the sum the product would have made accumulating onto `b`).
pub(crate) fn add_bias_rows<T: Real>(y: &mut [T], b: &[T]) {
    simd(
        #[inline(always)]
        || {
            for row in y.chunks_mut(b.len()) {
                for (y, &bv) in row.iter_mut().zip(b) {
                    *y = bv + *y;
                }
            }
        },
    )
}

/// `y = (x + b) + y` for every row: the residual stream `x` plus a linear
/// layer's bias and product.
pub(crate) fn add_residual_rows<T: Real>(y: &mut [T], x: &[T], b: &[T]) {
    simd(
        #[inline(always)]
        || {
            for (row, xr) in y.chunks_mut(b.len()).zip(x.chunks(b.len())) {
                for ((y, &xv), &bv) in row.iter_mut().zip(xr).zip(b) {
                    *y = (xv + bv) + *y;
                }
            }
        },
    )
}

/// Linear backward: `dx = g W`, `dw = gᵀ x`, `db += Σ rows g` for
/// `x (n, k)`, `w (o, k)`, `g (n, o)`.
pub(crate) fn linear_bwd<T: Real>(
    x: &[T],
    w: &[T],
    g: &[T],
    o: usize,
    dx: &mut [T],
    dw: &mut [T],
    db: Option<&mut [T]>,
) {
    let (n, k) = dims(x, w, o, "linear_bwd");
    assert_eq!(g.len(), n * o, "linear_bwd: g length");
    assert_eq!(dw.len(), o * k, "linear_bwd: dw length");
    assert_eq!(dx.len(), n * k, "linear_bwd: dx length");
    if let Some(db) = &db {
        assert_eq!(db.len(), o, "linear_bwd: db length");
    }
    // SAFETY: with the lengths asserted above, g is (n, o), w is (o, k), x is
    // (n, k) and dx is (n, k), each with contiguous rows; dw is (o, k) and
    // gᵀ is read as (o, n) with strides (1, o) inside g.
    unsafe {
        mm(
            n,
            k,
            o,
            dx.as_mut_ptr(),
            k,
            1,
            false,
            g.as_ptr(),
            o,
            1,
            w.as_ptr(),
            k,
            1,
            false,
            gemm_par(n, k, o),
        );
        mm(
            o,
            k,
            n,
            dw.as_mut_ptr(),
            k,
            1,
            false,
            g.as_ptr(),
            1,
            o,
            x.as_ptr(),
            k,
            1,
            // x is the layer's input, from the forward.
            true,
            gemm_par(o, k, n),
        );
    }
    if let Some(db) = db {
        colsum(g, db);
    }
}

/// `acc += Σ rows m` for `m (n, acc.len())`, rows in order.
pub(crate) fn colsum<T: Real>(m: &[T], acc: &mut [T]) {
    for row in m.chunks(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

// ---------------------------------------------------------------- embedding

/// `x[r] = wte[tokens[r]] + wpe[positions[r]]`.
pub(crate) fn embed_fwd<T: Real>(
    wte: &[T],
    wpe: &[T],
    tokens: &[u32],
    positions: &[u32],
    x: &mut [T],
) {
    let d = x.len() / tokens.len().max(1);
    for ((xr, &t), &p) in x.chunks_mut(d).zip(tokens).zip(positions) {
        let (a, b) = (&wte[t as usize * d..][..d], &wpe[p as usize * d..][..d]);
        for j in 0..d {
            xr[j] = a[j] + b[j];
        }
    }
}

/// Embedding backward: scatter-adds the rows of `g` in row order.
pub(crate) fn embed_bwd<T: Real>(
    g: &[T],
    tokens: &[u32],
    positions: &[u32],
    dwte: &mut [T],
    dwpe: &mut [T],
) {
    let d = g.len() / tokens.len().max(1);
    for ((gr, &t), &p) in g.chunks(d).zip(tokens).zip(positions) {
        for (a, &v) in dwte[t as usize * d..][..d].iter_mut().zip(gr) {
            *a += v;
        }
        for (a, &v) in dwpe[p as usize * d..][..d].iter_mut().zip(gr) {
            *a += v;
        }
    }
}

// ---------------------------------------------------------------- cross-entropy

/// Weighted mean cross-entropy of `logits (n, v)`: returns
/// `Σ wᵢ·(-log p(targetᵢ)) / denom` (w = 1 without weights) and, with
/// `dlogits`, writes `g·∂loss/∂logits` there.
pub(crate) fn cross_entropy<T: Real>(
    logits: &[T],
    v: usize,
    targets: &[u32],
    weights: Option<&[f64]>,
    denom: f64,
    g: f64,
    dlogits: Option<&mut [T]>,
) -> f64 {
    let n = logits.len() / v;
    let rows = row_chunk(v);
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut nll = vec![0f64; n];
    let row = |i: usize, xr: &[T], dr: Option<&mut [T]>| -> f64 {
        let (t, w) = (targets[i] as usize, weight(i));
        simd(
            #[inline(always)]
            || ce_row(xr, dr, t, w, g * w / denom),
        )
    };
    match dlogits {
        None => nll
            .par_chunks_mut(rows)
            .zip(logits.par_chunks(rows * v))
            .enumerate()
            .for_each(|(ci, (nc, xc))| {
                for (r, (o, xr)) in nc.iter_mut().zip(xc.chunks(v)).enumerate() {
                    *o = row(ci * rows + r, xr, None);
                }
            }),
        Some(dl) => nll
            .par_chunks_mut(rows)
            .zip(logits.par_chunks(rows * v))
            .zip(dl.par_chunks_mut(rows * v))
            .enumerate()
            .for_each(|(ci, ((nc, xc), dc))| {
                for (r, ((o, xr), dr)) in nc
                    .iter_mut()
                    .zip(xc.chunks(v))
                    .zip(dc.chunks_mut(v))
                    .enumerate()
                {
                    *o = row(ci * rows + r, xr, Some(dr));
                }
            }),
    }
    nll.iter().sum::<f64>() / denom
}

/// One row of [`cross_entropy`]: `-w·log p(t)`, and `coef·(softmax - onehot)`
/// into `dr` when given.
#[inline(always)]
pub(crate) fn ce_row<T: Real>(xr: &[T], dr: Option<&mut [T]>, t: usize, w: f64, coef: f64) -> f64 {
    let mx = max8(xr);
    match dr {
        None => {
            let sum = xr.iter().fold(T::zero(), |a, &b| a + (b - mx).exp_());
            -f(xr[t] - mx - sum.ln()) * w
        }
        Some(dr) => {
            for (d, &b) in dr.iter_mut().zip(xr) {
                *d = (b - mx).exp_();
            }
            let sum = sum8(dr);
            let coef: T = c(coef);
            for d in dr.iter_mut() {
                *d = *d / sum * coef;
            }
            dr[t] -= coef;
            -f(xr[t] - mx - sum.ln()) * w
        }
    }
}
