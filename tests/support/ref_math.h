/* ref_math.h - the arithmetic the quantization tests' independent
 * reference implementations share, written without the library's code
 * paths: rounding half to even by comparison, powers of two by repeated
 * doubling. Header-only. */
#ifndef QDB_TEST_REF_MATH_H
#define QDB_TEST_REF_MATH_H

#include <math.h>

/* Round half to even, decided by comparing the fraction with 1/2. */
static inline double round_he(double x)
{
    double f = floor(x), r = x - f;
    if (r != 0.5)
        return r < 0.5 ? f : f + 1.0;
    return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

/* 2^e by repeated doubling / halving. */
static inline double two_pow(int e)
{
    double v = 1.0;
    for (; e > 0; e--)
        v *= 2.0;
    for (; e < 0; e++)
        v /= 2.0;
    return v;
}

#endif
