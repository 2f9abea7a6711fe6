/* QISA's causal attention at inference, one head, fused into one pass per sequence.
 *
 * Written by hand because PyTorch has no fused kernel for a Gaussian-kernel softmax: as separate
 * ops (norms, T x T sum, baddbmm, exp, mask, softmax, A @ v, pair products, value table) every
 * step is a pass over memory and a dispatch, where CSA gets one fused SDPA call. Here a
 * sequence's q, k, u, scores and values stay in L1. Loaded through ctypes by fused.py, which
 * compiles it on first use and falls back to the PyTorch ops when no C compiler is found.
 *
 * Input  qkuT (3C rows of row stride ld; column n = token n of the nseq * T tokens): rows q (C),
 *        k (C), u = W_v x (C), i.e. the input projection transposed, so that a block of
 *        consecutive tokens of one feature is one vector load (no transposes here).
 * Values v_t = tbias + sum_p table[p] * u_t[left[p]] * u_t[right[p]] (W columns: QISA's Pauli
 *        forms with the output projection folded in, see QISAttention.fused_weights).
 * Output y_t = sum_{s <= t} softmax_s(exp(-|q_t - k_s|^2)) v_s, (nseq * T, W), row-major.
 *
 * Queries t run along the vector lanes, keys s one at a time. The softmax needs no max
 * subtraction: its arguments exp(-|q - k|^2) lie in [0, 1].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Vectors of TB = 16 floats (GCC/Clang vector extensions: one AVX-512 register, two AVX2 or
 * four SSE/NEON ones, chosen by the compiler). Tokens are processed in blocks of TB, so no
 * loop has a runtime trip count shorter than a vector (with plain loops over t < T = 16, the
 * compilers' peeling and alias checks cost more than the arithmetic). */
