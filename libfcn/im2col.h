/*
 * im2col.h - Caffe's im2col/col2im for one image: the patches of a
 * (C, H, W) image as columns of a (C*KH*KW, HO*WO) matrix, and the adjoint
 * (col2im adds the columns back into an image), on the engine's threads.
 */
#ifndef FCN_IM2COL_H
#define FCN_IM2COL_H

struct fcn_geom {
	int c, h, w;        /* image (C, H, W) */
	int kh, kw, sh, sw, ph, pw, dh, dw;
	int ho, wo;         /* (H + 2p - d(k-1) - 1)/s + 1 */
};

/* im: (C, H, W) -> col: (C*KH*KW, HO*WO) */
void fcn_im2col(const float *im, const struct fcn_geom *g, float *col);
/* The columns of output rows [y0, y1) only: col (C*KH*KW, (y1-y0)*WO), on
 * the calling thread. */
void fcn_im2col_rows(const float *im, const struct fcn_geom *g, int y0, int y1,
		     float *col);
/* col: (C*KH*KW, HO*WO) -> im: (C, H, W); stores (accum 0) or adds. */
void fcn_col2im(const float *col, const struct fcn_geom *g, float *im,
		int accum);

/* 1 when every image pixel gets exactly one column entry: kernel = stride,
 * no padding or dilation, and the image exactly covered (the 2x2 stride-2
 * up-convolution of U-Nets). */
int fcn_col2im_disjoint(const struct fcn_geom *g);
/* col2im for such geometries in one pass per pixel: im = col + bias[c]
 * (bias may be NULL), instead of zeroing, scattering and adding the bias
 * in three. */
void fcn_col2im_tiles(const float *col, const struct fcn_geom *g, float *im,
		      const float *bias);

#endif
