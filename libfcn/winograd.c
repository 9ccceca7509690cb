/*
 * winograd.c - F(2x2, 3x3) convolution (see winograd.h).
 * V = B^T d B for each 4x4 input tile (tiles step 2), U = G g G^T for each
 * kernel, then for each of the 16 tile positions a GEMM U (R, K) x V (K, T)
 * per group, and Y = A^T m A back to 2x2 outputs.  The input transform,
 * the GEMMs and the output transform run on the engine's threads.
 */
#include <cblas.h>
#include <string.h>

#include "threads.h"
#include "winograd.h"

/* Kernels are transformed 64 at a time into a local block, then stored as
 * 16 contiguous runs: U's 16 planes are far apart in memory. */
#define KBLOCK 64

struct kern_job {
	const float *w;
	float *U;
	int M, Cg, G, flip;
};

static void kernel_rows(void *ctx, int lo, int hi)
{
	const struct kern_job *j = ctx;
	int Mg = j->M / j->G, R = j->flip ? j->G * j->Cg : j->M;
	int K = j->flip ? Mg : j->Cg;
	float blk[16][KBLOCK];

	for (int r = lo; r < hi; r++)
		for (int k0 = 0; k0 < K; k0 += KBLOCK) {
			int nk = K - k0 < KBLOCK ? K - k0 : KBLOCK;

			for (int kk = 0; kk < nk; kk++) {
				int k = k0 + kk;
				const float *g;
				float f[9], t[4][3];

				if (!j->flip) {
					g = j->w + ((size_t)r * j->Cg + k) * 9;
					for (int i = 0; i < 9; i++)
						f[i] = g[i];
				} else {
					int grp = r / j->Cg, c = r % j->Cg, m = grp * Mg + k;

					g = j->w + ((size_t)m * j->Cg + c) * 9;
					for (int i = 0; i < 9; i++)
						f[i] = g[8 - i];
				}
				for (int q = 0; q < 3; q++) { /* G g */
					t[0][q] = f[q];
					t[1][q] = 0.5f * (f[q] + f[3 + q] + f[6 + q]);
					t[2][q] = 0.5f * (f[q] - f[3 + q] + f[6 + q]);
					t[3][q] = f[6 + q];
				}
				for (int i = 0; i < 4; i++) { /* (G g) G^T */
					blk[4 * i][kk] = t[i][0];
					blk[4 * i + 1][kk] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
					blk[4 * i + 2][kk] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
					blk[4 * i + 3][kk] = t[i][2];
				}
			}
			for (int e = 0; e < 16; e++)
				memcpy(j->U + ((size_t)e * R + r) * K + k0, blk[e],
				       (size_t)nk * sizeof(float));
		}
}

void fcn_wino_kernels(const float *w, int M, int Cg, int G, int flip, float *U)
{
	struct kern_job j = { w, U, M, Cg, G, flip };
	int R = flip ? G * Cg : M, K = flip ? M / G : Cg;

	fcn_parallel_for(R, 1 + 16384 / (K + 1), kernel_rows, &j);
}

size_t fcn_wino_work(int cin, int cout, int ho, int wo)
{
	size_t t = (size_t)((ho + 1) / 2) * ((wo + 1) / 2);

	return 16 * ((size_t)cin + (size_t)cout) * t;
}

struct wino_job {
	const float *x;
	const float *U;
	float *y, *V, *Mo;
	int cin, h, w, cout, groups, ph, pw, ho, wo, th, tw, accum;
};

/* V (16, CIN, T) for channels [lo, hi), KBLOCK tiles at a time through
 * a local block so that the 16 far-apart planes get contiguous runs. */
