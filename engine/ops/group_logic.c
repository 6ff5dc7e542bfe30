/* group_logic.c - the table of the "logic" operator family (see op.h):
 * comparisons, boolean logic and Where (compare.c), Mod (mod.c), CumSum
 * (cumsum.c), scatters and GatherND (scatter.c), Einsum (einsum.c) and
 * LayerNormalization (layernorm.c). */
#include "op.h"

#define LOGIC_OPS(X)                                                                               \
    X(equal) X(less) X(greater) X(less_or_equal) X(greater_or_equal) X(not) X(and) X(or) X(xor)   \
    X(where) X(mod) X(cumsum) X(scatter_nd) X(scatter_elements) X(scatter) X(gather_nd)          \
    X(einsum) X(layer_normalization)

#define DECLARE(name) extern const qdb_op qdb_logic_##name;
LOGIC_OPS(DECLARE)
#undef DECLARE

#define ENTRY(name) &qdb_logic_##name,
const qdb_op *const qdb_ops_logic[] = {
    LOGIC_OPS(ENTRY) NULL,
};
#undef ENTRY
