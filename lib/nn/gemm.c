/* gemm.c - the blocked, packed SGEMM driver shared by every SIMD path.
 *
 * The loops are BLIS's (Van Zee & van de Geijn, "BLIS: A Framework for
 * Rapidly Instantiating BLAS Functionality", ACM TOMS 2015): over NC-wide
 * column blocks of C, KC-deep slices of K (B slice packed into NR-wide
 * panels, kept in L3/L2), MC-tall row blocks (A packed into MR-tall panels,
 * kept in L2), then NR x MR micro-tiles computed by the path's micro-kernel
 * from L1.  Only the micro-kernel is ISA-specific; the block sizes of each
 * path sit in one table below.
 *
 * Threads split C into a grid of rectangles aligned to the micro-tile grid;
 * each thread runs the serial loops on its rectangle with its own pack
 * buffers.  Every element of C therefore sees the same micro-tile and the
 * same KC slices in the same order whatever the number of threads, which is
 * what makes the result bit-identical for any thread count. */
#include "nn/gemm.h"
#include "nn/par.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/bf16.h"
#include "nn/simd/gemm_kernel.h"

typedef struct gemm_path {
	int mr, nr;     /* micro-tile (fixed by the kernel) */
	int mc, kc, nc; /* cache blocks: A block mc x kc in L2, B slice kc x nc */
	long l2;        /* L2 per core, floats */
	dm_gemm_ukernel kernel;
	dm_gemm_ukernel_rows rkernel; /* partial row panels in place (or NULL) */
} gemm_path;

/* The micro-kernel of each SIMD path (its tile is fixed by the code). */
static const gemm_path kernels[] = {
	[DM_SIMD_SCALAR] = { DM_GEMM_SCALAR_MR, DM_GEMM_SCALAR_NR, 0, 0, 0, 0,
	                     dm_gemm_ukernel_scalar, NULL },
	[DM_SIMD_AVX2] = { DM_GEMM_AVX2_MR, DM_GEMM_AVX2_NR, 0, 0, 0, 0, dm_gemm_ukernel_avx2,
	                   dm_gemm_ukernel_avx2_rows },
	[DM_SIMD_AVX512] = { DM_GEMM_AVX512_MR, DM_GEMM_AVX512_NR, 0, 0, 0, 0,
	                     dm_gemm_ukernel_avx512, NULL },
};

/* The block sizes, per CPU family (cpu.h) and SIMD path: the one table of
 * cache-dependent numbers (BLIS keeps one per architecture).  The rule:
 * the B micro-panel (kc x nr) stays in L1 while MR-row panels of A stream
 * past it, so kc*nr*4 bytes should be about half of L1; the A block
 * (mc x kc) stays in L2; l2 is the per-core L2 in floats.
 * generic and zen4 (32 KiB L1d, 1 MiB L2): AVX2 6 x 16 with kc = 256
 * (16 KiB) measured best of kc 160..384 on Zen 4 (bench_gemm, thread CPU
 * time); mc*kc*4 = 120 KiB of A.  AVX-512 8 x 48 there: kc = 96 (18 KiB).
 * intel-avx512 (48 KiB L1d, 2 MiB L2): AVX-512 8 x 48 with kc = 192
 * (36 KiB of B, three quarters of L1) and mc = 64 measured best of mc
 * 64..256 x kc 96..256 on a Sapphire Rapids Xeon (bench_gemm squares, 1
 * thread CPU time: 0.98/1.01/0.94x OpenBLAS at 512/1024/2048, against
 * 0.98/0.89/0.75x with the Zen 4 sizes); its AVX2 and scalar rows are the
 * generic ones, unmeasured. */
typedef struct gemm_blocks {
	int mc, kc, nc;
	long l2;
} gemm_blocks;

static const gemm_blocks blocks[DM_CPU_NFAMILIES][DM_SIMD_AVX512 + 1] = {
	[DM_CPU_GENERIC] = {
		[DM_SIMD_SCALAR] = { 64, 256, 2048, 256 * 1024 },
		[DM_SIMD_AVX2] = { 120, 256, 3072, 256 * 1024 },
		[DM_SIMD_AVX512] = { 128, 96, 3072, 256 * 1024 },
	},
	[DM_CPU_INTEL_AVX512] = {
		[DM_SIMD_SCALAR] = { 64, 256, 2048, 512 * 1024 },
		[DM_SIMD_AVX2] = { 120, 256, 3072, 512 * 1024 },
		[DM_SIMD_AVX512] = { 64, 192, 3072, 512 * 1024 },
	},
	[DM_CPU_ZEN4] = {
		[DM_SIMD_SCALAR] = { 64, 256, 2048, 256 * 1024 },
		[DM_SIMD_AVX2] = { 120, 256, 3072, 256 * 1024 },
		[DM_SIMD_AVX512] = { 128, 96, 3072, 256 * 1024 },
	},
};

/* The path for this CPU: the kernel of the chosen SIMD path with its
 * family's blocks (cheap enough to build per call). */
static gemm_path path_for(int simd)
{
	if (simd > DM_SIMD_AVX512) /* the bf16 levels: the AVX-512 fp32 kernel */
		simd = DM_SIMD_AVX512;
	gemm_path P = kernels[simd];
	const gemm_blocks *b = &blocks[dm_cpu_family()][simd];
	P.mc = b->mc, P.kc = b->kc, P.nc = b->nc, P.l2 = b->l2;
	return P;
}

/* Pack buffers, one pair per thread, grown as needed and kept for the life
 * of the thread (no allocation per call once warm). */
