/* QPA's mapping model with activation "none" (all layers affine), composed, centred, and its
 * gradient: the C version of generator.py's ComposedMapping (float32; same math, see there).
 *
 * Written by hand because in a training step this is ~60 small PyTorch ops forward and
 * backward whose cost is dispatch on a cold cache (the step's vocabulary-sized products have
 * just evicted everything), not arithmetic: about 1.2 ms of a 21 ms step, against ~0.2 ms here.
 * Loaded through ctypes (quantum_llm.cbuild) by generator.py.
 *
 * Layers l = 0..L-1: y = x W_l^T + b_l, W_l (dims[l+1], dims[l]) row-major, dims[0] = R = N+1.
 * Chain: w_0 = W_0^T, w_l = w_{l-1} W_l^T (R, dims[l+1]); bias bv_0 = b_0, bv_l = W_l bv_{l-1} + b_l.
 * wa (R+1, n), n = dims[L]: the rows of w_{L-1}, then bv_{L-1} minus the mean of the first m
 * chunk values. inp (nb, R+1) = [codes, x, 1]; out = inp wa (nb, n).
 */
#include <stdint.h>
#include <string.h>

static inline void axpy(int64_t n, float a, const float *restrict x, float *restrict y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static inline float dot(int64_t n, const float *restrict a, const float *restrict b)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline float sum(int64_t n, const float *a)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i];
    return s;
}

/* chain: the w_l and bv_l one after the other (R * dims[l+1] + dims[l+1] floats each), kept for
 * the backward; xs: 2 floats out (the x row's sum and its tail's sum, for d total / d x). */
void qpa_mapping_forward(int L, const int64_t *dims, const float *const *W, const float *const *b,
                         int64_t nb, const float *codes_x_ones, const float *x, int64_t k, int64_t m,
                         float *chain, float *wa, float *inp, float *xs, float *out)
{
    const int64_t R = dims[0], n = dims[L];
    float *w = chain, *bv = chain + R * dims[1];
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < dims[1]; j++)
            w[r * dims[1] + j] = W[0][j * R + r];
    memcpy(bv, b[0], (size_t)dims[1] * sizeof(float));
    for (int l = 1; l < L; l++) {
        const int64_t in = dims[l], o = dims[l + 1];
        float *w2 = bv + in, *bv2 = w2 + R * o;
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < o; j++)
                w2[r * o + j] = dot(in, w + r * in, W[l] + j * in);
        for (int64_t j = 0; j < o; j++)
            bv2[j] = b[l][j] + dot(in, W[l] + j * in, bv);
        w = w2;
        bv = bv2;
    }
    memcpy(wa, w, (size_t)(R * n) * sizeof(float));
    memcpy(wa + R * n, bv, (size_t)n * sizeof(float));
    memcpy(inp, codes_x_ones, (size_t)(nb * (R + 1)) * sizeof(float));
    for (int64_t i = 0; i < nb; i++)
        inp[i * (R + 1) + R - 1] = x[i];
    /* the mean of the first m values: all nb rows, less the last row's values past k */
    float total = 0.0f;
    for (int64_t r = 0; r <= R; r++) {
        float colsum = 0.0f;
        for (int64_t i = 0; i < nb; i++)
            colsum += inp[i * (R + 1) + r];
        total += colsum * sum(n, wa + r * n) - inp[(nb - 1) * (R + 1) + r] * sum(n - k, wa + r * n + k);
    }
    xs[0] = sum(n, wa + (R - 1) * n);
    xs[1] = sum(n - k, wa + (R - 1) * n + k);
    float shift = total / (float)m;
    for (int64_t j = 0; j < n; j++)
        wa[R * n + j] -= shift;
    for (int64_t i = 0; i < nb; i++) {
        float *o = out + i * n;
        memset(o, 0, (size_t)n * sizeof(float));
        for (int64_t r = 0; r <= R; r++)
            axpy(n, inp[i * (R + 1) + r], wa + r * n, o);
    }
}

