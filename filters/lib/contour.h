/*
 * contour.h - outlines of binary masks and the distances between them, for
 * dice-score --metrics and mask2contour (one definition for both).
 *
 * Coordinates are those of the Sunnybrook contour files and contour2mask:
 * x = column, y = row, pixel centres at integers, so pixel edges lie on
 * half-integers.
 *
 * The outline of a mask is the outer boundary, along pixel edges, of its
 * largest 4-connected component (ties: the one met first in raster order),
 * holes filled (the background is 8-connected).  It is traced clockwise on
 * screen (y down), starting at the top-left corner of the component's first
 * pixel in raster order, and sampled every half pixel: each unit edge gives
 * its starting corner and its midpoint.  contour2mask's centre rule fills
 * it back to exactly the component with its holes filled.
 *
 * Not done here: several components, holes as separate rings, sub-pixel
 * (marching squares) outlines.
 */
#ifndef CONTOUR_H
#define CONTOUR_H

#include <stddef.h>
#include <stdint.h>

/* The outline of mask m (H x W, nonzero = inside) as n points xy[2i],
 * xy[2i+1] (malloc'd, the caller frees; NULL and 0 for an empty mask).
 * Returns n, or (size_t)-1 when out of memory. */
size_t mask_outline(const uint8_t *m, long h, long w, double **xy);

/* Mean, over the points of a (na of them), of the distance to the closest
 * point of the closed polygon b (nb points, nb >= 2): the average
 * perpendicular distance.  Coordinates are scaled by sx (x) and sy (y)
 * first, so the result is in mm for spacings in mm. */
double outline_apd(const double *a, size_t na, const double *b, size_t nb,
		   double sx, double sy);

/* Boundary pixels of mask m: inside pixels with a 4-neighbour outside or on
 * the image border, as n (row, col) pairs in rc (malloc'd).  Returns n or
 * (size_t)-1 when out of memory. */
size_t mask_boundary(const uint8_t *m, long h, long w, long **rc);

/* Directed distances from each boundary pixel of a to the closest boundary
 * pixel of b, in mm (row spacing sy, column spacing sx), into d[0..na-1]
 * sorted ascending. */
void boundary_dists(const long *a, size_t na, const long *b, size_t nb,
		    double sx, double sy, double *d);

/* The q-th percentile (0..100) of sorted d[0..n-1], linear interpolation
 * between closest ranks (numpy's default "linear" method). */
double percentile_sorted(const double *d, size_t n, double q);

#endif