static _Thread_local float *pack_a, *pack_b;
static _Thread_local size_t pack_a_cap, pack_b_cap;
static _Thread_local float *brow_buf, *kvec_buf;
static _Thread_local size_t brow_cap, kvec_cap;

static float *grow(float **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		free(*buf);
		size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
		*buf = aligned_alloc(64, bytes);
		*cap = *buf ? n : 0;
	}
	return *buf;
}

#include "nn/shortcopy.h"

/* Interleave cnt (<= width) source rows into kc groups of width floats:
 * dst[p*width + j] = src[j][p], zero for j >= cnt.  This is the transposing
 * copy of packing A by rows and B by columns; 4 x 4 blocks go through
 * registers (shufps on x86-64). */
typedef int i4 __attribute__((vector_size(16)));

static void interleave(const float *const *src, int cnt, int width, int kc, float *dst)
{
	int j = 0;
	for (; j + 4 <= cnt; j += 4) {
		int p = 0;
		for (; p + 4 <= kc; p += 4) {
			f4 r0, r1, r2, r3;
			__builtin_memcpy(&r0, src[j] + p, sizeof r0);
			__builtin_memcpy(&r1, src[j + 1] + p, sizeof r1);
			__builtin_memcpy(&r2, src[j + 2] + p, sizeof r2);
			__builtin_memcpy(&r3, src[j + 3] + p, sizeof r3);
			f4 t0 = __builtin_shuffle(r0, r1, (i4){ 0, 4, 1, 5 });
			f4 t1 = __builtin_shuffle(r0, r1, (i4){ 2, 6, 3, 7 });
			f4 t2 = __builtin_shuffle(r2, r3, (i4){ 0, 4, 1, 5 });
			f4 t3 = __builtin_shuffle(r2, r3, (i4){ 2, 6, 3, 7 });
			f4 c0 = __builtin_shuffle(t0, t2, (i4){ 0, 1, 4, 5 });
			f4 c1 = __builtin_shuffle(t0, t2, (i4){ 2, 3, 6, 7 });
			f4 c2 = __builtin_shuffle(t1, t3, (i4){ 0, 1, 4, 5 });
			f4 c3 = __builtin_shuffle(t1, t3, (i4){ 2, 3, 6, 7 });
			float *d = dst + (size_t)p * width + j;
			__builtin_memcpy(d, &c0, sizeof c0);
			__builtin_memcpy(d + width, &c1, sizeof c1);
			__builtin_memcpy(d + 2 * width, &c2, sizeof c2);
			__builtin_memcpy(d + 3 * width, &c3, sizeof c3);
		}
		for (; p < kc; p++)
			for (int q = 0; q < 4; q++)
				dst[(size_t)p * width + j + q] = src[j + q][p];
	}
	for (; j < cnt; j++)
		for (int p = 0; p < kc; p++)
			dst[(size_t)p * width + j] = src[j][p];
	for (j = cnt; j < width; j++)
		for (int p = 0; p < kc; p++)
			dst[(size_t)p * width + j] = 0.0f;
}

typedef struct gemm_args {
	int transa, transb;
	int m, n, k;
	float alpha;
	const float *a;
	long lda;
	const float *b;
	long ldb;
	float beta;
	float *c;
	long ldc;
	dm_gemm_brow_fn brow; /* op(B) row by row instead of b (dm_sgemm_brows) */
	const void *ctx;
	dm_gemm_kvec_fn avec, bvec; /* op(A) rows, op(B) columns (dm_sgemm_kvec) */
	const void *actx, *bctx;
	int cblk;  /* > 0: C's columns come in blocks of cblk ... */
	long cbs;  /* ... that lie cbs floats apart (dm_sgemm_brows) */
} gemm_args;

/* Where C[i][j] lives. */
static inline float *c_at(const gemm_args *g, int i, int j)
{
	if (g->cblk > 0)
		return g->c + (long)(j / g->cblk) * g->cbs + (long)i * g->ldc + j % g->cblk;
	return g->c + (long)i * g->ldc + j;
}

/* op(A)[i0.., p0..] (mc x kc) into MR-tall panels, zero-padded. */
static void pack_a_block(const gemm_args *g, int mr, int i0, int mc, int p0, int kc, float *dst)
{
	for (int ir = 0; ir < mc; ir += mr, dst += (size_t)mr * kc) {
		int rows = mc - ir < mr ? mc - ir : mr;
		if (g->avec) {
			const float *src[64];
			for (int i = 0; i < rows; i++) {
				float *row = kvec_buf + (size_t)i * kc;
				g->avec(g->actx, i0 + ir + i, p0, kc, row);
				src[i] = row;
			}
			interleave(src, rows, mr, kc, dst);
		} else if (g->transa) {
			for (int p = 0; p < kc; p++) {
				const float *src = g->a + (long)(p0 + p) * g->lda + i0 + ir;
				float *d = dst + (size_t)p * mr;
				copy_f(d, src, rows);
				for (int i = rows; i < mr; i++)
					d[i] = 0.0f;
			}
		} else {
			const float *src[64];
			for (int i = 0; i < rows; i++)
				src[i] = g->a + (long)(i0 + ir + i) * g->lda + p0;
			interleave(src, rows, mr, kc, dst);
		}
	}
}

/* op(B) = B^T stored N x K, or given by columns (bvec): op(B)[p0.., j0..] (kc x nc) into NR-wide
 * panels, zero-padded. */
