/* conv_q8.h - Conv on fixed-point operands, the fast path of the simulated
 * quantized network.
 *
 * When a Conv's input X is fake-quantized onto a grid of at most 256
 * levels (X = (u - x_offset) * x_step, u an integer in [0, 255], zero on
 * the grid) and its kernel W onto 8-bit grids (row m of W = integers in
 * [-128, 127] times w_step[m]), the Conv is an integer Conv: the plan
 * sums the products of the codes exactly (S) and gives
 * y = bias + S * (x_step * w_step[m]), as a fixed-point accelerator does.
 * Two kernels compute the same integers: AVX-512 VNNI when the CPU has it
 * (a direct convolution, 64 products per instruction), elsewhere
 * OpenBLAS's sgemm on the codes as floats, whose sums are exact in blocks
 * of 512 terms. The results do not depend on the machine.
 *
 * Against the float Conv on the same fake-quantized values: with
 * power-of-two steps (MCT's activations) and W's steps too, both are the
 * same whenever the float sums are exact (|S| < 2^24, one block of the
 * reduction); otherwise they differ in the last bits of the float, the
 * plan's being the exact sum rounded. With other steps the float values
 * of W are themselves the grid rounded to float, and the plan uses the
 * grid.
 *
 * Geometry: 2-D, group 1, stride 1, dilation 1, kernels up to 8 x 8, any
 * pads (zero padding is the code x_offset). Everything else runs in
 * float. */
#ifndef QDB_OPS_CONV_Q8_H
#define QDB_OPS_CONV_Q8_H

#include <stddef.h>

#include "kernels.h"
#include "tensor.h"

typedef struct qdb_conv_q8 qdb_conv_q8;

/* A plan for kernel w ([M][C][kh][kw] float32) with row steps w_step[M]
 * and X's grid (x_step, x_offset in [0, 255]). QDB_ERR_UNSUPPORTED when w
 * is not on those grids (a value not within float rounding of an integer
 * in [-128, 127] times its row's step), a step is not a positive normal
 * float, or the kernel is too large; QDB_ERR_NOMEM. */
qdb_conv_q8 *qdb_conv_q8_new(const qdb_tensor *w, const float *w_step, float x_step, int x_offset,
                             qdb_err *e);
void qdb_conv_q8_free(qdb_conv_q8 *p);

/* Can p run a Conv of this geometry (window w over c_in input channels,
 * c_out outputs, `group` groups)? */
int qdb_conv_q8_fits(const qdb_conv_q8 *p, const qdb_window *w, int64_t c_in, int64_t c_out,
                     int64_t group);

/* Floats of scratch memory one image needs (0 on size overflow). */
size_t qdb_conv_q8_scratch(const qdb_conv_q8 *p, const qdb_window *w);

/* One image: x [C][H][W] -> y [M][Hout][Wout], with bias (NULL: none).
 * X's values must be on the plan's grid, as the simulation's quantizer
 * leaves them. (Off it, the VNNI kernel rounds and clamps them to codes,
 * and so does the sgemm kernel unless x_step is a power of two: then it
 * takes X as it is, X / x_step being its codes exactly.) `scratch` holds
 * qdb_conv_q8_scratch floats. Returns 0, or 1
 * when x holds a NaN, which has no code: y is then not written, and the
 * float Conv (which carries the NaN through) must run instead; -1 for a
 * geometry qdb_conv_q8_scratch refuses. */
int qdb_conv_q8_image(const qdb_conv_q8 *p, const qdb_window *w, const float *x,
                      const float *bias, float *y, float *scratch);

/* Which kernel runs: 1 AVX-512 VNNI, 0 the sgemm on codes. Tests force
 * the second (force_portable 1) to compare both; -1 restores detection. */
int qdb_conv_q8_isa(void);
void qdb_conv_q8_force_portable(int force_portable);

#endif
