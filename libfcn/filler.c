/*
 * filler.c - Caffe's weight fillers: constant (the default, value 0),
 * gaussian, uniform, xavier U(-sqrt(3/n), sqrt(3/n)), msra N(0, sqrt(2/n)),
 * bilinear (upsampling kernels).  n is fan_in = C*H*W of the weight blob by
 * default (variance_norm FAN_OUT: N*H*W, AVERAGE: their mean).
 */
#include <math.h>
#include <stdio.h>

#include "layer.h"

int fcn_filler_parse(struct pb_node *msg, struct fcn_filler *f,
		     struct fcn_err *err)
{
	static const char *const types[] = { "constant", "gaussian", "uniform",
					     "xavier", "msra", "bilinear", NULL };
	static const char *const norms[] = { "FAN_IN", "FAN_OUT", "AVERAGE",
					     NULL };
	int t = 0, norm = 0, sparse = -1;

	*f = (struct fcn_filler){ .type = FCN_FILL_CONSTANT, .max = 1, .std = 1 };
	if (!msg)
		return 0;
	if (pb_get_enum(msg, "type", types, &t, err) < 0 ||
	    pb_get_float(msg, "value", &f->value, err) < 0 ||
	    pb_get_float(msg, "min", &f->min, err) < 0 ||
	    pb_get_float(msg, "max", &f->max, err) < 0 ||
	    pb_get_float(msg, "mean", &f->mean, err) < 0 ||
	    pb_get_float(msg, "std", &f->std, err) < 0 ||
	    pb_get_enum(msg, "variance_norm", norms, &norm, err) < 0 ||
	    pb_get_int(msg, "sparse", -1, 1 << 30, &sparse, err) < 0)
		return -1;
	if (sparse >= 0)
		return pb_error(pb_nth(msg, "sparse", 0), err,
				"sparse gaussian fillers are not supported");
	if (pb_check_used(msg, "a filler", err) < 0)
		return -1;
	f->type = (enum fcn_filler_type)t;
	f->norm = (enum fcn_variance_norm)norm;
	return 0;
}

int fcn_filler_run(const struct fcn_filler *f, struct fcn_blob *b,
		   uint64_t seed, struct fcn_err *err)
{
	struct fcn_rng rng = { seed };
	size_t count = fcn_blob_count(b);
	double fan_in = (double)b->c * b->h * b->w;
	double fan_out = (double)b->n * b->h * b->w;
	double n = f->norm == FCN_FAN_IN ? fan_in :
		   f->norm == FCN_FAN_OUT ? fan_out : (fan_in + fan_out) / 2;
	float *d = b->data;

	if (n <= 0)
		n = 1;
	switch (f->type) {
	case FCN_FILL_CONSTANT:
		for (size_t i = 0; i < count; i++)
			d[i] = f->value;
		break;
	case FCN_FILL_GAUSSIAN:
		for (size_t i = 0; i < count; i++)
			d[i] = (float)(f->mean + f->std * fcn_rng_gauss(&rng));
		break;
	case FCN_FILL_UNIFORM:
		for (size_t i = 0; i < count; i++)
			d[i] = (float)(f->min + (f->max - f->min) *
					       fcn_rng_uniform(&rng));
		break;
	case FCN_FILL_XAVIER: {
		double a = sqrt(3.0 / n);

		for (size_t i = 0; i < count; i++)
			d[i] = (float)(-a + 2 * a * fcn_rng_uniform(&rng));
		break;
	}
	case FCN_FILL_MSRA: {
		double s = sqrt(2.0 / n);

		for (size_t i = 0; i < count; i++)
			d[i] = (float)(s * fcn_rng_gauss(&rng));
		break;
	}
	case FCN_FILL_BILINEAR: {
		if (b->h != b->w) {
			snprintf(err->msg, sizeof err->msg,
				 "bilinear filler needs a square kernel, not %dx%d",
				 b->h, b->w);
			return -1;
		}
		int k = b->w, fi = (k + 1) / 2;
		double c = (2.0 * fi - 1 - fi % 2) / (2.0 * fi);

		for (size_t i = 0; i < count; i++) {
			int x = (int)(i % (size_t)k), y = (int)(i / (size_t)k % (size_t)k);

			d[i] = (float)((1 - fabs(x / (double)fi - c)) *
				       (1 - fabs(y / (double)fi - c)));
		}
		break;
	}
	}
	return 0;
}