static void pack_b_block(const gemm_args *g, int nr, int p0, int kc, int j0, int nc, float *dst)
{
	for (int jr = 0; jr < nc; jr += nr, dst += (size_t)nr * kc) {
		int cols = nc - jr < nr ? nc - jr : nr;
		const float *src[64];
		for (int j = 0; j < cols; j++) {
			if (g->bvec) {
				float *col = kvec_buf + (size_t)j * kc;
				g->bvec(g->bctx, j0 + jr + j, p0, kc, col);
				src[j] = col;
			} else {
				src[j] = g->b + (long)(j0 + jr + j) * g->ldb + p0;
			}
		}
		interleave(src, cols, nr, kc, dst);
	}
}

/* op(B) = B: walk B row by row so that each read is a contiguous run of nc
 * floats (a panel at a time would touch kc rows far apart per 96 bytes,
 * which the prefetchers cannot follow). */
static void pack_b_rows(const gemm_args *g, int nr, int p0, int kc, int j0, int nc, float *dst)
{
	for (int p = 0; p < kc; p++) {
		const float *src;
		if (g->brow) {
			g->brow(g->ctx, p0 + p, j0, nc, brow_buf);
			src = brow_buf;
		} else {
			src = g->b + (long)(p0 + p) * g->ldb + j0;
			/* Each row is a short stream the hardware prefetchers pick up
			 * too late; ask for a row a few ahead (B often comes from DRAM). */
			if (p + 8 < kc)
				for (int j = 0; j < nc; j += 16)
					__builtin_prefetch(src + 8 * (long)g->ldb + j);
		}
		float *d = dst + (size_t)p * nr;
		int jr = 0;
		for (; jr + nr <= nc; jr += nr, d += (size_t)nr * kc)
			copy_f(d, src + jr, nr);
		if (jr < nc) {
			for (int j = 0; j < nc - jr; j++)
				d[j] = src[jr + j];
			for (int j = nc - jr; j < nr; j++)
				d[j] = 0.0f;
		}
	}
}

/* A partial tile: the kernel writes alpha*AB into a scratch tile, then
 * beta*C is added with the same rounding as inside the kernel. */
static void edge_tile(const gemm_path *P, long kc, const float *a, const float *b, float *c,
                      long ldc, int rows, int cols, float alpha, float beta)
{
	_Alignas(64) float t[16 * 64];
	P->kernel(kc, a, b, t, P->nr, alpha, 0.0f);
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++) {
			float v = t[i * P->nr + j];
			if (beta != 0.0f)
				v += beta * c[i * ldc + j];
			c[i * ldc + j] = v;
		}
}

/* A tile whose columns straddle two blocks of C: as edge_tile, element by
 * element through c_at. */
static void split_tile(const gemm_path *P, const gemm_args *g, long kc, const float *a,
                       const float *b, int i0, int j0, int rows, int cols, float beta)
{
	_Alignas(64) float t[16 * 64];
	P->kernel(kc, a, b, t, P->nr, g->alpha, 0.0f);
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++) {
			float *cij = c_at(g, i0 + i, j0 + j);
			float v = t[i * P->nr + j];
			if (beta != 0.0f)
				v += beta * *cij;
			*cij = v;
		}
}

/* Make this thread's pack buffers big enough for its rectangle; 0 or -1. */
static int gemm_buffers(const gemm_path *P, int k, int m0, int m1, int n0, int n1)
{
	int mr = P->mr, nr = P->nr;
	size_t kcmax = (size_t)(k < P->kc ? k : P->kc);
	int ncmax = n1 - n0 < P->nc ? n1 - n0 : P->nc;
	int mcmax = m1 - m0 < P->mc ? m1 - m0 : P->mc;
	float *pa = grow(&pack_a, &pack_a_cap, kcmax * (size_t)((mcmax + mr - 1) / mr * mr));
	float *pb = grow(&pack_b, &pack_b_cap, kcmax * (size_t)((ncmax + nr - 1) / nr * nr));
	float *pr = grow(&brow_buf, &brow_cap, (size_t)ncmax);
	float *pk = grow(&kvec_buf, &kvec_cap, kcmax * (size_t)(mr > nr ? mr : nr));
	return pa && pb && pr && pk ? 0 : -1;
}

/* K is cut into equal slices of at most KC: 288 = 144 + 144 rather than
 * 256 + 32, which would pay a whole pass over C for a thin slice. */
static int slice_k(const gemm_path *P, int k)
{
	int n = (k + P->kc - 1) / P->kc;
	return (k + n - 1) / n;
}

/* What the BLIS loops do with one precision's operands: pack op(B) by rows
 * for a whole slice (when B is row-major) or one NR-wide panel by columns
 * (transb, bvec), pack an MC-row block of op(A), and run one micro-tile.
 * Offsets: ir rows into the packed A block, jr columns into the packed B
 * slice; kp is the padded K of a slice (kc for fp32). */
typedef struct loop_ops {
	int mr, nr, mc, nc;
	long l2;
	int kcb;                    /* K slice */
	int (*kpad)(const void *P, int kc);
	void (*pack_b_rows)(const void *P, const gemm_args *g, int pc, int kc, int kp, int jc,
	                    int nc);
	void (*pack_b_cols)(const void *P, const gemm_args *g, int pc, int kc, int kp, int jr,
	                    int j, int cols);
	void (*pack_a)(const void *P, const gemm_args *g, int ic, int mc, int pc, int kc, int kp);
	void (*tile)(const void *P, const gemm_args *g, int kp, int ir, int jr, int i, int j,
	             int rows, int cols, float beta);
} loop_ops;

/* The serial BLIS loops over the rectangle [m0,m1) x [n0,n1) of C, for
 * either precision.  Each NR-wide panel of B packed by columns is packed
 * just before its first use (by the first row block), so that it is still
 * in L1 when the micro-kernel reads it. */
