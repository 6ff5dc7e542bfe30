/* group_math.c - the table of the "math" operator family (see op.h):
 * elementwise arithmetic (elementwise.c), unary math and activations
 * (unary.c), softmax (softmax.c) and reductions (reduce.c). */
#include "op.h"

#define MATH_OPS(X)                                                                                \
    X(add) X(sub) X(mul) X(div) X(pow) X(min) X(max) X(sum) X(mean) X(prelu)                      \
    X(relu) X(abs) X(neg) X(sign) X(clip) X(sqrt) X(exp) X(log) X(reciprocal) X(floor) X(ceil)   \
    X(round) X(sin) X(cos) X(tanh) X(erf) X(sigmoid) X(softplus) X(softsign) X(mish)             \
    X(hardswish) X(leakyrelu) X(thresholdedrelu) X(elu) X(selu) X(hardsigmoid) X(celu) X(gelu)   \
    X(softmax) X(logsoftmax) X(hardmax)                                                          \
    X(reducesum) X(reducemean) X(reduceprod) X(reducemax) X(reducemin) X(reducel1) X(reducel2)   \
    X(reducesumsquare) X(reducelogsum) X(reducelogsumexp) X(argmax) X(argmin)

#define DECLARE(name) extern const qdb_op qdb_math_##name;
MATH_OPS(DECLARE)
#undef DECLARE

#define ENTRY(name) &qdb_math_##name,
const qdb_op *const qdb_ops_math[] = {
    MATH_OPS(ENTRY) NULL,
};
#undef ENTRY
