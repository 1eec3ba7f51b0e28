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

/* ---- bf16 products, fp32 sums (dm_gemm_bf16) ------------------------
 *
 * The same contract on panels of bf16 (nn/bf16.h), kp deep (kc rounded up
 * to the kernel's K step, the tail zero):
 *   pairs (scalar, avx512bf16): A as kp/2 groups of MR pairs, a[(q*MR + i)*2
 *     + r] = op(A)[i][2q + r]; B as kp/2 groups of NR pairs, b[(q*NR + j)*2
 *     + r] = op(B)[2q + r][j] -- the pairs vdpbf16ps multiplies in one
 *     32-bit lane;
 *   amx: B as for pairs (the "VNNI" layout of a B tile); A as kp/32 blocks of
 *     MR rows of 32 consecutive k, a[(c*MR + i)*32 + t] = op(A)[i][32c + t],
 *     so that 16 rows of a block are one A tile.
 * Sum order (scalar and avx512bf16, bit-identical): for q = 0, 1, ...
 * acc += a[2q+1] b[2q+1], then acc += a[2q] b[2q], each addition rounded
 * to fp32 (nearest even), denormal results flushed to zero -- the order and
 * rounding of vdpbf16ps (checked against the instruction on this CPU class
 * by tests/unit/nn/test_bf16.c).  The AMX unit sums in its own order. */
#include <stddef.h>
#include <stdint.h>

typedef void (*dm_gemm_bf16_ukernel)(long kp, const uint16_t *a, const uint16_t *b, float *c,
                                     long ldc, float alpha, float beta);

#define DM_GEMM_BF16_SCALAR_MR 4
#define DM_GEMM_BF16_SCALAR_NR 16
#define DM_GEMM_AVX512BF16_MR 8
#define DM_GEMM_AVX512BF16_NR 48
#define DM_GEMM_AMX_MR 32
#define DM_GEMM_AMX_NR 32

/* Packing helpers of the bf16 paths (portable in gemm.c, AVX512-BF16 with
 * vcvtneps2bf16, which rounds as nn/bf16.h does):
 *   cvt:   dst[i] = bf16(src[i]), i < n;
 *   pairs: dst[2j] = bf16(r0[j]), dst[2j+1] = bf16(r1[j]) (0 when r1 is
 *          NULL), j < n -- two rows of K into one row of pairs. */
typedef void (*dm_bf16_cvt_fn)(uint16_t *dst, const float *src, int n);
typedef void (*dm_bf16_pairs_fn)(uint16_t *dst, const float *r0, const float *r1, int n);
void dm_bf16_cvt_avx512bf16(uint16_t *dst, const float *src, int n);
void dm_bf16_pairs_avx512bf16(uint16_t *dst, const float *r0, const float *r1, int n);
/* dst[i] = dm_bf16_round(src[i]) (nn/bf16.h) as floats, i < n: the bf16
 * operand of an fp32 kernel (conv.c's rounding route). */
void dm_bf16_round_copy_avx512bf16(float *dst, const float *src, size_t n);

void dm_gemm_bf16_ukernel_scalar(long kp, const uint16_t *a, const uint16_t *b, float *c,
                                 long ldc, float alpha, float beta);
void dm_gemm_ukernel_avx512bf16(long kp, const uint16_t *a, const uint16_t *b, float *c,
                                long ldc, float alpha, float beta);
/* Loads the tile configuration of the AMX kernels (eight tiles of 16 rows
 * of 64 bytes) on the calling thread, once. */
void dm_amx_configure(void);
void dm_gemm_ukernel_amx(long kp, const uint16_t *a, const uint16_t *b, float *c, long ldc,
                         float alpha, float beta);

#endif
