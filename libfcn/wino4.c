/*
 * wino4.c - F(4x4, 3x3) convolution (see wino4.h).
 *
 * With the points 0, 1, -1, 2, -2 and infinity (Lavin and Gray 2016):
 *   Y = A^T [(G g G^T) .* (B^T d B)] A
 * for a 6x6 input tile d, a 3x3 kernel g and a 4x4 output tile Y.  The
 * tile transforms run lane-wise over the 24 tiles of a block (plain C
 * that compilers vectorise; no fused multiply-adds, so every path rounds
 * them alike), the 36 GEMMs of a block in the 4 x 24 micro-kernel.
 */
#include <string.h>

#include "threads.h"
#include "wino4.h"

#if defined(__x86_64__) || defined(__i386__)
#include "fma4x24.h"
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define NT 24 /* tiles per block (3 AVX vectors) */
#define KB 4  /* output channels per micro-kernel block */
#define MAX_CHUNKS 16
/* Output-channel blocks whose products are formed together: for each of
 * the 36 positions, V's plane (C, NT) is used by KG blocks while it is in
 * the cache; one block at a time would stream all 36 planes (36 C NT
 * floats, 864 KiB at C = 256) through the cache for every block. */
#ifndef KG
#define KG 4
#endif
/* A map of fewer tile blocks than threads (a 16x16 map is one block) is
 * cut by output channels too, into up to MAX_SPLIT parts a block, so that
 * every thread has work; each output is computed alike however it is cut. */
#define MAX_SPLIT 4

size_t fcn_wino4_usize(int M, int C)
{
	return (size_t)36 * ((M + KB - 1) / KB) * C * KB;
}

/*
 * The kernel transform U = G g G^T, G = [1/4 0 0; -1/6 -1/6 -1/6;
 * -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1], in float, 8
 * kernels at a time in GCC's vector extensions (no FMA: every build
 * rounds alike).  U[((p * nkb + kb) * C + c) * KB + k] is position p of
 * output kb*KB+k, input c; 0 for outputs past M.  U's 36 planes lie
 * nkb * C * KB floats apart (a power of two for the usual channel counts,
 * so they share cache sets): kernels are transformed CB channels at a
 * time into a local block and stored as 36 runs of CB * KB floats.
 */
#define CB 32
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));

/* o[i] = (G z)_i for the 3 inputs *pa, *pb, *pc (by address: a vector
 * passed by value is an ABI question where AVX is not enabled, and clang
 * warns of it, -Wpsabi) */
static inline void g6(const v8 *pa, const v8 *pb, const v8 *pc, v8 *o)
{
	v8 a = *pa, b = *pb, c = *pc;
	v8 p = (a + c) * (-1.0f / 6), q = b * (-1.0f / 6);
	v8 r = a * (1.0f / 24) + c * (1.0f / 6), s = b * (1.0f / 12);

	o[0] = a * 0.25f;
	o[1] = p + q;
	o[2] = p - q;
	o[3] = r + s;
	o[4] = r - s;
	o[5] = c;
}

struct ujob {
	const float *w;
	float *U;
	int M, C, flip;
};

static void kernel_blocks(void *ctx, int lo, int hi)
{
	const struct ujob *j = ctx;
	int M = j->M, C = j->C, nkb = (M + KB - 1) / KB;
	float blk[36][CB * KB] __attribute__((aligned(32)));

	for (int kb = lo; kb < hi; kb++)
		for (int c0 = 0; c0 < C; c0 += CB) {
			int nc = C - c0 < CB ? C - c0 : CB;

			for (int l0 = 0; l0 < nc * KB; l0 += 8) {
				float g[9][8];
				v8 t[6][3], u[6];

				for (int l = 0; l < 8; l++) { /* lane l: (c, m) */
					int c = c0 + (l0 + l) / KB, m = kb * KB + (l0 + l) % KB;

					for (int q = 0; q < 9; q++)
						g[q][l] = c >= C || m >= M ? 0.0f :
							  j->flip ? j->w[((size_t)c * M + m) * 9 + 8 - q] :
								    j->w[((size_t)m * C + c) * 9 + q];
				}
				for (int b = 0; b < 3; b++) { /* G g: down each column */
					v8 col[6];

					g6((v8 *)g[b], (v8 *)g[3 + b], (v8 *)g[6 + b], col);
					for (int i = 0; i < 6; i++)
						t[i][b] = col[i];
				}
				for (int i = 0; i < 6; i++) { /* (G g) G^T: along each row */
					g6(&t[i][0], &t[i][1], &t[i][2], u);
					for (int jj = 0; jj < 6; jj++)
						*(v8 *)&blk[i * 6 + jj][l0] = u[jj];
				}
			}
			for (int p = 0; p < 36; p++)
				memcpy(j->U + (((size_t)p * nkb + kb) * C + c0) * KB, blk[p],
				       (size_t)nc * KB * sizeof(float));
		}
}