static void blis_loops(const loop_ops *L, const void *P, const gemm_args *g, int m0, int m1,
                       int n0, int n1)
{
	int mr = L->mr, nr = L->nr, kcb = L->kcb, ncb = L->nc;
	if (m1 - m0 <= L->mc) {
		/* One row block: each packed B slice is used once, so keep it in L2
		 * (half of it) rather than sized for reuse from L3. */
		int fit = (int)(L->l2 / 2 / kcb) / nr * nr;
		if (fit < nr)
			fit = nr;
		if (fit < ncb)
			ncb = fit;
	}
	for (int jc = n0; jc < n1; jc += ncb) {
		int nc = n1 - jc < ncb ? n1 - jc : ncb;
		for (int pc = 0; pc < g->k; pc += kcb) {
			int kc = g->k - pc < kcb ? g->k - pc : kcb, kp = L->kpad ? L->kpad(P, kc) : kc;
			float beta = pc == 0 ? g->beta : 1.0f;
			if (!g->transb && !g->bvec)
				L->pack_b_rows(P, g, pc, kc, kp, jc, nc);
			for (int ic = m0; ic < m1; ic += L->mc) {
				int mc = m1 - ic < L->mc ? m1 - ic : L->mc;
				L->pack_a(P, g, ic, mc, pc, kc, kp);
				for (int jr = 0; jr < nc; jr += nr) {
					int cols = nc - jr < nr ? nc - jr : nr;
					if (ic == m0 && (g->transb || g->bvec))
						L->pack_b_cols(P, g, pc, kc, kp, jr, jc + jr, cols);
					for (int ir = 0; ir < mc; ir += mr)
						L->tile(P, g, kp, ir, jr, ic + ir, jc + jr,
						        mc - ir < mr ? mc - ir : mr, cols, beta);
				}
			}
		}
	}
}

/* ---- the fp32 operands of blis_loops ---- */

static void rows32(const void *P, const gemm_args *g, int pc, int kc, int kp, int jc, int nc)
{
	(void)kp;
	pack_b_rows(g, ((const gemm_path *)P)->nr, pc, kc, jc, nc, pack_b);
}

static void cols32(const void *P, const gemm_args *g, int pc, int kc, int kp, int jr, int j,
                   int cols)
{
	(void)kp;
	pack_b_block(g, ((const gemm_path *)P)->nr, pc, kc, j, cols, pack_b + (size_t)jr * kc);
}

static void a32(const void *P, const gemm_args *g, int ic, int mc, int pc, int kc, int kp)
{
	(void)kp;
	pack_a_block(g, ((const gemm_path *)P)->mr, ic, mc, pc, kc, pack_a);
}

static void tile32(const void *path, const gemm_args *g, int kc, int ir, int jr, int i, int j,
                   int rows, int cols, float beta)
{
	const gemm_path *P = path;
	const float *ap = pack_a + (size_t)ir * kc, *bp = pack_b + (size_t)jr * kc;
	float *cp = c_at(g, i, j);
	if (g->cblk > 0 && j % g->cblk + cols > g->cblk)
		split_tile(P, g, kc, ap, bp, i, j, rows, cols, beta);
	else if (rows == P->mr && cols == P->nr)
		P->kernel(kc, ap, bp, cp, g->ldc, g->alpha, beta);
	else if (cols == P->nr && P->rkernel)
		P->rkernel(rows, kc, ap, bp, cp, g->ldc, g->alpha, beta);
	else
		edge_tile(P, kc, ap, bp, cp, g->ldc, rows, cols, g->alpha, beta);
}

/* The thread grid tm x tn (tm * tn == nt) that minimises the largest
 * rectangle, counted in whole micro-tiles; ties go to splitting N, which
 * shares A (the smaller operand in the convolution shapes). */
static void thread_grid(int nt, int mt, int ntl, int *tm, int *tn)
{
	long bestc = -1;
	for (int a = 1; a <= nt; a++) {
		if (nt % a)
			continue;
		int b = nt / a;
		long cost = (long)((mt + a - 1) / a) * ((ntl + b - 1) / b);
		if (a > mt || b > ntl)
			cost += 1L << 40;
		if (bestc < 0 || cost < bestc || (cost == bestc && b > *tn)) {
			bestc = cost;
			*tm = a;
			*tn = b;
		}
	}
}

static void scale_c(const gemm_args *g)
{
	for (int i = 0; i < g->m; i++)
		for (int j = 0; j < g->n; j++) {
			float *cij = c_at(g, i, j);
			*cij = g->beta == 0.0f ? 0.0f : g->beta * *cij;
		}
}

/* The plain loops in double, for any gemm_args (the out-of-memory path),
 * with the operands rounded to bf16 first when bf16 (the shape of
 * dm_gemm_bf16_ref). */
static void plain_loops(const gemm_args *g, int bf16)
{
	for (int i = 0; i < g->m; i++)
		for (int j = 0; j < g->n; j++) {
			double s = 0.0;
			for (int p = 0; p < g->k; p++) {
				float x, y;
				if (g->avec)
					g->avec(g->actx, i, p, 1, &x);
				else
					x = g->transa ? g->a[(long)p * g->lda + i] : g->a[(long)i * g->lda + p];
				if (g->bvec)
					g->bvec(g->bctx, j, p, 1, &y);
				else if (g->brow)
					g->brow(g->ctx, p, j, 1, &y);
				else
					y = g->transb ? g->b[(long)j * g->ldb + p] : g->b[(long)p * g->ldb + j];
				if (bf16)
					x = dm_bf16_round(x), y = dm_bf16_round(y);
				s += (double)x * y;
			}
			float *cij = c_at(g, i, j);
			*cij = (float)(g->alpha * s + (g->beta == 0.0f ? 0.0 : (double)g->beta * *cij));
		}
}

