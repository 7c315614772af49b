/* Vectorizable float math shared by the C kernels (core/bernoulli.c, models/nade.c, models/rnade.c). */

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

/* log(1 + e) for e in [0, 1], to about 2 ulp: with t = e (1 + e <= sqrt 2) or t = (e - 1) / 2 and
   one ln 2 added (1 + e = 2 (1 + t)), log(1 + t) = t - t^2/2 + t^3 P(t) on |t| <= sqrt(2) - 1
   (Cephes' logf polynomial); t is formed without rounding 1 + e, so small e keep their bits. */
static inline float log1p_unit_f(float e) {
    int big = e > 0.41421356f;
    float t = big ? (e - 1.0f) * 0.5f : e;
    float z = t * t;
    float y = 7.0376836292e-2f;
    y = y * t - 1.1514610310e-1f;
    y = y * t + 1.1676998740e-1f;
    y = y * t - 1.2420140846e-1f;
    y = y * t + 1.4249322787e-1f;
    y = y * t - 1.6668057665e-1f;
    y = y * t + 2.0000714765e-1f;
    y = y * t - 2.4999993993e-1f;
    y = y * t + 3.3333331174e-1f;
    y = y * t * z - 0.5f * z + t;
    return big ? y + 0.69314718056f : y;
}

#endif
