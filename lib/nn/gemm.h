/* gemm.h - single-precision matrix multiply, the engine under every layer.
 *
 *   C = alpha * op(A) * op(B) + beta * C
 *
 * Row-major.  op(A) is M x K (A is M x K with lda >= K, or K x M with
 * lda >= M when transa), op(B) is K x N (B is K x N with ldb >= N, or
 * N x K with ldb >= K when transb), C is M x N with ldc >= N.  beta == 0
 * means C is written without being read (NaNs in C do not propagate).
 *
 * Blocked and packed (BLIS-style) with a register-blocked micro-kernel per
 * SIMD path (see cpu.h), parallel with OpenMP.  Determinism: every element
 * of C is summed over K in the same order whatever the number of threads,
 * so results are bit-identical for any thread count on the same SIMD path.
 */
#ifndef DM_GEMM_H
#define DM_GEMM_H

void dm_sgemm(int transa, int transb, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* The same with op(B) produced on the fly, row by row, as the driver packs
 * it: brow(ctx, p, j0, n, out) writes op(B)[p][j0 .. j0+n) to out.  This
 * is how a convolution runs as an implicit GEMM, im2col fused into the
 * packing (conv.c).  brow is called from several threads at once with
 * disjoint out buffers; it must not write anything else.
 * C's columns may come in blocks: with 0 < cblk < n, column j of C is
 * column j % cblk of the block that starts at c + (j / cblk) * cstride
 * (rows ldc apart within a block), e.g. a batch of NCHW images seen as one
 * Cout x (B*H*W) matrix: cblk = H*W, cstride = Cout*H*W, ldc = H*W.
 * cblk <= 0 means plain.  Same contract otherwise (including bit-identical
 * results for any thread count). */
typedef void (*dm_gemm_brow_fn)(const void *ctx, int p, int j0, int n, float *out);
void dm_sgemm_brows(int transa, int m, int n, int k, float alpha, const float *a, int lda,
                    dm_gemm_brow_fn brow, const void *ctx, float beta, float *c, int ldc,
                    int cblk, long cstride);

/* The same with both operands given along K: avec(actx, i, p0, kc, out)
 * writes op(A)[i][p0 .. p0+kc) and bvec(bctx, j, p0, kc, out) writes
 * op(B)[p0 .. p0+kc)[j], each to out (contiguous).  For products whose K
 * runs over a whole batch, e.g. a convolution's weight gradient (conv.c).
 * Same threading rules as brow; same contract otherwise. */
typedef void (*dm_gemm_kvec_fn)(const void *ctx, int idx, int p0, int kc, float *out);
void dm_sgemm_kvec(int m, int n, int k, float alpha, dm_gemm_kvec_fn avec, const void *actx,
                   dm_gemm_kvec_fn bvec, const void *bctx, float beta, float *c, int ldc);

/* The plain triple loop (double accumulation), the reference for tests. */
void dm_sgemm_ref(int transa, int transb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* The precision of a layer's products: fp32 throughout, or bf16 operands
 * with fp32 sums (the functions below).  fp32 is the default everywhere. */
enum dm_precision { DM_PREC_FP32 = 0, DM_PREC_BF16 = 1 };
/* "fp32", "bf16"; NULL outside the range (the tools' --precision table). */
const char *dm_precision_name(int prec);

/* bf16 products with fp32 sums (mixed precision): the same as dm_sgemm,
 * dm_sgemm_brows and dm_sgemm_kvec with every element of op(A) and op(B)
 * rounded to bfloat16 as it is packed (nn/bf16.h: nearest even, as
 * vcvtneps2bf16) and the products summed in fp32.  alpha, beta and C stay
 * fp32.  The kernel is the chosen path's (cpu.h, dm_simd_bf16): AMX tiles,
 * AVX512-BF16, or the portable one, which sums and rounds exactly as
 * vdpbf16ps does (so those two give bit-identical results; AMX sums in its
 * own order).  Bit-identical for any thread count on one path. */
void dm_gemm_bf16(int transa, int transb, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);
void dm_gemm_bf16_brows(int transa, int m, int n, int k, float alpha, const float *a, int lda,
                        dm_gemm_brow_fn brow, const void *ctx, float beta, float *c, int ldc,
                        int cblk, long cstride);
void dm_gemm_bf16_kvec(int m, int n, int k, float alpha, dm_gemm_kvec_fn avec,
                       const void *actx, dm_gemm_kvec_fn bvec, const void *bctx, float beta,
                       float *c, int ldc);
/* dm_sgemm or dm_gemm_bf16 (and the callback forms) by precision. */
void dm_gemm_prec(int prec, int transa, int transb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc);
void dm_gemm_prec_brows(int prec, int transa, int m, int n, int k, float alpha, const float *a,
                        int lda, dm_gemm_brow_fn brow, const void *ctx, float beta, float *c,
                        int ldc, int cblk, long cstride);
void dm_gemm_prec_kvec(int prec, int m, int n, int k, float alpha, dm_gemm_kvec_fn avec,
                       const void *actx, dm_gemm_kvec_fn bvec, const void *bctx, float beta,
                       float *c, int ldc);
/* The triple loop on the bf16-rounded operands, summed in double: the
 * reference for the bf16 tests (exact products, one rounding at the end). */
void dm_gemm_bf16_ref(int transa, int transb, int m, int n, int k, float alpha,
                      const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc);

#endif