static void ref_loops(const gemm_args *g)
{
	plain_loops(g, 0);
}

/* The driver the fp32 and bf16 GEMMs share: C split into one rectangle of
 * whole mr x nr tiles per thread (a grid that does not depend on timing, so
 * results do not depend on the thread count), the pack buffers of every
 * thread allocated before anyone touches C, so that a failure can still
 * fall back to the plain loops on the untouched C. */
typedef struct gemm_driver {
	const void *path;
	int mr, nr;
	int (*buffers)(const void *path, int k, int m0, int m1, int n0, int n1);
	void (*rect)(const void *path, const gemm_args *g, int m0, int m1, int n0, int n1);
	void (*ref)(const gemm_args *g);
} gemm_driver;

static void gemm_drive(const gemm_driver *d, const gemm_args *g)
{
	int m = g->m, n = g->n, k = g->k;
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0 || g->alpha == 0.0f) {
		scale_c(g);
		return;
	}
	int mt = (m + d->mr - 1) / d->mr, ntl = (n + d->nr - 1) / d->nr;
	/* Below ~1 MFLOP a second thread costs more than it brings. */
	int nt = 1;
	if (!omp_in_parallel() && (double)m * n * k >= 5e5)
		nt = omp_get_max_threads();
	if (nt > mt * ntl)
		nt = mt * ntl;
	int tm = 1, tn = 1;
	thread_grid(nt, mt, ntl, &tm, &tn);
	int fail = 0;
#pragma omp parallel num_threads(tm * tn) if (tm * tn > 1)
	{
		int t = omp_get_thread_num(), nth = omp_get_num_threads();
		/* The runtime may give fewer threads than asked: fall back to one
		 * rectangle per thread in order (results do not change). */
		int gm = tm, gn = tn;
		if (nth != tm * tn)
			thread_grid(nth, mt, ntl, &gm, &gn);
		int ti = t / gn, tj = t % gn;
		int mt0 = (int)((long)mt * ti / gm), mt1 = (int)((long)mt * (ti + 1) / gm);
		int nt0 = (int)((long)ntl * tj / gn), nt1 = (int)((long)ntl * (tj + 1) / gn);
		int m0 = mt0 * d->mr, m1 = mt1 * d->mr < m ? mt1 * d->mr : m;
		int n0 = nt0 * d->nr, n1 = nt1 * d->nr < n ? nt1 * d->nr : n;
		int mine = m0 < m1 && n0 < n1;
		int ok = !(mine && d->buffers(d->path, k, m0, m1, n0, n1) < 0);
		int failed = !dm_par_all_ok(&fail, ok);
		if (mine && !failed)
			d->rect(d->path, g, m0, m1, n0, n1);
	}
	if (fail) /* out of memory for pack buffers: the plain loops, correct if slow */
		d->ref(g);
}

static int buffers32(const void *P, int k, int m0, int m1, int n0, int n1)
{
	return gemm_buffers(P, k, m0, m1, n0, n1);
}

static void rect32(const void *path, const gemm_args *g, int m0, int m1, int n0, int n1)
{
	const gemm_path *P = path;
	loop_ops L = {P->mr, P->nr, P->mc, P->nc, P->l2, slice_k(P, g->k), NULL, rows32, cols32,
	              a32, tile32};
	blis_loops(&L, P, g, m0, m1, n0, n1);
}

static void gemm_run(gemm_args g)
{
	gemm_path path = path_for(dm_simd());
	gemm_driver d = {&path, path.mr, path.nr, buffers32, rect32, ref_loops};
	gemm_drive(&d, &g);
}

/* The public entry points (fp32 and bf16 alike) are at the end of the
 * file, after the bf16 paths. */

/* ---- bf16 products with fp32 sums (dm_gemm_bf16) ---------------------
 *
 * The same loops and thread grid; each panel is packed in fp32 as above,
 * then rounded to bf16 (nn/bf16.h) into the layout of the path's kernel
 * (gemm_kernel.h), so a value is rounded once per packing whatever the
 * path.  K slices are a multiple of the kernel's K step (2, or 32 for the
 * tiles) except the last, which is zero-padded. */
typedef struct bf16_path {
	int mr, nr;     /* micro-tile */
	int kstep;      /* K padding of a panel */
	int amx_a;      /* A in blocks of 32 k (gemm_kernel.h) rather than pairs */
	int mc, kc, nc; /* cache blocks, as for fp32; kc in k (bf16 elements) */
	long l2;        /* L2 per core, floats */
	dm_gemm_bf16_ukernel kernel;
	dm_bf16_cvt_fn cvt; /* packing helpers (gemm_kernel.h) */
	dm_bf16_pairs_fn pairs;
} bf16_path;

static void cvt_portable(uint16_t *dst, const float *src, int n)
{
	for (int i = 0; i < n; i++)
		dst[i] = dm_bf16_from_f32(src[i]);
}

static void pairs_portable(uint16_t *dst, const float *r0, const float *r1, int n)
{
	for (int j = 0; j < n; j++) {
		dst[2 * j] = dm_bf16_from_f32(r0[j]);
		dst[2 * j + 1] = r1 ? dm_bf16_from_f32(r1[j]) : 0;
	}
}