void fcn_wino4_kernels(const float *w, int M, int C, int flip, float *U)
{
	struct ujob j = { w, U, M, C, flip };

	fcn_parallel_for((M + KB - 1) / KB, 1, kernel_blocks, &j);
}

/* Per chunk: D and E (36 x NT each), V (36 x C x NT), P (36 x KB x NT),
 * Y (16 x NT). */
static size_t chunk_floats(int C)
{
	return (size_t)NT * (72 + 36 * (size_t)C + 36 * KB * KG + 16);
}

/* Items (tile blocks, each cut into *ks output-channel parts when there
 * are fewer blocks than threads); items per chunk; chunks. */
static int split(int ho, int wo, int threads, int *ks, int *grain, int *nchunk)
{
	long tiles = (long)((ho + 3) / 4) * ((wo + 3) / 4);
	int nblk = (int)((tiles + NT - 1) / NT);
	int n;

	if (threads > MAX_SPLIT)
		threads = MAX_SPLIT;
	*ks = nblk < threads ? (threads + nblk - 1) / nblk : 1;
	n = nblk * *ks;
	*nchunk = n < MAX_CHUNKS ? n : MAX_CHUNKS;
	*grain = (n + *nchunk - 1) / *nchunk;
	*nchunk = (n + *grain - 1) / *grain;
	return n;
}

size_t fcn_wino4_work(int C, int ho, int wo)
{
	int ks, grain, nchunk;

	split(ho, wo, MAX_SPLIT, &ks, &grain, &nchunk); /* any thread count */
	return (size_t)nchunk * chunk_floats(C) + 16;
}

struct wjob {
	const struct fcn_direct_part *parts;
	int nparts;
	const float *U, *bias;
	float *y, *work;
	int C, h, w, M, ph, pw, ho, wo, accum, relu;
	int tw, ntiles, grain, ks;
};

/*
 * The transforms, 8 lanes at a time in GCC's vector extensions: AVX
 * instructions in the AVX2 build of them, SSE pairs in the portable one.
 * Neither has fused multiply-adds, so both round alike.
 */

/* Lanes z[r * zs .. + 8] of the 6 rows r. */
static inline __attribute__((always_inline)) void
load6(const float *z, size_t zs, v8 *z0, v8 *z1, v8 *z2, v8 *z3, v8 *z4, v8 *z5)
{
	*z0 = *(const v8 *)z;
	*z1 = *(const v8 *)(z + zs);
	*z2 = *(const v8 *)(z + 2 * zs);
	*z3 = *(const v8 *)(z + 3 * zs);
	*z4 = *(const v8 *)(z + 4 * zs);
	*z5 = *(const v8 *)(z + 5 * zs);
}

/* o[j * os] = (B^T z)_j over NT lanes, z[r * zs] the 6 inputs. */
static inline __attribute__((always_inline)) void
bt6(const float *restrict z, size_t zs, float *restrict o, size_t os)
{
	for (int t = 0; t < NT; t += 8) {
		v8 z0, z1, z2, z3, z4, z5;

		load6(z + t, zs, &z0, &z1, &z2, &z3, &z4, &z5);
		v8 a = z4 - 4.0f * z2, b = z3 - 4.0f * z1;
		v8 c = z4 - z2, e = 2.0f * (z3 - z1);

		*(v8 *)(o + t) = (4.0f * z0 - 5.0f * z2) + z4;
		*(v8 *)(o + os + t) = a + b;
		*(v8 *)(o + 2 * os + t) = a - b;
		*(v8 *)(o + 3 * os + t) = c + e;
		*(v8 *)(o + 4 * os + t) = c - e;
		*(v8 *)(o + 5 * os + t) = (4.0f * z1 - 5.0f * z3) + z5;
	}
}

