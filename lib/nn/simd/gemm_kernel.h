/* gemm_kernel.h - the micro-kernels under dm_sgemm (internal to libdm).
 *
 * A micro-kernel multiplies one packed MR x kc panel of A by one packed
 * kc x NR panel of B and updates a full MR x NR tile of C (row-major,
 * row stride ldc):
 *
 *     C = alpha * (A B) + beta * C       (beta == 0: C is not read)
 *
 * The panels are laid out as the driver packs them: A as kc columns of MR
 * contiguous floats, B as kc rows of NR contiguous floats, both 64-byte
 * aligned.  The sum over kc is accumulated in the order p = 0, 1, ...
 * and the update is computed as (alpha*ab) + (beta*c) with each product
 * rounded separately, exactly as the driver does for edge tiles.  This is
 * the only ISA-specific code of the GEMM. */
#ifndef DM_GEMM_KERNEL_H
#define DM_GEMM_KERNEL_H

typedef void (*dm_gemm_ukernel)(long kc, const float *a, const float *b, float *c, long ldc,
                                float alpha, float beta);
/* The same for the first `rows` (1 <= rows <= MR) rows of the tile only
 * (full NR columns): the partial last row panel, without a scratch tile. */
typedef void (*dm_gemm_ukernel_rows)(int rows, long kc, const float *a, const float *b,
                                     float *c, long ldc, float alpha, float beta);

/* Tile sizes are fixed per kernel; the block-size table is in gemm.c. */
#define DM_GEMM_SCALAR_MR 4
#define DM_GEMM_SCALAR_NR 8
#define DM_GEMM_AVX2_MR 6
#define DM_GEMM_AVX2_NR 16
#define DM_GEMM_AVX512_MR 8
#define DM_GEMM_AVX512_NR 48

void dm_gemm_ukernel_scalar(long kc, const float *a, const float *b, float *c, long ldc,
                            float alpha, float beta);
void dm_gemm_ukernel_avx2(long kc, const float *a, const float *b, float *c, long ldc,
                          float alpha, float beta);
void dm_gemm_ukernel_avx2_rows(int rows, long kc, const float *a, const float *b, float *c,
                               long ldc, float alpha, float beta);
void dm_gemm_ukernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            float alpha, float beta);

#endif