/* One row per bf16 kernel.  kc: the B micro-panel (kc x nr bf16) about half
 * of a 48 KiB L1 (256 x 48 x 2 = 24 KiB; AMX 512 x 32 x 2 = 32 KiB); the
 * portable kernel uses avx512bf16's kc so that the two sum each element in
 * the same slices (bit-identical results).  Measured only on one Sapphire
 * Rapids class Xeon (bench_gemm); AVX512-BF16 on Zen 4 is unmeasured. */
static const bf16_path bf16_paths[] = {
	[DM_SIMD_SCALAR] = { DM_GEMM_BF16_SCALAR_MR, DM_GEMM_BF16_SCALAR_NR, 2, 0, 64, 256, 2048,
	                     512 * 1024, dm_gemm_bf16_ukernel_scalar, cvt_portable, pairs_portable },
	[DM_SIMD_AVX512BF16] = { DM_GEMM_AVX512BF16_MR, DM_GEMM_AVX512BF16_NR, 2, 0, 128, 256,
	                         3072, 512 * 1024, dm_gemm_ukernel_avx512bf16,
	                         dm_bf16_cvt_avx512bf16, dm_bf16_pairs_avx512bf16 },
	/* (AMX implies AVX512-BF16 here: cpu.c) */
	[DM_SIMD_AMX] = { DM_GEMM_AMX_MR, DM_GEMM_AMX_NR, 32, 1, 128, 512, 3072, 512 * 1024,
	                  dm_gemm_ukernel_amx, dm_bf16_cvt_avx512bf16, dm_bf16_pairs_avx512bf16 },
};

static _Thread_local uint16_t *pack_a16, *pack_b16, *tmp16;
static _Thread_local size_t pack_a16_cap, pack_b16_cap, tmp16_cap;

static uint16_t *grow16(uint16_t **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		free(*buf);
		size_t bytes = (n * sizeof(uint16_t) + 63) & ~(size_t)63;
		*buf = aligned_alloc(64, bytes);
		*cap = *buf ? n : 0;
	}
	return *buf;
}

static int kpad(const bf16_path *P, int kc)
{
	return (kc + P->kstep - 1) / P->kstep * P->kstep;
}

/* One fp32 panel (kc groups of w floats, as packed above) into blocks of
 * 32 k: dst[(c*w + i)*32 + t] = bf16(src[(32c+t)*w + i]). */
static void panel_rows32(const float *src, int w, int kc, int kp, uint16_t *dst)
{
	for (int c0 = 0; c0 < kp; c0 += 32)
		for (int i = 0; i < w; i++) {
			uint16_t *d = dst + ((size_t)c0 * w + (size_t)i * 32);
			for (int t = 0; t < 32; t++) {
				int p = c0 + t;
				d[t] = p < kc ? dm_bf16_from_f32(src[(size_t)p * w + i]) : 0;
			}
		}
}

static int gemm_buffers16(const bf16_path *P, int k, int m0, int m1, int n0, int n1)
{
	int mr = P->mr, nr = P->nr;
	size_t kcmax = (size_t)(k < P->kc ? k : P->kc);
	size_t kpmax = (size_t)kpad(P, (int)kcmax);
	int ncmax = n1 - n0 < P->nc ? n1 - n0 : P->nc;
	int mcmax = m1 - m0 < P->mc ? m1 - m0 : P->mc;
	size_t mcp = (size_t)((mcmax + mr - 1) / mr * mr), ncp = (size_t)((ncmax + nr - 1) / nr * nr);
	float *pa = grow(&pack_a, &pack_a_cap, kcmax * mcp);
	float *pb = grow(&pack_b, &pack_b_cap, kcmax * ncp);
	float *pr = grow(&brow_buf, &brow_cap, 2 * (size_t)ncmax);
	float *pk = grow(&kvec_buf, &kvec_cap, kcmax * (size_t)(mr > nr ? mr : nr));
	uint16_t *a16 = grow16(&pack_a16, &pack_a16_cap, kpmax * mcp);
	uint16_t *b16 = grow16(&pack_b16, &pack_b16_cap, kpmax * ncp);
	uint16_t *t16 = grow16(&tmp16, &tmp16_cap, kpmax * (size_t)(mr > nr ? mr : nr));
	return pa && pb && pr && pk && a16 && b16 && t16 ? 0 : -1;
}

/* Equal slices of at most KC, each a multiple of the K step but the last. */
static int slice_k16(const bf16_path *P, int k)
{
	int n = (k + P->kc - 1) / P->kc;
	return kpad(P, (k + n - 1) / n);
}

/* A partial or block-straddling tile through a scratch tile, as
 * edge_tile and split_tile do for fp32. */
static void edge_tile16(const bf16_path *P, const gemm_args *g, long kp, const uint16_t *a,
                        const uint16_t *b, int i0, int j0, int rows, int cols, float beta)
{
	_Alignas(64) float t[32 * 64];
	P->kernel(kp, a, b, t, P->nr, g->alpha, 0.0f);
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++) {
			float *cij = c_at(g, i0 + i, j0 + j);
			float v = t[i * P->nr + j];
			if (beta != 0.0f)
				v += beta * *cij;
			*cij = v;
		}
}

/* op(B) = B (or brow): two rows of K at a time into the pairs of every
 * panel of the slice, read once as contiguous runs. */
