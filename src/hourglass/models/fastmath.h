/* Vectorizable float math shared by the C kernels (nade.c, rnade.c). */

#ifndef HOURGLASS_FASTMATH_H
#define HOURGLASS_FASTMATH_H

#include <stdint.h>

/* exp(x) to about 2 ulp: x = n ln2 + r, |r| <= ln2/2, 2^n from the exponent bits, e^r a
   degree-6 polynomial (Cephes' expf). Written out so the compiler vectorizes the loops. */
static inline float exp_f(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  /* round to nearest */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } s = { ((int32_t)n + 127) << 23 };
    return p * s.f;
}

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

#endif