#define TB 16
typedef float vf __attribute__((vector_size(TB * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(TB * sizeof(int32_t))));

static inline vf vselect(vi mask, vf a, vf b)   /* mask ? a : b, lane by lane */
{
    return (vf)((mask & (vi)a) | (~mask & (vi)b));
}

/* e^x for x <= 0 (here x = -|q - k|^2, up to float rounding), Cephes' expf: range reduction
 * by ln 2, degree-5 polynomial, about 1 ulp; lane by lane, with no -ffast-math (which would
 * also switch on flush-to-zero for the whole process). x is clamped at -87 so that the result
 * stays a normal float (e^-87 ~ 1.6e-38; below it the true value is under 1.2e-38). */
static inline vf vexp_neg(vf x)
{
    const vf zero = {0};
    x = vselect(x < -87.0f, zero - 87.0f, x);
    vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* nearest integer to x / ln 2 */
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = zero + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    vi bits = (__builtin_convertvector(n, vi) + 127) << 23;   /* 2^n */
    return p * (vf)bits;
}

/* e^a for a in [0, 1] (the softmax's arguments): e^0.5 times the degree-8 Taylor polynomial
 * of e^r at r = a - 0.5 in [-0.5, 0.5]; truncation error below 1e-8 relative (under float32's
 * rounding), no range reduction needed. */
static inline vf vexp_unit(vf a)
{
    vf r = a - 0.5f;
    vf p = (vf){0} + 1.0f / 40320.0f;
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * (r * r) + r + 1.0f;
    return p * 1.64872127070012814f;
}

static inline __attribute__((always_inline)) int attention(int64_t nseq, int64_t T, const int64_t C, int64_t ld,
                                                           const float *restrict qkuT, int64_t P,
                                                           const int64_t *restrict left, const int64_t *restrict right,
                                                           const int64_t W, const float *restrict table,
                                                           const float *restrict tbias, float *restrict out)
{
    if (nseq <= 0 || T <= 0)
        return 0;                                 /* nothing to do (and aligned_alloc(.., 0) may fail) */
    const int64_t nb = (T + TB - 1) / TB;         /* token blocks (the last one zero-padded) */
    size_t n = (size_t)nb * (size_t)(3 * C + W + 2);
    vf *ws = aligned_alloc(sizeof(vf), n * sizeof(vf));
    if (!ws)
        return 1;
    memset(ws, 0, n * sizeof(vf));
    vf *qT = ws;               /* (C, nb): q by feature, tokens along the vector */
    vf *kT = qT + C * nb;      /* (C, nb) */
    vf *uT = kT + C * nb;      /* (C, nb) */
    vf *vT = uT + C * nb;      /* (W, nb) values */
    vf *qq = vT + W * nb;      /* (nb) |q_t|^2 */
    vf *kk = qq + nb;          /* (nb) |k_s|^2 */
    vi iota;
    for (int j = 0; j < TB; j++)
        iota[j] = j;

    for (int64_t b = 0; b < nseq; b++) {
        const float *X = qkuT + b * T;             /* this sequence's columns */
        for (int64_t i = 0; i < nb; i++) {
            const int64_t t0 = i * TB, len = T - t0 < TB ? T - t0 : TB;
            for (int64_t c = 0; c < 3 * C; c++)     /* rows q, k, u -> qT, kT, uT (contiguous) */
                memcpy(&qT[c * nb + i], X + c * ld + t0, (size_t)len * sizeof(float));
            vf sq = {0}, sk = {0};
            for (int64_t c = 0; c < C; c++) {
                sq += qT[c * nb + i] * qT[c * nb + i];
                sk += kT[c * nb + i] * kT[c * nb + i];
            }
            qq[i] = sq;
            kk[i] = sk;
            /* values: the pair products times the (P, W) table, accumulated in registers */
            vf acc[W];
            for (int64_t w = 0; w < W; w++)
                acc[w] = (vf){0} + tbias[w];
            for (int64_t p = 0; p < P; p++) {
                vf pr = uT[left[p] * nb + i] * uT[right[p] * nb + i];
                const float *tp = table + p * W;
                for (int64_t w = 0; w < W; w++)
                    acc[w] += tp[w] * pr;
            }
            for (int64_t w = 0; w < W; w++)
                vT[w * nb + i] = acc[w];
        }

        /* per block of queries: keys s <= the block's last query, one at a time;
         * e_t = exp(exp(2 q_t.k_s - |q_t|^2 - |k_s|^2)) for t >= s, else 0 */
        for (int64_t i = 0; i < nb; i++) {
            const int64_t t0 = i * TB, len = T - t0 < TB ? T - t0 : TB;
            vf y[W], den = {0};
            for (int64_t w = 0; w < W; w++)
                y[w] = (vf){0};
            for (int64_t s = 0; s < t0 + len; s++) {
                const int64_t sb = s / TB, sl = s % TB;
                vf e = -qq[i] - kk[sb][sl];
                for (int64_t c = 0; c < C; c++)
                    e += (2.0f * kT[c * nb + sb][sl]) * qT[c * nb + i];
                e = vselect(iota + (int32_t)(t0 - s) >= 0, vexp_unit(vexp_neg(e)), (vf){0});  /* causal */
                den += e;
                for (int64_t w = 0; w < W; w++)
                    y[w] += vT[w * nb + sb][sl] * e;
            }
            vf inv = 1.0f / den;
            float *o = out + (b * T + t0) * W;
            for (int64_t j = 0; j < len; j++)
                for (int64_t w = 0; w < W; w++)
                    o[j * W + w] = y[w][j] * inv[j];
        }
    }
    free(ws);
    return 0;
}

/* Returns 0, or 1 when the workspace could not be allocated (nothing written then). The
 * default model's shape (T = C = W = 16) gets its own copy with every size a constant, so that
 * the compiler unrolls the feature loops and keeps the rows in registers. */
int qisa_causal_attention(int64_t nseq, int64_t T, int64_t C, int64_t ld, const float *restrict qkuT,
                          int64_t P, const int64_t *restrict left, const int64_t *restrict right,
                          int64_t W, const float *restrict table, const float *restrict tbias,
                          float *restrict out)
{
    if (T == 16 && C == 16 && W == 16)
        return attention(nseq, 16, 16, ld, qkuT, P, left, right, 16, table, tbias, out);
    return attention(nseq, T, C, ld, qkuT, P, left, right, W, table, tbias, out);
}