static void pack16_b_rows(const bf16_path *P, const gemm_args *g, int p0, int kc, int kp,
                          int j0, int nc, uint16_t *dst)
{
	int nr = P->nr;
	for (int q = 0; q < kp / 2; q++) {
		const float *r[2] = { NULL, NULL };
		for (int h = 0; h < 2; h++) {
			int p = 2 * q + h;
			if (p >= kc)
				break;
			if (g->brow) {
				float *buf = brow_buf + (size_t)h * nc;
				g->brow(g->ctx, p0 + p, j0, nc, buf);
				r[h] = buf;
			} else {
				r[h] = g->b + (long)(p0 + p) * g->ldb + j0;
			}
		}
		for (int jr = 0; jr < nc; jr += nr) {
			uint16_t *d = dst + (size_t)jr * kp + (size_t)q * nr * 2;
			int cols = nc - jr < nr ? nc - jr : nr;
			if (r[0])
				P->pairs(d, r[0] + jr, r[1] ? r[1] + jr : NULL, cols);
			else
				cols = 0;
			memset(d + 2 * cols, 0, (size_t)(nr - cols) * 2 * sizeof *d);
		}
	}
}

/* cnt (<= width) vectors along K (rows of op(A), columns of op(B)), each
 * rounded into tmp16 (kp each, zero tail), then their pairs interleaved
 * as 32-bit words by the fp32 transposing copy. */
static void pack16_kvecs(const bf16_path *P, const float *const *src, int cnt, int width,
                         int kc, int kp, uint16_t *dst)
{
	const float *w[64];
	for (int j = 0; j < cnt; j++) {
		uint16_t *t = tmp16 + (size_t)j * kp;
		P->cvt(t, src[j], kc);
		memset(t + kc, 0, (size_t)(kp - kc) * sizeof *t);
		w[j] = (const float *)(const void *)t;
	}
	interleave(w, cnt, width, kp / 2, (float *)(void *)dst);
}

/* op(B) given by columns (transb or bvec): one NR-wide panel. */
static void pack16_b_cols(const bf16_path *P, const gemm_args *g, int p0, int kc, int kp,
                          int j0, int cols, uint16_t *dst)
{
	const float *src[64];
	for (int j = 0; j < cols; j++) {
		if (g->bvec) {
			float *col = kvec_buf + (size_t)j * kc;
			g->bvec(g->bctx, j0 + j, p0, kc, col);
			src[j] = col;
		} else {
			src[j] = g->b + (long)(j0 + j) * g->ldb + p0;
		}
	}
	pack16_kvecs(P, src, cols, P->nr, kc, kp, dst);
}

/* One MR-tall panel of op(A) rows [i0, i0+rows), in the kernel's layout. */
static void pack16_a_panel(const bf16_path *P, const gemm_args *g, int i0, int rows, int p0,
                           int kc, int kp, uint16_t *dst)
{
	int mr = P->mr;
	if (g->transa && !g->avec) {
		if (P->amx_a) { /* A^T to rows of 32 k: through the fp32 panel */
			pack_a_block(g, mr, i0, rows, p0, kc, pack_a);
			panel_rows32(pack_a, mr, kc, kp, dst);
			return;
		}
		for (int q = 0; q < kp / 2; q++) {
			uint16_t *d = dst + (size_t)q * mr * 2;
			int n = 2 * q < kc ? rows : 0;
			if (n)
				P->pairs(d, g->a + (long)(p0 + 2 * q) * g->lda + i0,
				         2 * q + 1 < kc ? g->a + (long)(p0 + 2 * q + 1) * g->lda + i0 : NULL,
				         rows);
			memset(d + 2 * n, 0, (size_t)(mr - n) * 2 * sizeof *d);
		}
		return;
	}
	const float *src[64];
	for (int i = 0; i < rows; i++) {
		if (g->avec) {
			float *row = kvec_buf + (size_t)i * kc;
			g->avec(g->actx, i0 + i, p0, kc, row);
			src[i] = row;
		} else {
			src[i] = g->a + (long)(i0 + i) * g->lda + p0;
		}
	}
	if (!P->amx_a) {
		pack16_kvecs(P, src, rows, mr, kc, kp, dst);
		return;
	}
	for (int i = 0; i < mr; i++) { /* rows of 32 k per block */
		uint16_t *t = tmp16;
		if (i < rows) {
			P->cvt(t, src[i], kc);
			memset(t + kc, 0, (size_t)(kp - kc) * sizeof *t);
		} else {
			memset(t, 0, (size_t)kp * sizeof *t);
		}
		for (int c0 = 0; c0 < kp; c0 += 32)
			memcpy(dst + (size_t)c0 * mr + (size_t)i * 32, t + c0, 32 * sizeof *t);
	}
}

static void ref_loops16(const gemm_args *g)
{
	plain_loops(g, 1);
}

static int buffers16(const void *P, int k, int m0, int m1, int n0, int n1)
{
	return gemm_buffers16(P, k, m0, m1, n0, n1);
}

/* ---- the bf16 operands of blis_loops ---- */

static int kpad16(const void *P, int kc)
{
	return kpad(P, kc);
}

static void rows16(const void *P, const gemm_args *g, int pc, int kc, int kp, int jc, int nc)
{
	pack16_b_rows(P, g, pc, kc, kp, jc, nc, pack_b16);
}

static void cols16(const void *P, const gemm_args *g, int pc, int kc, int kp, int jr, int j,
                   int cols)
{
	pack16_b_cols(P, g, pc, kc, kp, j, cols, pack_b16 + (size_t)jr * kp);
}

static void a16(const void *path, const gemm_args *g, int ic, int mc, int pc, int kc, int kp)
{
	const bf16_path *P = path;
	for (int ir = 0; ir < mc; ir += P->mr)
		pack16_a_panel(P, g, ic + ir, mc - ir < P->mr ? mc - ir : P->mr, pc, kc, kp,
		               pack_a16 + (size_t)ir * kp);
}

