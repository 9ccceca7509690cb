/*
 * warp.h - resampling kernels for augment: one coordinate map per record
 * (an affine map plus an optional displacement field), then every plane
 * sampled from it once: bilinear for images, nearest neighbour for masks,
 * plain gathers when the map is a permutation of whole pixels (flips, 90°
 * rotations, integer crops).  Also the smooth random field of an elastic
 * deformation and a separable Gaussian blur.
 *
 * Conventions: planes are row-major H x W; a point is (y, x) in pixels,
 * pixel centres at integers.  Samples outside the plane take a fill value
 * ("grid-constant": the fill also enters the bilinear weights near the
 * border, as scipy.ndimage's mode='grid-constant').  No function allocates
 * more than its documented scratch, prints or exits.
 */
#ifndef WARP_H
#define WARP_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* Input point of output pixel (yo, xo): p = A (yo, xo) + b. */
struct warp_affine {
	double a[4]; /* row-major 2x2: y = a0 yo + a1 xo + b0, x = a2 yo + a3 xo + b1 */
	double b[2];
};

/* cy, cx (Ho*Wo) = the input coordinates of every output pixel; when dy is
 * not NULL, the displacement (dy, dx) (Ho*Wo) is added. */
void warp_coords(const struct warp_affine *m, long Ho, long Wo,
		 const float *dy, const float *dx, float *cy, float *cx);

/* out[i] = bilinear sample of src (H x W) at (cy[i], cx[i]), fill outside. */
void warp_bilinear(const float *src, long H, long W, const float *cy,
		   const float *cx, size_t n, float fill, float *out);

/* Nearest neighbour (the pixel whose centre is nearest, floor(c + 0.5)) of
 * elements of size es (1, 2, 4 or 8 bytes); fill (es bytes) outside. */
void warp_nearest(const void *src, long H, long W, size_t es, const float *cy,
		  const float *cx, size_t n, const void *fill, void *out);

/* The map is integral (entries of a and b whole numbers): a gather of
 * elements of size es with no interpolation. */
void warp_gather(const void *src, long H, long W, size_t es,
		 const struct warp_affine *m, long Ho, long Wo,
		 const void *fill, void *out);

/* 1 when m maps whole pixels to whole pixels (entries within 1e-9 of
 * integers), else 0. */
int warp_is_integral(const struct warp_affine *m);

/*
 * Elastic displacement on an Ho x Wo grid (Simard et al. 2003; as in
 * nnU-Net's batchgenerators): uniform(-1, 1) noise smoothed by a Gaussian of
 * sigma pixels, times alpha, one field per axis.  Computed on a grid s =
 * max(1, floor(sigma / 2)) times coarser with the noise scaled by 1/s (so
 * the field's variance matches the full-resolution definition), the noise
 * drawn beyond the borders (no boundary effect), then bilinearly
 * interpolated to every pixel.  Scratch: a few (Ho/s + 4 sigma)^2 floats,
 * from malloc; returns -1 when that fails.
 */
int warp_elastic_field(struct rng *r, long Ho, long Wo, double alpha,
		       double sigma, float *dy, float *dx);

/* In-place Gaussian blur of an H x W plane, as scipy.ndimage.gaussian_filter
 * (truncate 4, mode 'reflect'); tmp holds max(H, W) + 2 * radius floats plus
 * H * W floats (warp_blur_scratch tells how many).  sigma <= 0 or a radius
 * of 0 leaves the plane as it is. */
size_t warp_blur_scratch(long H, long W, double sigma);
void warp_blur(float *plane, long H, long W, double sigma, float *tmp);

#endif
