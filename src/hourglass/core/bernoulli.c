/* The Bernoulli log-likelihood of data under logits, and its gradient, in one pass per element.

   log p(x | l) = sum_i x_i l_i - softplus(l_i),  softplus(l) = max(l, 0) + log(1 + e^{-|l|}),
   d log p / d l_i = x_i - sigmoid(l_i),

   both from the one exponential e^{-|l_i|}. PyTorch runs the same as a chain of passes over the
   (rows, D) logits (log-sigmoid, products, sums forward; sigmoid and differences backward).
   Row r of the logits is scored against row r % xrows of the data, so k decodings of a batch
   (k * B rows) share the batch's B rows. Each row's sum is added in one fixed order: the split
   of the rows over threads does not change a bit. */

#include <stddef.h>

#include "fastmath.h"

void bernoulli_logits(int rows, int D, int xrows, int row0, const float *l, const float *x,
                      float *logp, float *grad) {
    for (int r = 0; r < rows; ++r) {
        const float *lr = l + (size_t)r * D;
        const float *xr = x + (size_t)((row0 + r) % xrows) * D;
        float acc = 0.0f;
        if (grad) {
            float *gr = grad + (size_t)r * D;
#pragma omp simd reduction(+:acc)
            for (int i = 0; i < D; ++i) {
                float a = lr[i], e = exp_f(a > 0.0f ? -a : a);
                acc += xr[i] * a - ((a > 0.0f ? a : 0.0f) + log1p_unit_f(e));
                float inv = 1.0f / (1.0f + e);
                gr[i] = xr[i] - (a >= 0.0f ? inv : e * inv);
            }
        } else {
#pragma omp simd reduction(+:acc)
            for (int i = 0; i < D; ++i) {
                float a = lr[i], e = exp_f(a > 0.0f ? -a : a);
                acc += xr[i] * a - ((a > 0.0f ? a : 0.0f) + log1p_unit_f(e));
            }
        }
        logp[r] = acc;
    }
}
