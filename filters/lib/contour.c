/*
 * contour.c - mask outlines (pixel-edge tracing of the largest 4-connected
 * component) and the distances dice-score --metrics reports.  See contour.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contour.h"

/* Labels the 4-connected component of m containing pixel `start` in lab
 * with value `id`, using queue q (H*W longs); returns its size. */
static long flood(const uint8_t *m, long h, long w, long start, int32_t *lab,
		  int32_t id, long *q)
{
	long head = 0, tail = 0;

	lab[start] = id;
	q[tail++] = start;
	while (head < tail) {
		long p = q[head++], r = p / w, c = p % w;
		long nb[4] = {r > 0 ? p - w : -1, r + 1 < h ? p + w : -1,
			      c > 0 ? p - 1 : -1, c + 1 < w ? p + 1 : -1};

		for (int k = 0; k < 4; k++)
			if (nb[k] >= 0 && m[nb[k]] && !lab[nb[k]]) {
				lab[nb[k]] = id;
				q[tail++] = nb[k];
			}
	}
	return tail;
}

size_t mask_outline(const uint8_t *m, long h, long w, double **xy)
{
	long n = h * w, best = 0, first = -1;
	int32_t *lab = calloc((size_t)n, sizeof *lab), id = 0, best_id = 0;
	long *q = malloc((size_t)n * sizeof *q);
	size_t np = 0, cap;
	double *pts = NULL;

	*xy = NULL;
	if (!lab || !q)
		goto oom;
	for (long p = 0; p < n; p++)
		if (m[p] && !lab[p]) {
			long size = flood(m, h, w, p, lab, ++id, q);

			if (size > best) {
				best = size;
				best_id = id;
				first = p;
			}
		}
	free(q);
	q = NULL;
	if (first < 0) {
		free(lab);
		return 0;
	}
	cap = 8 * (size_t)best + 8;
	pts = malloc(cap * 2 * sizeof *pts);
	if (!pts)
		goto oom;
	/* corner (cx, cy) is the point (cx - 0.5, cy - 0.5); interior on the
	 * right of the direction (dx, dy) */
	long cx0 = first % w, cy0 = first / w, cx = cx0, cy = cy0;
	int dx = 1, dy = 0;
#define IN(col, row) ((col) >= 0 && (col) < w && (row) >= 0 && (row) < h && \
		      lab[(row) * w + (col)] == best_id)
	do {
		if (np + 2 > cap)
			goto oom; /* cannot happen: at most 4 edges a pixel */
		pts[2 * np] = cx - 0.5;
		pts[2 * np + 1] = cy - 0.5;
		pts[2 * np + 2] = cx - 0.5 + 0.5 * dx;
		pts[2 * np + 3] = cy - 0.5 + 0.5 * dy;
		np += 2;
		cx += dx;
		cy += dy;
		int rx = -dy, ry = dx;
		long ar_c = cx + (dx + rx - 1) / 2, ar_r = cy + (dy + ry - 1) / 2;
		long al_c = cx + (dx - rx - 1) / 2, al_r = cy + (dy - ry - 1) / 2;

		if (IN(ar_c, ar_r)) {
			if (IN(al_c, al_r)) { /* turn left */
				int t = dx;
				dx = dy;
				dy = -t;
			}
		} else { /* turn right */
			dx = rx;
			dy = ry;
		}
	} while (!(cx == cx0 && cy == cy0 && dx == 1 && dy == 0));
#undef IN
	free(lab);
	*xy = pts;
	return np;
oom:
	free(lab);
	free(q);
	free(pts);
	return (size_t)-1;
}

/* Squared distance from (px, py) to the segment (ax, ay)-(bx, by). */
static double seg_dist2(double px, double py, double ax, double ay, double bx,
			double by)
{
	double vx = bx - ax, vy = by - ay, wx = px - ax, wy = py - ay;
	double l2 = vx * vx + vy * vy, t = l2 > 0 ? (wx * vx + wy * vy) / l2 : 0;

	if (t < 0)
		t = 0;
	else if (t > 1)
		t = 1;
	wx -= t * vx;
	wy -= t * vy;
	return wx * wx + wy * wy;
}

double outline_apd(const double *a, size_t na, const double *b, size_t nb,
		   double sx, double sy)
{
	double sum = 0;

	for (size_t i = 0; i < na; i++) {
		double px = a[2 * i] * sx, py = a[2 * i + 1] * sy, best = INFINITY;

		for (size_t j = 0; j < nb; j++) {
			size_t k = j + 1 == nb ? 0 : j + 1;
			double d = seg_dist2(px, py, b[2 * j] * sx, b[2 * j + 1] * sy,
					     b[2 * k] * sx, b[2 * k + 1] * sy);

			if (d < best)
				best = d;
		}
		sum += sqrt(best);
	}
	return na ? sum / (double)na : NAN;
}

size_t mask_boundary(const uint8_t *m, long h, long w, long **rc)
{
	size_t n = 0;
	long *out;

	for (long p = 0; p < h * w; p++)
		n += m[p] != 0;
	*rc = NULL;
	if (!n)
		return 0;
	out = malloc(2 * n * sizeof *out);
	if (!out)
		return (size_t)-1;
	n = 0;
	for (long r = 0; r < h; r++)
		for (long c = 0; c < w; c++) {
			const uint8_t *p = m + r * w + c;

			if (!*p)
				continue;
			if (r == 0 || c == 0 || r + 1 == h || c + 1 == w ||
			    !p[-w] || !p[w] || !p[-1] || !p[1]) {
				out[2 * n] = r;
				out[2 * n + 1] = c;
				n++;
			}
		}
	*rc = out;
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void boundary_dists(const long *a, size_t na, const long *b, size_t nb,
		    double sx, double sy, double *d)
{
	for (size_t i = 0; i < na; i++) {
		double best = INFINITY;

		for (size_t j = 0; j < nb; j++) {
			double dy = (double)(a[2 * i] - b[2 * j]) * sy;
			double dx = (double)(a[2 * i + 1] - b[2 * j + 1]) * sx;
			double e = dx * dx + dy * dy;

			if (e < best)
				best = e;
		}
		d[i] = sqrt(best);
	}
	qsort(d, na, sizeof *d, cmp_double);
}

double percentile_sorted(const double *d, size_t n, double q)
{
	double pos = q / 100.0 * (double)(n - 1), lo = floor(pos);
	size_t i = (size_t)lo;

	if (!n)
		return NAN;
	if (i + 1 >= n)
		return d[n - 1];
	return d[i] + (pos - lo) * (d[i + 1] - d[i]);
}
