/* NADE's logits and their gradient (Larochelle & Murray 2011, Algorithm 1), one loop per element.

   a_1 = c, a_{i+1} = a_i + Wt_i u_i, h_i = sigmoid(a_i), logit_i = V_i . h_i (b is added outside).
   The forward pass keeps a at the first position of every block of `block` positions; the
   backward pass runs over the positions in reverse, carrying sum_{i' > i} da_i', and recomputes
   each block's h_i from its saved a. Rows are taken TILE at a time, so each row of Wt, V, dWt and
   dV is read once for TILE examples. Plain C99: built by hourglass.core.native with -O3
   -march=native, which vectorizes the loops over h. The caller splits the batch over threads,
   each with its own dWt, dV and dc. */

#include <stddef.h>
#include <string.h>

#include "fastmath.h"

#define TILE 8

/* logits[b, i] = V_i . sigmoid(a_bi) for rows b in [0, B); a_b1 = c, a_b,i+1 = a_bi + u_bi Wt_i.
   Saves a at every block's first position into starts (B, nblocks, H). a: TILE * H floats. */
void nade_forward(int B, int D, int H, int block, const float *u, const float *Wt,
                  const float *c, const float *V, float *logits, float *starts, float *a) {
    int nblocks = (D + block - 1) / block;
    for (int b0 = 0; b0 < B; b0 += TILE) {
        int T = B - b0 < TILE ? B - b0 : TILE;
        for (int t = 0; t < T; t++) memcpy(a + (size_t)t * H, c, sizeof(float) * H);
        for (int i = 0; i < D; i++) {
            const float *w = Wt + (size_t)i * H, *v = V + (size_t)i * H;
            for (int t = 0; t < T; t++) {
                float *at = a + (size_t)t * H;
                int b = b0 + t;
                if (i % block == 0)
                    memcpy(starts + ((size_t)b * nblocks + i / block) * H, at, sizeof(float) * H);
                float s = 0.0f;
                #pragma omp simd reduction(+:s)
                for (int h = 0; h < H; h++) s += sigmoid_f(at[h]) * v[h];
                logits[(size_t)b * D + i] = s;
                float x = u[(size_t)b * D + i];
                if (x != 0.0f) {
                    #pragma omp simd
                    for (int h = 0; h < H; h++) at[h] += x * w[h];
                }
            }
        }
    }
}

/* Adds the gradients of sum_bi g_bi logits_bi to dWt, dV (D, H) and dc (H). Positions in reverse,
   carry_b = sum_{i' > i} da_bi', h recomputed per block from starts. work: TILE * (block + 1) * H. */
void nade_backward(int B, int D, int H, int block, const float *u, const float *Wt,
                   const float *V, const float *starts, const float *g, float *dWt, float *dV,
                   float *dc, float *work) {
    int nblocks = (D + block - 1) / block;
    float *hb = work, *carry = work + (size_t)TILE * block * H;
    for (int b0 = 0; b0 < B; b0 += TILE) {
        int T = B - b0 < TILE ? B - b0 : TILE;
        memset(carry, 0, sizeof(float) * T * H);
        for (int k = nblocks - 1; k >= 0; k--) {
            int s0 = k * block, m = D - s0 < block ? D - s0 : block;
            for (int t = 0; t < T; t++) {            /* h_i of the block, from a at its start */
                int b = b0 + t;
                const float *a0 = starts + ((size_t)b * nblocks + k) * H;
                float *ht = hb + (size_t)t * block * H;
                float *prev = ht;
                memcpy(ht, a0, sizeof(float) * H);
                for (int j = 1; j < m; j++) {
                    float *cur = ht + (size_t)j * H;
                    float x = u[(size_t)b * D + s0 + j - 1];
                    const float *w = Wt + (size_t)(s0 + j - 1) * H;
                    #pragma omp simd
                    for (int h = 0; h < H; h++) cur[h] = prev[h] + x * w[h];
                    prev = cur;
                }
                #pragma omp simd
                for (int j = 0; j < m * H; j++) ht[j] = sigmoid_f(ht[j]);
            }
            for (int j = m - 1; j >= 0; j--) {
                int i = s0 + j;
                float *dv = dV + (size_t)i * H, *dw = dWt + (size_t)i * H;
                const float *v = V + (size_t)i * H;
                for (int t = 0; t < T; t++) {
                    int b = b0 + t;
                    const float *ht = hb + ((size_t)t * block + j) * H;
                    float *ct = carry + (size_t)t * H;
                    float gg = g[(size_t)b * D + i], x = u[(size_t)b * D + i];
                    if (x != 0.0f) {
                        #pragma omp simd
                        for (int h = 0; h < H; h++) dw[h] += x * ct[h];
                    }
                    #pragma omp simd
                    for (int h = 0; h < H; h++) {
                        float hh = ht[h];
                        dv[h] += gg * hh;
                        ct[h] += gg * v[h] * hh * (1.0f - hh);
                    }
                }
            }
        }
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) dc[h] += carry[(size_t)t * H + h];
    }
}
