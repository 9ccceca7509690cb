/*
 * layer.h - the engine's private layer interface.  Every layer kind is a
 * table of functions (struct fcn_layer_ops) in its own file; the net's
 * forward pass is a loop over layer->ops->forward.  A GPU backend provides
 * twin tables with the same function names plus a _gpu suffix, chosen at
 * run time from the blobs' device, so CPU files carry no #ifdef.
 *
 * Backward contract: a layer writes its bottoms' diffs, storing when
 * layer->accum[i] is 0 and adding when it is 1 (the blob feeds several
 * layers); bottoms with need_diff[i] 0 are left alone; parameter diffs are
 * always accumulated.
 */
#ifndef FCN_LAYER_H
#define FCN_LAYER_H

#include <stdint.h>

#include "fcn.h"
#include "pbtext.h"

#define FCN_MAX_PARAMS 3

struct fcn_layer;

struct fcn_layer_ops {
	const char *type;
	int min_bottom, max_bottom, min_top, max_top;
	/* Reads the kind's *_param fields (marking them used), sets nparam. */
	int (*parse)(struct fcn_layer *l, struct pb_node *node,
		     struct fcn_err *err);
	/* Shapes the tops (and parameters, workspace) from the bottoms. */
	int (*reshape)(struct fcn_layer *l, struct fcn_err *err);
	int (*forward)(struct fcn_layer *l, struct fcn_err *err);
	int (*backward)(struct fcn_layer *l, struct fcn_err *err); /* NULL: none */
	/* Runs the parameter fillers (NULL: nothing to fill). */
	int (*fill)(struct fcn_layer *l, uint64_t seed, struct fcn_err *err);
	void (*free)(struct fcn_layer *l); /* frees priv (NULL: free(priv)) */
};

struct fcn_layer {
	char *name;
	const struct fcn_layer_ops *ops;
	struct fcn_net *net;
	int line;
	int nbottom, ntop;
	struct fcn_blob **bottom;
	struct fcn_blob **top;
	int *accum;     /* per bottom, see the backward contract */
	int *need_diff; /* per bottom */
	int need_backward;
	int prop_down[16], nprop_down; /* propagate_down as given */
	int nparam;
	struct fcn_param param[FCN_MAX_PARAMS];
	float loss_weight;
	double value; /* loss or metric of the last forward */
	double time_fwd, time_bwd; /* seconds spent, summed over passes */
	int fused; /* computed by an earlier layer's forward (fuse.h): skipped;
		    * 2: its backward would need its own forward's state (refused);
		    * 3: its backward is the earlier layer's too (skipped) */
	enum fcn_phase phase;
	void *priv;
};

/* Registered kinds, NULL-terminated (layers.c). */
extern const struct fcn_layer_ops *const fcn_layer_kinds[];
const struct fcn_layer_ops *fcn_layer_kind(const char *type);

/* Each kind's table. */
extern const struct fcn_layer_ops fcn_input_ops, fcn_data_ops,
	fcn_conv_ops, fcn_deconv_ops, fcn_pool_ops, fcn_lrn_ops, fcn_relu_ops,
	fcn_sigmoid_ops, fcn_power_ops, fcn_dropout_ops, fcn_crop_ops,
	fcn_eltwise_ops, fcn_concat_ops, fcn_batchnorm_ops, fcn_scale_ops,
	fcn_softmax_ops, fcn_softmax_loss_ops, fcn_accuracy_ops, fcn_dice_ops,
	fcn_python_ops, fcn_mvn_ops, fcn_ip_ops;

/* The sum of p[0..n) in double, four interleaved partial sums (a fixed
 * order; norm_layers.c). */
double fcn_sum_floats(const float *p, int n);

/* --- blobs (blob.c) ------------------------------------------------------ */
struct fcn_blob *fcn_blob_create(void);
void fcn_blob_free(struct fcn_blob *b);
/* Elements a blob may hold: fewer than 2^31 (8 GiB of floats, twice that
 * with its diff), so that a net description cannot ask for unbounded memory
 * one blob at a time. */