/* o[j * os] = (A^T z)_j, j < 4. */
static inline __attribute__((always_inline)) void
at6(const float *restrict z, size_t zs, float *restrict o, size_t os)
{
	for (int t = 0; t < NT; t += 8) {
		v8 z0, z1, z2, z3, z4, z5;

		load6(z + t, zs, &z0, &z1, &z2, &z3, &z4, &z5);
		v8 a = z1 + z2, b = z1 - z2, c = z3 + z4, d = z3 - z4;

		*(v8 *)(o + t) = (z0 + a) + c;
		*(v8 *)(o + os + t) = b + 2.0f * d;
		*(v8 *)(o + 2 * os + t) = a + 4.0f * c;
		*(v8 *)(o + 3 * os + t) = (b + 8.0f * d) + z5;
	}
}

/* D[(r * 6 + k) * NT + t] = input (channel plane x) at row 4ty - ph + r,
 * column 4tx - pw + k of block tile t (0 outside the image or past the
 * last tile), for tile t of the block from t0. */
static void gather_tile(const struct wjob *j, const float *x, int t0, int t,
			float *D)
{
	int ti = t0 + t, y0 = ti / j->tw * 4 - j->ph, x0 = ti % j->tw * 4 - j->pw;

	for (int r = 0; r < 6; r++)
		for (int k = 0; k < 6; k++) {
			int iy = y0 + r, ix = x0 + k;

			D[(r * 6 + k) * NT + t] = ti < j->ntiles && iy >= 0 && iy < j->h &&
							  ix >= 0 && ix < j->w ?
							  x[(size_t)iy * j->w + ix] :
							  0.0f;
		}
}

static void gather_c(const struct wjob *j, const float *x, int t0, float *D)
{
	for (int t = 0; t < NT; t++)
		gather_tile(j, x, t0, t, D);
}

/* Y (16, NT) plus b (plus the output when accum), then max(0, .) when
 * relu, into output plane ym at
 * tile t of the block from t0 (the part inside the output). */
static void store_tile(const struct wjob *j, int t0, int t, const float *Y,
		       float b, float *ym)
{
	int oy = (t0 + t) / j->tw * 4, ox = (t0 + t) % j->tw * 4;
	int ny = j->ho - oy < 4 ? j->ho - oy : 4;
	int nx = j->wo - ox < 4 ? j->wo - ox : 4;

	for (int a = 0; a < ny; a++) {
		float *dst = ym + (size_t)(oy + a) * j->wo + ox;

		for (int q = 0; q < nx; q++) {
			float v = Y[(a * 4 + q) * NT + t] + b;

			if (j->accum)
				v += dst[q];
			dst[q] = j->relu && v < 0 ? 0.0f : v;
		}
	}
}

static void store_c(const struct wjob *j, int t0, const float *Y, float b,
		    float *ym)
{
	for (int t = 0; t < NT && t0 + t < j->ntiles; t++)
		store_tile(j, t0, t, Y, b, ym);
}

#if HAVE_X86
/*
 * Groups of 8 tiles in one tile row, away from the left and right edges,
 * move as 4x8 transposes: 8 tiles' 4-column steps are 32 consecutive
 * floats of a row.
 */
