/* RNADE's hidden layers h_i = g(rho_i a_i) and their gradient (Uria, Murray & Larochelle 2013).

   a_1 = c, a_{i+1} = a_i + Wt_i u_i (the running sum of NADE), g = relu (act 0) or sigmoid
   (act 1). The forward pass writes every h_i (the mixture outputs on top of them stay in PyTorch)
   and keeps a at the first position of every block of `block` positions; the backward pass takes
   dL/dh, runs over the positions in reverse carrying sum_{i' > i} da_i', and recomputes each
   block's a_i from its saved start. h and dL/dh are laid out position-major, (D, B, H): the
   mixture weights of position i then multiply one contiguous (B, H) block (a batched product
   without a transposed copy). Plain C99, built by hourglass.core.native; the caller splits the
   rows [0, B) into ranges [b0, b1), one per thread, each with its own dWt, dc and drho. */

#include <stddef.h>
#include <string.h>

#include "fastmath.h"

/* h[i, b, :] = g(rho_i a_bi) for rows b in [b0, b1) of u (B, D); starts (B, nblocks, H) gets a
   at each block's first position. a: H floats of work space. */
void rnade_forward(int B, int b0, int b1, int D, int H, int block, int act, const float *u,
                   const float *Wt, const float *c, const float *rho, float *hout, float *starts,
                   float *a) {
    int nblocks = (D + block - 1) / block;
    for (int b = b0; b < b1; b++) {
        memcpy(a, c, sizeof(float) * H);
        for (int i = 0; i < D; i++) {
            if (i % block == 0)
                memcpy(starts + ((size_t)b * nblocks + i / block) * H, a, sizeof(float) * H);
            float *h = hout + ((size_t)i * B + b) * H, r = rho[i], x = u[(size_t)b * D + i];
            const float *w = Wt + (size_t)i * H;
            if (act == 0) {
                #pragma omp simd
                for (int k = 0; k < H; k++) { float z = r * a[k]; h[k] = z > 0.0f ? z : 0.0f; }
            } else {
                #pragma omp simd
                for (int k = 0; k < H; k++) h[k] = sigmoid_f(r * a[k]);
            }
            if (x != 0.0f) {
                #pragma omp simd
                for (int k = 0; k < H; k++) a[k] += x * w[k];
            }
        }
    }
}

/* Adds the gradients of sum_ibk dh_ibk h_ibk over rows b in [b0, b1) to dWt (D, H), dc (H) and
   drho (D). work: (block + 1) * H floats. */
void rnade_backward(int B, int b0, int b1, int D, int H, int block, int act, const float *u,
                    const float *Wt, const float *rho, const float *starts, const float *dh,
                    float *dWt, float *dc, float *drho, float *work) {
    int nblocks = (D + block - 1) / block;
    float *ab = work, *carry = work + (size_t)block * H;
    for (int b = b0; b < b1; b++) {
        memset(carry, 0, sizeof(float) * H);
        for (int kb = nblocks - 1; kb >= 0; kb--) {
            int s0 = kb * block, m = D - s0 < block ? D - s0 : block;
            memcpy(ab, starts + ((size_t)b * nblocks + kb) * H, sizeof(float) * H);
            for (int j = 1; j < m; j++) {                   /* a_i of the block, recomputed */
                float x = u[(size_t)b * D + s0 + j - 1];
                const float *w = Wt + (size_t)(s0 + j - 1) * H;
                float *prev = ab + (size_t)(j - 1) * H, *cur = ab + (size_t)j * H;
                #pragma omp simd
                for (int k = 0; k < H; k++) cur[k] = prev[k] + x * w[k];
            }
            for (int j = m - 1; j >= 0; j--) {
                int i = s0 + j;
                const float *a = ab + (size_t)j * H, *g = dh + ((size_t)i * B + b) * H;
                float *dw = dWt + (size_t)i * H, r = rho[i], x = u[(size_t)b * D + i], dr = 0.0f;
                if (x != 0.0f) {                            /* a_i' (i' > i) holds W_{:,i} u_i */
                    #pragma omp simd
                    for (int k = 0; k < H; k++) dw[k] += x * carry[k];
                }
                if (act == 0) {
                    #pragma omp simd reduction(+:dr)
                    for (int k = 0; k < H; k++) {
                        float gz = r * a[k] > 0.0f ? g[k] : 0.0f;      /* dL/dz, z = rho a */
                        dr += gz * a[k];
                        carry[k] += gz * r;
                    }
                } else {
                    #pragma omp simd reduction(+:dr)
                    for (int k = 0; k < H; k++) {
                        float s = sigmoid_f(r * a[k]);
                        float gz = g[k] * s * (1.0f - s);
                        dr += gz * a[k];
                        carry[k] += gz * r;
                    }
                }
                drho[i] += dr;
            }
        }
        for (int k = 0; k < H; k++) dc[k] += carry[k];
    }
}