#define FCN_BLOB_MAX ((size_t)1 << 31)
/* Shapes b, growing storage as needed (contents then undefined); with_diff
 * allocates diff too.  -1 when it would hold FCN_BLOB_MAX elements or more,
 * or no memory. */
int fcn_blob_reshape(struct fcn_blob *b, int n, int c, int h, int w,
		     int with_diff, struct fcn_err *err);
int fcn_blob_same_shape(const struct fcn_blob *a, const struct fcn_blob *b);
/* Shape as "1x96x112x112". */
const char *fcn_blob_shape_str(const struct fcn_blob *b, char *buf,
			       size_t len);
/* 64-byte aligned allocation of n floats (NULL on failure), zeroed. */
float *fcn_alloc_floats(size_t n);

/* --- random numbers (blob.c): splitmix64, deterministic per seed ---------- */
struct fcn_rng {
	uint64_t s;
};
uint64_t fcn_rng_next(struct fcn_rng *r);
/* splitmix64: draw k after state s is fcn_rng_mix(s + k * FCN_RNG_GOLDEN),
 * k = 1, 2, ... (a counter: draws can be made out of order). */
#define FCN_RNG_GOLDEN 0x9e3779b97f4a7c15ULL
static inline uint64_t fcn_rng_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
double fcn_rng_uniform(struct fcn_rng *r); /* [0, 1) */
double fcn_rng_gauss(struct fcn_rng *r);   /* N(0, 1) */

/* --- fillers (filler.c) -------------------------------------------------- */
enum fcn_filler_type {
	FCN_FILL_CONSTANT, FCN_FILL_GAUSSIAN, FCN_FILL_UNIFORM, FCN_FILL_XAVIER,
	FCN_FILL_MSRA, FCN_FILL_BILINEAR
};
enum fcn_variance_norm { FCN_FAN_IN, FCN_FAN_OUT, FCN_FAN_AVERAGE };
struct fcn_filler {
	enum fcn_filler_type type;
	float value, min, max, mean, std;
	enum fcn_variance_norm norm;
};
/* Parses a *_filler message (absent: constant 0). */
int fcn_filler_parse(struct pb_node *msg, struct fcn_filler *f,
		     struct fcn_err *err);
/* Fills blob (weights (N, C, H, W): fan_in C*H*W, fan_out N*H*W). */
int fcn_filler_run(const struct fcn_filler *f, struct fcn_blob *b,
		   uint64_t seed, struct fcn_err *err);

/* --- net services for layers (net.c) -------------------------------------- */
/* A scratch buffer shared by the net's layers, valid until the next call. */
float *fcn_net_workspace(struct fcn_net *net, size_t nfloats,
			 struct fcn_err *err);
struct fcn_rng *fcn_net_rng(struct fcn_net *net);
/* Per-class weights and loss kind set on the net (NULL / 0 when unset). */
const float *fcn_net_class_weights(const struct fcn_net *net, int *k);
enum fcn_loss fcn_net_loss_kind(const struct fcn_net *net);
int fcn_net_dice_batch(const struct fcn_net *net);
int fcn_net_dice_each(const struct fcn_net *net);
/* Makes param i of l with shape (n, c, h, w), or checks that it has it. */
int fcn_layer_param_shape(struct fcn_layer *l, int i, int n, int c, int h,
			  int w, struct fcn_err *err);
/* Fills err with "layer 'name': " + printf text; returns -1. */
int fcn_layer_error(const struct fcn_layer *l, struct fcn_err *err,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Puts printf text before the message already in err (never formats
 * err->msg into itself: the prefix goes through a temporary, then the
 * message is moved right; its tail is cut when the whole would not fit).
 * Returns -1. */
int fcn_err_prefix(struct fcn_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* fcn_err_prefix with "layer 'name' (type): ". */
int fcn_layer_wrap(const struct fcn_layer *l, struct fcn_err *err);

#endif