__attribute__((target("avx2")))
static void gather_avx2(const struct wjob *j, const float *x, int t0, float *D)
{
	float edge[40]; /* a row's 34 columns where they pass its ends */

	for (int g = 0; g < NT; g += 8) {
		int ti = t0 + g, tx = ti % j->tw;
		int y0 = ti / j->tw * 4 - j->ph, x0 = tx * 4 - j->pw;
		int inside = x0 >= 0 && x0 + 34 <= j->w;

		if (ti + 8 > j->ntiles || tx + 8 > j->tw) { /* the group spans rows */
			for (int t = g; t < g + 8; t++)
				gather_tile(j, x, t0, t, D);
			continue;
		}
		for (int r = 0; r < 6; r++) {
			float *d = D + r * 6 * NT + g;
			int iy = y0 + r;

			if (iy < 0 || iy >= j->h) {
				for (int k = 0; k < 6; k++)
					_mm256_storeu_ps(d + k * NT, _mm256_setzero_ps());
				continue;
			}
			const float *row = x + (size_t)iy * j->w, *s = row + (inside ? x0 : 0);

			if (!inside) {
				for (int i = 0; i < 34; i++)
					edge[i] = x0 + i >= 0 && x0 + i < j->w ? row[x0 + i] : 0.0f;
				s = edge;
			}
			__m256 v0 = _mm256_loadu_ps(s), v1 = _mm256_loadu_ps(s + 8);
			__m256 v2 = _mm256_loadu_ps(s + 16), v3 = _mm256_loadu_ps(s + 24);
			/* tiles 0|4, 1|5, 2|6, 3|7, then a 4x4 transpose per half */
			__m256 a0 = _mm256_permute2f128_ps(v0, v2, 0x20);
			__m256 a1 = _mm256_permute2f128_ps(v0, v2, 0x31);
			__m256 a2 = _mm256_permute2f128_ps(v1, v3, 0x20);
			__m256 a3 = _mm256_permute2f128_ps(v1, v3, 0x31);
			__m256 u0 = _mm256_unpacklo_ps(a0, a1), u1 = _mm256_unpackhi_ps(a0, a1);
			__m256 u2 = _mm256_unpacklo_ps(a2, a3), u3 = _mm256_unpackhi_ps(a2, a3);
			__m256 c0 = _mm256_shuffle_ps(u0, u2, 0x44);
			__m256 c1 = _mm256_shuffle_ps(u0, u2, 0xee);
			__m256 c2 = _mm256_shuffle_ps(u1, u3, 0x44);
			__m256 c3 = _mm256_shuffle_ps(u1, u3, 0xee);
			/* columns 4 and 5: columns 0 and 1 of the next tile */
			__m256i next = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7);
			__m256 c4 = _mm256_blend_ps(_mm256_permutevar8x32_ps(c0, next),
						    _mm256_broadcast_ss(s + 32), 0x80);
			__m256 c5 = _mm256_blend_ps(_mm256_permutevar8x32_ps(c1, next),
						    _mm256_broadcast_ss(s + 33), 0x80);

			_mm256_storeu_ps(d, c0);
			_mm256_storeu_ps(d + NT, c1);
			_mm256_storeu_ps(d + 2 * NT, c2);
			_mm256_storeu_ps(d + 3 * NT, c3);
			_mm256_storeu_ps(d + 4 * NT, c4);
			_mm256_storeu_ps(d + 5 * NT, c5);
		}
	}
}

