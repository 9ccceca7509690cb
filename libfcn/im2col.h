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
/* col: (C*KH*KW, HO*WO) -> im: (C, H, W); stores (accum 0) or adds. */
void fcn_col2im(const float *col, const struct fcn_geom *g, float *im,
		int accum);

#endif
