/* group_nn.c - the table of the "nn" operator family (see op.h):
 * convolutions, matrix products, pooling and normalization. */
#include "op.h"

extern const qdb_op qdb_op_conv;                   /* conv.c */
extern const qdb_op qdb_op_conv_transpose;         /* conv.c */
extern const qdb_op qdb_op_gemm;                   /* gemm.c */
extern const qdb_op qdb_op_matmul;                 /* gemm.c */
extern const qdb_op qdb_op_max_pool;               /* pool.c */
extern const qdb_op qdb_op_average_pool;           /* pool.c */
extern const qdb_op qdb_op_lp_pool;                /* pool.c */
extern const qdb_op qdb_op_global_max_pool;        /* pool.c */
extern const qdb_op qdb_op_global_average_pool;    /* pool.c */
extern const qdb_op qdb_op_global_lp_pool;         /* pool.c */
extern const qdb_op qdb_op_batch_normalization;    /* norm.c */
extern const qdb_op qdb_op_instance_normalization; /* norm.c */
extern const qdb_op qdb_op_lrn;                    /* norm.c */

const qdb_op *const qdb_ops_nn[] = {
    &qdb_op_conv,
    &qdb_op_conv_transpose,
    &qdb_op_gemm,
    &qdb_op_matmul,
    &qdb_op_max_pool,
    &qdb_op_average_pool,
    &qdb_op_lp_pool,
    &qdb_op_global_max_pool,
    &qdb_op_global_average_pool,
    &qdb_op_global_lp_pool,
    &qdb_op_batch_normalization,
    &qdb_op_instance_normalization,
    &qdb_op_lrn,
    NULL,
};