__attribute__((target("avx2")))
static void store_avx2(const struct wjob *j, int t0, const float *Y, float b,
		       float *ym)
{
	__m256 bias = _mm256_set1_ps(b), zero = _mm256_setzero_ps();

	for (int g = 0; g < NT && t0 + g < j->ntiles; g += 8) {
		int ti = t0 + g, oy = ti / j->tw * 4, ox = ti % j->tw * 4;

		if (oy + 4 > j->ho || !(ti + 8 <= j->ntiles && ti % j->tw + 8 <= j->tw &&
					ox + 32 <= j->wo)) {
			for (int t = g; t < g + 8 && t0 + t < j->ntiles; t++)
				store_tile(j, t0, t, Y, b, ym);
			continue;
		}
		for (int a = 0; a < 4; a++) {
			const float *y = Y + a * 4 * NT + g;
			__m256 q0 = _mm256_loadu_ps(y), q1 = _mm256_loadu_ps(y + NT);
			__m256 q2 = _mm256_loadu_ps(y + 2 * NT), q3 = _mm256_loadu_ps(y + 3 * NT);
			__m256 r0 = _mm256_unpacklo_ps(q0, q1), r1 = _mm256_unpackhi_ps(q0, q1);
			__m256 r2 = _mm256_unpacklo_ps(q2, q3), r3 = _mm256_unpackhi_ps(q2, q3);
			__m256 s0 = _mm256_shuffle_ps(r0, r2, 0x44); /* tiles 0 | 4 */
			__m256 s1 = _mm256_shuffle_ps(r0, r2, 0xee); /* 1 | 5 */
			__m256 s2 = _mm256_shuffle_ps(r1, r3, 0x44); /* 2 | 6 */
			__m256 s3 = _mm256_shuffle_ps(r1, r3, 0xee); /* 3 | 7 */
			__m256 o[4] = { _mm256_permute2f128_ps(s0, s1, 0x20),
					_mm256_permute2f128_ps(s2, s3, 0x20),
					_mm256_permute2f128_ps(s0, s1, 0x31),
					_mm256_permute2f128_ps(s2, s3, 0x31) };
			float *dst = ym + (size_t)(oy + a) * j->wo + ox;

			for (int v = 0; v < 4; v++) {
				__m256 e = _mm256_add_ps(o[v], bias);

				if (j->accum)
					e = _mm256_add_ps(e, _mm256_loadu_ps(dst + 8 * v));
				if (j->relu)
					e = _mm256_max_ps(e, zero);
				_mm256_storeu_ps(dst + 8 * v, e);
			}
		}
	}
}
#endif

/* V (36, C, NT) of the block's tiles from t0. */
typedef void gather_fn(const struct wjob *j, const float *x, int t0, float *D);
typedef void store_fn(const struct wjob *j, int t0, const float *Y, float b,
		      float *ym);

static inline __attribute__((always_inline)) void
input_transform(const struct wjob *j, int t0, float *D, float *E, float *V,
		gather_fn *gather)
{
	int c = 0;

	for (int q = 0; q < j->nparts; q++)
		for (int cp = 0; cp < j->parts[q].c; cp++, c++) {
			gather(j, j->parts[q].x + (size_t)cp * j->h * j->w, t0, D);
			for (int k = 0; k < 6; k++) /* B^T d: down each column k */
				bt6(D + k * NT, 6 * NT, E + k * NT, 6 * NT);
			for (int i = 0; i < 6; i++) /* (B^T d) B: along each row i */
				bt6(E + i * 6 * NT, NT, V + ((size_t)i * 6 * j->C + c) * NT,
				    (size_t)j->C * NT);
		}
}

/* P (KB, NT) = U block (C, KB) transposed times V (C, NT). */
static void gemm_c(const float *u, const float *v, int C, float *P)
{
	float acc[KB][NT] = { { 0 } };

	for (int c = 0; c < C; c++, u += KB, v += NT)
		for (int k = 0; k < KB; k++)
			for (int t = 0; t < NT; t++)
				acc[k][t] += u[k] * v[t];
	memcpy(P, acc, sizeof acc);
}

#if HAVE_X86
__attribute__((target("avx2,fma")))
static void gemm_avx2(const float *u, const float *v, int C, float *P)
{
	__m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00;
	__m256 a10 = a00, a11 = a00, a12 = a00;
	__m256 a20 = a00, a21 = a00, a22 = a00;
	__m256 a30 = a00, a31 = a00, a32 = a00;

	for (int c = 0; c < C; c++, u += KB, v += NT) {
		__m256 x0 = _mm256_loadu_ps(v), x1 = _mm256_loadu_ps(v + 8);
		__m256 x2 = _mm256_loadu_ps(v + 16);

		FMA4X24(u, x0, x1, x2);
	}
	_mm256_storeu_ps(P, a00);
	_mm256_storeu_ps(P + 8, a01);
	_mm256_storeu_ps(P + 16, a02);
	_mm256_storeu_ps(P + NT, a10);
	_mm256_storeu_ps(P + NT + 8, a11);
	_mm256_storeu_ps(P + NT + 16, a12);
	_mm256_storeu_ps(P + 2 * NT, a20);
	_mm256_storeu_ps(P + 2 * NT + 8, a21);
	_mm256_storeu_ps(P + 2 * NT + 16, a22);
	_mm256_storeu_ps(P + 3 * NT, a30);
	_mm256_storeu_ps(P + 3 * NT + 8, a31);
	_mm256_storeu_ps(P + 3 * NT + 16, a32);
}
#endif