static void input_tiles(void *ctx, int lo, int hi)
{
	const struct wino_job *j = ctx;
	int T = j->th * j->tw;
	size_t s = (size_t)j->cin * T;
	float blk[16][KBLOCK];

	for (int c = lo; c < hi; c++) {
		const float *plane = j->x + (size_t)c * j->h * j->w;

		for (int t0 = 0; t0 < T; t0 += KBLOCK) {
			int nt = T - t0 < KBLOCK ? T - t0 : KBLOCK;

			for (int tt = 0; tt < nt; tt++) {
				int ty = (t0 + tt) / j->tw, tx = (t0 + tt) % j->tw;
				int y0 = 2 * ty - j->ph, x0 = 2 * tx - j->pw;
				float d[4][4], t[4][4];

				if (y0 >= 0 && y0 + 4 <= j->h && x0 >= 0 && x0 + 4 <= j->w) {
					for (int a = 0; a < 4; a++)
						for (int b = 0; b < 4; b++)
							d[a][b] = plane[(size_t)(y0 + a) * j->w + x0 + b];
				} else {
					for (int a = 0; a < 4; a++)
						for (int b = 0; b < 4; b++) {
							int yy = y0 + a, xx = x0 + b;

							d[a][b] = yy >= 0 && yy < j->h && xx >= 0 &&
									  xx < j->w ?
								  plane[(size_t)yy * j->w + xx] : 0.0f;
						}
				}
				for (int b = 0; b < 4; b++) { /* B^T d */
					t[0][b] = d[0][b] - d[2][b];
					t[1][b] = d[1][b] + d[2][b];
					t[2][b] = d[2][b] - d[1][b];
					t[3][b] = d[1][b] - d[3][b];
				}
				for (int a = 0; a < 4; a++) { /* (B^T d) B */
					blk[4 * a][tt] = t[a][0] - t[a][2];
					blk[4 * a + 1][tt] = t[a][1] + t[a][2];
					blk[4 * a + 2][tt] = t[a][2] - t[a][1];
					blk[4 * a + 3][tt] = t[a][1] - t[a][3];
				}
			}
			for (int e = 0; e < 16; e++)
				memcpy(j->V + (size_t)e * s + (size_t)c * T + t0, blk[e],
				       (size_t)nt * sizeof(float));
		}
	}
}

/* The GEMM of tile position e = i / groups, group g = i % groups. */
static void tile_gemms(void *ctx, int lo, int hi)
{
	const struct wino_job *j = ctx;
	int T = j->th * j->tw, Kg = j->cin / j->groups, Rg = j->cout / j->groups;

	for (int i = lo; i < hi; i++) {
		int e = i / j->groups, g = i % j->groups;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Rg, T, Kg, 1.0f,
			    j->U + ((size_t)e * j->cout + (size_t)g * Rg) * Kg, Kg,
			    j->V + ((size_t)e * j->cin + (size_t)g * Kg) * T, T, 0.0f,
			    j->Mo + ((size_t)e * j->cout + (size_t)g * Rg) * T, T);
	}
}

/* Y = A^T m A for output channels [lo, hi), KBLOCK tiles at a time. */
static void output_tiles(void *ctx, int lo, int hi)
{
	const struct wino_job *j = ctx;
	int T = j->th * j->tw;
	size_t s = (size_t)j->cout * T;
	float blk[16][KBLOCK];

	for (int m = lo; m < hi; m++) {
		float *plane = j->y + (size_t)m * j->ho * j->wo;

		if (!j->accum)
			memset(plane, 0, (size_t)j->ho * j->wo * sizeof *plane);
		for (int t0 = 0; t0 < T; t0 += KBLOCK) {
			int nt = T - t0 < KBLOCK ? T - t0 : KBLOCK;

			for (int e = 0; e < 16; e++)
				memcpy(blk[e], j->Mo + (size_t)e * s + (size_t)m * T + t0,
				       (size_t)nt * sizeof(float));
			for (int tt = 0; tt < nt; tt++) {
				int ty = (t0 + tt) / j->tw, tx = (t0 + tt) % j->tw;
				float t[2][4];

				for (int b = 0; b < 4; b++) { /* A^T m */
					t[0][b] = blk[b][tt] + blk[4 + b][tt] + blk[8 + b][tt];
					t[1][b] = blk[4 + b][tt] - blk[8 + b][tt] - blk[12 + b][tt];
				}
				for (int a = 0; a < 2; a++) {
					int yy = 2 * ty + a;

					if (yy >= j->ho)
						break;
					float *row = plane + (size_t)yy * j->wo + 2 * tx;

					row[0] += t[a][0] + t[a][1] + t[a][2];
					if (2 * tx + 1 < j->wo)
						row[1] += t[a][1] - t[a][2] - t[a][3];
				}
			}
		}
	}
}

void fcn_wino_conv(const float *x, int cin, int h, int w, const float *U,
		   int cout, int groups, int ph, int pw, float *y, int ho, int wo,
		   int accum, float *work)
{
	struct wino_job j = { x, U, y, work, NULL, cin, h, w, cout, groups, ph, pw,
			      ho, wo, (ho + 1) / 2, (wo + 1) / 2, accum };
	size_t T = (size_t)j.th * j.tw;
	long per = (long)T * 16 + 1;

	j.Mo = work + 16 * (size_t)cin * T;
	fcn_parallel_for(cin, (int)(1 + 65536 / per), input_tiles, &j);
	fcn_parallel_for(16 * groups, 1, tile_gemms, &j);
	fcn_parallel_for(cout, (int)(1 + 65536 / per), output_tiles, &j);
}