static void tile16(const void *path, const gemm_args *g, int kp, int ir, int jr, int i, int j,
                   int rows, int cols, float beta)
{
	const bf16_path *P = path;
	const uint16_t *ap = pack_a16 + (size_t)ir * kp, *bp = pack_b16 + (size_t)jr * kp;
	int straddle = g->cblk > 0 && j % g->cblk + cols > g->cblk;
	if (rows == P->mr && cols == P->nr && !straddle)
		P->kernel(kp, ap, bp, c_at(g, i, j), g->ldc, g->alpha, beta);
	else
		edge_tile16(P, g, kp, ap, bp, i, j, rows, cols, beta);
}

static void rect16(const void *path, const gemm_args *g, int m0, int m1, int n0, int n1)
{
	const bf16_path *P = path;
	loop_ops L = {P->mr, P->nr, P->mc, P->nc, P->l2, slice_k16(P, g->k), kpad16, rows16,
	              cols16, a16, tile16};
	blis_loops(&L, P, g, m0, m1, n0, n1);
}

static void gemm_run16(gemm_args g)
{
	const bf16_path *P = &bf16_paths[dm_simd_bf16()];
	gemm_driver d = {P, P->mr, P->nr, buffers16, rect16, ref_loops16};
	gemm_drive(&d, &g);
}

/* ---- entry points ------------------------------------------------------ */

static void run_prec(int prec, gemm_args g)
{
	if (prec == DM_PREC_BF16)
		gemm_run16(g);
	else
		gemm_run(g);
}

void dm_sgemm(int transa, int transb, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	dm_gemm_prec(DM_PREC_FP32, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dm_sgemm_brows(int transa, int m, int n, int k, float alpha, const float *a, int lda,
                    dm_gemm_brow_fn brow, const void *ctx, float beta, float *c, int ldc,
                    int cblk, long cstride)
{
	dm_gemm_prec_brows(DM_PREC_FP32, transa, m, n, k, alpha, a, lda, brow, ctx, beta, c, ldc,
	                   cblk, cstride);
}

void dm_sgemm_kvec(int m, int n, int k, float alpha, dm_gemm_kvec_fn avec, const void *actx,
                   dm_gemm_kvec_fn bvec, const void *bctx, float beta, float *c, int ldc)
{
	dm_gemm_prec_kvec(DM_PREC_FP32, m, n, k, alpha, avec, actx, bvec, bctx, beta, c, ldc);
}

void dm_gemm_bf16(int transa, int transb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	dm_gemm_prec(DM_PREC_BF16, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dm_gemm_bf16_brows(int transa, int m, int n, int k, float alpha, const float *a, int lda,
                        dm_gemm_brow_fn brow, const void *ctx, float beta, float *c, int ldc,
                        int cblk, long cstride)
{
	dm_gemm_prec_brows(DM_PREC_BF16, transa, m, n, k, alpha, a, lda, brow, ctx, beta, c, ldc,
	                   cblk, cstride);
}

void dm_gemm_bf16_kvec(int m, int n, int k, float alpha, dm_gemm_kvec_fn avec,
                       const void *actx, dm_gemm_kvec_fn bvec, const void *bctx, float beta,
                       float *c, int ldc)
{
	dm_gemm_prec_kvec(DM_PREC_BF16, m, n, k, alpha, avec, actx, bvec, bctx, beta, c, ldc);
}

const char *dm_precision_name(int prec)
{
	static const char *const names[] = { "fp32", "bf16" };
	return prec >= DM_PREC_FP32 && prec <= DM_PREC_BF16 ? names[prec] : NULL;
}

void dm_gemm_prec(int prec, int transa, int transb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc)
{
	gemm_args g = { transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL,
		        NULL, NULL, NULL, NULL, 0, 0 };
	run_prec(prec, g);
}

void dm_gemm_prec_brows(int prec, int transa, int m, int n, int k, float alpha, const float *a,
                        int lda, dm_gemm_brow_fn brow, const void *ctx, float beta, float *c,
                        int ldc, int cblk, long cstride)
{
	if (cblk <= 0 || cblk >= n)
		cblk = 0;
	gemm_args g = { transa, 0, m, n, k, alpha, a, lda, NULL, 0, beta, c, ldc, brow, ctx,
		        NULL, NULL, NULL, NULL, cblk, cstride };
	run_prec(prec, g);
}

void dm_gemm_prec_kvec(int prec, int m, int n, int k, float alpha, dm_gemm_kvec_fn avec,
                       const void *actx, dm_gemm_kvec_fn bvec, const void *bctx, float beta,
                       float *c, int ldc)
{
	gemm_args g = { 0, 0, m, n, k, alpha, NULL, 0, NULL, 0, beta, c, ldc, NULL, NULL,
		        avec, bvec, actx, bctx, 0, 0 };
	run_prec(prec, g);
}

void dm_gemm_bf16_ref(int transa, int transb, int m, int n, int k, float alpha,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc)
{
	gemm_args g = { transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL,
		        NULL, NULL, NULL, NULL, 0, 0 };
	if (m > 0 && n > 0)
		ref_loops16(&g);
}

void dm_sgemm_ref(int transa, int transb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0.0;
			for (int p = 0; p < k; p++) {
				double x = transa ? a[(long)p * lda + i] : a[(long)i * lda + p];
				double y = transb ? b[(long)j * ldb + p] : b[(long)p * ldb + j];
				s += x * y;
			}
			float *cij = &c[(long)i * ldc + j];
			*cij = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cij));
		}
}