/* Output channels kb*KB.. of the block's tiles from t0, from P (36, KB,
 * NT), through E (24 x NT) and Y (16 x NT). */
static inline __attribute__((always_inline)) void
output_transform(const struct wjob *j, int t0, int kb, const float *P,
		 float *E, float *Y, store_fn *store)
{
	for (int k = 0; k < KB; k++) {
		int m = kb * KB + k;

		if (m >= j->M)
			return;
		for (int jj = 0; jj < 6; jj++) /* A^T m: down each column */
			at6(P + ((size_t)jj * KB + k) * NT, 6 * KB * NT, E + jj * NT,
			    6 * NT);
		for (int a = 0; a < 4; a++) /* (A^T m) A: along each row */
			at6(E + a * 6 * NT, NT, Y + a * 4 * NT, NT);

		store(j, t0, Y, j->bias ? j->bias[m] : 0.0f,
		      j->y + (size_t)m * j->ho * j->wo);
	}
}

typedef void gemm_fn(const float *u, const float *v, int C, float *P);

/* Items [lo, hi) (item i: block i / ks, output-channel part i % ks) in
 * the buffers of chunk lo / grain.  P holds (KG, 36, KB, NT). */
static inline __attribute__((always_inline)) void
run(const struct wjob *j, int lo, int hi, gemm_fn *gemm, gather_fn *gather,
    store_fn *store)
{
	float *D = j->work + (size_t)(lo / j->grain) * chunk_floats(j->C);
	float *E = D + 36 * NT, *V = E + 36 * NT;
	float *P = V + (size_t)36 * j->C * NT, *Y = P + 36 * KB * KG * NT;
	int nkb = (j->M + KB - 1) / KB;

	for (int i = lo; i < hi; i++) {
		int t0 = i / j->ks * NT, part = i % j->ks;
		int kb0 = nkb * part / j->ks, kb1 = nkb * (part + 1) / j->ks;

		if (kb0 == kb1)
			continue;
		input_transform(j, t0, D, E, V, gather);
		for (int kg = kb0; kg < kb1; kg += KG) {
			int kn = kb1 - kg < KG ? kb1 - kg : KG;

			for (int p = 0; p < 36; p++)
				for (int k = 0; k < kn; k++)
					gemm(j->U + ((size_t)p * nkb + kg + k) * j->C * KB,
					     V + (size_t)p * j->C * NT, j->C,
					     P + ((size_t)k * 36 + p) * KB * NT);
			for (int k = 0; k < kn; k++)
				output_transform(j, t0, kg + k, P + (size_t)k * 36 * KB * NT,
						 E, Y, store);
		}
	}
}

static void blocks_c(void *ctx, int lo, int hi)
{
	run(ctx, lo, hi, gemm_c, gather_c, store_c);
}

#if HAVE_X86
/* AVX for the transforms, but no FMA: they round as blocks_c's do */
__attribute__((target("avx2")))
static void blocks_avx2(void *ctx, int lo, int hi)
{
	run(ctx, lo, hi, gemm_avx2, gather_avx2, store_avx2);
}
#endif

void fcn_wino4_conv(const struct fcn_direct_part *parts, int nparts, int h,
		    int w, const float *U, const float *bias, int M, int ph,
		    int pw, float *y, int ho, int wo, int accum, int relu,
		    float *work)
{
	int C = 0, ks, grain, nchunk;

	for (int k = 0; k < nparts; k++)
		C += parts[k].c;
	int n = split(ho, wo, fcn_pool_threads(), &ks, &grain, &nchunk);
	struct wjob j = { parts, nparts, U, bias, y, work, C, h, w, M, ph, pw,
			  ho, wo, accum, relu, (wo + 3) / 4, ((ho + 3) / 4) * ((wo + 3) / 4),
			  grain, ks };

#if HAVE_X86
	if (fcn_kernels_avx2()) {
		fcn_parallel_for(n, grain, blocks_avx2, &j);
		return;
	}
#endif
	fcn_parallel_for(n, grain, blocks_c, &j);
}