/* g (nb, n): d loss / d out. gx (nb), gW[l] (dims[l+1], dims[l]), gb[l] (dims[l+1]): written.
 * scratch: (R+1) * n + 2 * R * maxd + 2 * maxd floats, maxd = the largest dims[l]. */
void qpa_mapping_backward(int L, const int64_t *dims, const float *const *W, const float *chain,
                          const float *wa, const float *inp, const float *xs, int64_t nb, int64_t k, int64_t m,
                          const float *g, float *gx, float *const *gW, float *const *gb, float *scratch)
{
    const int64_t R = dims[0], n = dims[L];
    int64_t maxd = 0;
    for (int l = 0; l <= L; l++)
        maxd = dims[l] > maxd ? dims[l] : maxd;
    float *gwa = scratch, *gw = gwa + (R + 1) * n, *gw2 = gw + R * maxd, *gbv = gw2 + R * maxd, *gbv2 = gbv + maxd;
    memset(gwa, 0, (size_t)((R + 1) * n) * sizeof(float));
    for (int64_t i = 0; i < nb; i++) {
        const float *gi = g + i * n;
        for (int64_t r = 0; r <= R; r++)
            axpy(n, inp[i * (R + 1) + r], gi, gwa + r * n);
        gx[i] = dot(n, gi, wa + (R - 1) * n);
    }
    /* the centring: wa[R] = bv - total / m, total = sum_r colsum_r rowsum(wa_r) - last_r rowsum(wa_r[k:]) */
    const float gt = -sum(n, gwa + R * n) / (float)m;
    for (int64_t r = 0; r <= R; r++) {
        float colsum = 0.0f, last = inp[(nb - 1) * (R + 1) + r];
        for (int64_t i = 0; i < nb; i++)
            colsum += inp[i * (R + 1) + r];
        float *row = gwa + r * n;
        for (int64_t j = 0; j < n; j++)
            row[j] += gt * colsum;
        for (int64_t j = k; j < n; j++)
            row[j] -= gt * last;
    }
    for (int64_t i = 0; i < nb; i++)
        gx[i] += gt * xs[0];
    gx[nb - 1] -= gt * xs[1];

    /* the chain, last layer first */
    const float *gw_cur = gwa, *gb_cur = gwa + R * n;
    for (int l = L - 1; l >= 1; l--) {
        const int64_t in = dims[l], o = dims[l + 1];
        int64_t off = 0;                               /* where w_{l-1}, bv_{l-1} start in chain */
        for (int i = 1; i < l; i++)
            off += R * dims[i] + dims[i];
        const float *wp = chain + off, *bp = wp + R * in;
        for (int64_t j = 0; j < o; j++) {
            float *row = gW[l] + j * in;
            for (int64_t i = 0; i < in; i++)
                row[i] = gb_cur[j] * bp[i];
            for (int64_t r = 0; r < R; r++)
                axpy(in, gw_cur[r * o + j], wp + r * in, row);
        }
        memcpy(gb[l], gb_cur, (size_t)o * sizeof(float));
        memset(gw2, 0, (size_t)(R * in) * sizeof(float));
        memset(gbv2, 0, (size_t)in * sizeof(float));
        for (int64_t j = 0; j < o; j++) {
            for (int64_t r = 0; r < R; r++)
                axpy(in, gw_cur[r * o + j], W[l] + j * in, gw2 + r * in);
            axpy(in, gb_cur[j], W[l] + j * in, gbv2);
        }
        float *t = gw;
        gw = gw2;
        gw2 = t;
        t = gbv;
        gbv = gbv2;
        gbv2 = t;
        gw_cur = gw;
        gb_cur = gbv;
    }
    for (int64_t j = 0; j < dims[1]; j++)          /* w_0 = W_0^T */
        for (int64_t r = 0; r < R; r++)
            gW[0][j * R + r] = gw_cur[r * dims[1] + j];
    memcpy(gb[0], gb_cur, (size_t)dims[1] * sizeof(float));
}
