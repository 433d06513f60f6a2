/* The machinery the fusion passes share: patterns matched from a root value upwards, and the
 * rewrite of a match into one node. See passes.c for how a pattern reads. */
#ifndef ONYX_PASS_MATCH_H
#define ONYX_PASS_MATCH_H

#include "ir.h"

#define MAX_CAPTURES 8
#define MAX_MATCHED 16

typedef struct pattern {
    const char *op;    /* node op type; NULL: any value (captured); "const": a scalar constant */
    int capture;       /* capture slot of the value (-1: none); a second use must be the same value */
    double value;      /* for "const" */
    int n_inputs;
    const struct pattern *inputs[3];
    bool commutative;  /* a two-input node whose inputs may come in either order */
} pattern;

typedef struct match {
    int captures[MAX_CAPTURES]; /* value indices, -1 when not captured */
    int nodes[MAX_MATCHED];     /* matched node indices, root first */
    int n_nodes;
} match;

#define ANY(slot) (&(const pattern){.capture = (slot)})
#define CONST(v) (&(const pattern){.op = "const", .capture = -1, .value = (v)})
#define NODE1(name, a) (&(const pattern){.op = (name), .capture = -1, .n_inputs = 1, .inputs = {(a)}})
#define NODE2(name, a, b) (&(const pattern){.op = (name), .capture = -1, .n_inputs = 2, .inputs = {(a), (b)}})
#define COMM2(name, a, b) \
    (&(const pattern){.op = (name), .capture = -1, .n_inputs = 2, .inputs = {(a), (b)}, .commutative = true})
/* A node whose output is also captured, to be matched again by ANY(slot) elsewhere. */
#define NODE2_AS(slot, name, a, b) \
    (&(const pattern){.op = (name), .capture = (slot), .n_inputs = 2, .inputs = {(a), (b)}})


typedef struct new_attr {
    const char *name;
    attr_type type;
    int64_t i;
    float f;
    const char *s;
} new_attr;

/* Whether v is a constant holding one float or double within 1e-6 relative of `want`. */
bool scalar_constant(const graph *g, int v, double want);
/* Matches p at value v; then every matched node but the root must produce only values read
 * inside the match (they disappear with it). */
bool match_at(const graph *g, int v, const pattern *p, match *m);
/* Counts the readers of every value again (after nodes died or inputs changed). */
void recount_uses(graph *g);
/* Rewrites root node `m->nodes[0]` into (domain, op_type) over `inputs` with `attrs`, marks
 * the rest of the match dead, and checks the new node like a loaded one. */
onyx_status rewrite(onyx_model *model, graph *g, const match *m, const char *domain, const char *op_type,
                    int opset, int n_inputs, const int *inputs, int n_attrs, const new_attr *attrs);
/* The second half of rewrite, for a pass that builds the new node's arrays itself: takes
 * ownership of domain, op_type, inputs and attrs (allocated from the model's mem). */
onyx_status rewrite_root(onyx_model *model, graph *g, const match *m, char *domain, char *op_type, int opset,
                         int n_inputs, int *inputs, int n_attrs, attribute *attrs);
/* Whether ReduceMean node n averages over the last axis only, keeping it: its axes an
 * attribute (before opset 18) or a constant input (from 18). */
bool mean_over_last_axis(const graph *g, const node *n);
/* After a pass rewired `kept` in place (its inputs, outputs) to do what `gone` did too: `gone`
 * dies, both lose what their plans allocated, `kept` is checked again like a loaded node, and
 * the readers of every value are counted again. */
onyx_status absorb(onyx_model *model, graph *g, node *kept, node *gone);
/* n marked dead, with what its plan allocated freed. */
void kill_node(onyx_model *model, node *n);
/* n checked again like a loaded node after a pass changed its inputs, outputs or attributes
 * (what its plan allocated freed first). */
onyx_status set_up_again(onyx_model *model, graph *g, node *n);
/* Whether n (a Transpose) has the attribute perm = [0, p1, p2, p3]. */
bool transposes(const node *n, int64_t p1, int64_t p2, int64_t p3);
/* The node producing v when it is a live node of the default domain with this op type, and v
 * its only output, read once (so the node can go into a fused one); else NULL. */
node *sole_producer(graph *g, int v, const char *op_type);
/* The only live node reading value v, or NULL (also when v is a graph output). */
node *sole_consumer(graph *g, int v);
/* Whether v holds one float element (a scale), judging by its inferred shape. */
bool float_scalar(const graph *g, int v);
/* Whether v is a constant holding one float (its value into *x when x is not NULL). */
bool scalar_value(const graph *g, int v, float *x);
/* Turns value v, the output of a node about to be marked dead, into a float scalar constant
 * x; false when out of memory. */
bool scalar_into(onyx_model *model, graph *g, int v, float x);
/* For a two-input node, the input that is not `known`, or -1. */
int other_input(const node *n, int known);
/* Whether n is a live node of (domain, op_type) with one output. */
bool is_op(const node *n, const char *domain, const char *op_type);

/* The passes, each in the file of its family; each returns how many rewrites it made and sets
 * *st on failure. graph_optimize (passes.c) runs them in order. */
int pass_layernorm(onyx_model *model, graph *g, onyx_status *st);
int pass_gelu(onyx_model *model, graph *g, onyx_status *st);
int pass_attention(onyx_model *model, graph *g, onyx_status *st);
int pass_fused_matmul(onyx_model *model, graph *g, onyx_status *st);
/* passes_transformer.c */
int pass_identity_cast(onyx_model *model, graph *g, onyx_status *st);
int pass_rmsnorm(onyx_model *model, graph *g, onyx_status *st);
int pass_swiglu(onyx_model *model, graph *g, onyx_status *st);
int pass_rotary(onyx_model *model, graph *g, onyx_status *st);
int pass_gelu_pow(onyx_model *model, graph *g, onyx_status *st);
int pass_quant(onyx_model *model, graph *g, onyx_status *st); /* passes_quant.c */
int pass_fused_conv(onyx_model *model, graph *g, onyx_status *st);

#endif
