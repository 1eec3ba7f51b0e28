/* conv_kernel.h - the direct-convolution micro-kernels under conv.c
 * (internal to libdm; the portable route is im2col + dm_sgemm).
 *
 * Forward: c[i][0..NR) = sum over p < K of a[p*MR + i] * b[boff[p] + 0..NR)
 * for i < rows, with a an MR-row panel of weights (K columns of MR floats)
 * and b a zero-padded input whose rows of taps lie at the offsets boff
 * (unaligned, NR floats readable at each).  C is written, not read.
 *
 * Weight gradient: c[i][0..W) += sum over q < Q of arow[i][q] * b[q*W +
 * 0..W) for i < rows, with W the tile's width in output channels (16 for
 * AVX2, 16*nv for AVX-512) and b 64-byte aligned.
 *
 * The sums over p and q run in order, one FMA per term, in every kernel. */
#ifndef DM_CONV_KERNEL_H
#define DM_CONV_KERNEL_H

#define DM_CONV_AVX2_MR 6
#define DM_CONV_AVX2_NR 16
#define DM_CONV_AVX512_MR 12
#define DM_CONV_AVX512_NR 32

void dm_conv_ukernel_avx2(int rows, long K, const float *a, const float *b, const int *boff,
                          float *c, long ldc);
void dm_convw_ukernel_avx2(int rows, long Q, const float *const *arow, const float *b, float *c,
                           long ldc);

void dm_conv_ukernel_avx512(int rows, long K, const float *a, const float *b, const int *boff,
                            float *c, long ldc);
/* Where the forward kernel's results go when it stores them in place: for
 * each zmm v of the tile's positions, the lanes that are outputs (mask) and
 * the output index of the first of them (off); the kept lanes of row i are
 * consecutive outputs, written at c + i*ldc + off[v] as sum + bias[i]
 * (bias may be NULL) or, with accumulate, added to c. */
typedef struct dm_conv_store {
	int off[4];
	unsigned short mask[4];
} dm_conv_store;
void dm_conv_ukernel_avx512_st(int rows, long K, const float *a, const float *b, const int *boff,
                               float *c, long ldc, const dm_conv_store *st, const float *bias,
                               int accumulate);
/* nv = 1..4 zmm of output channels; rows <= dm_convw_avx512_rows(nv). */
void dm_convw_ukernel_avx512(int rows, int nv, long Q, const float *const *arow, const float *b,
                             float *c, long ldc);
int dm_convw_avx512_rows(int nv);
/* dout of one image (Cout x Ho x Wo, Cout a multiple of nr) into the
 * weight-gradient layout dt[Cout/nr][Ho*Wp][nr] (output column ow of row
 * oh at position oh*Wp + ow; the other columns are left as they are), and
 * bacc[o] += the sum of channel o over the positions in order, in double. */
void dm_convw_pack_avx512(float *dt, double *bacc, const float *dy, int Cout, int Ho, int Wo,
                          int Wp, int nr);

/* bf16 on AMX tiles (conv_amx.c), k = 3 (stride 1, padding 1) or k = 1
 * (stride 1, no padding), Cin and Cout multiples of 32; the operands rounded to bf16 as nn/bf16.h does, the
 * sums in fp32.  Forward: out = conv(in, weight) + bias (bias may be NULL),
 * or with accumulate out += conv(in, weight); with transposed the weights
 * are read as Cin x Cout x k x k (this call's Cin, Cout) and flipped, which
 * makes the call the input gradient of a convolution with those weights.
 * Weight gradient: dweight (Cout x Cin x k x k) += dL/dweight.  Both return
 * -1, having written nothing, when out of memory; the caller has chosen
 * the AMX path (cpu.h) so the tiles are permitted. */
int dm_conv3_amx_forward(float *out, const float *in, const float *weight, const float *bias,
                         int B, int Cin, int H, int W, int Cout, int k, int transposed,
                         int accumulate);
int dm_conv3_amx_backward_weight(float *dweight, const float *dout, const float *in, int B,
                                 int Cin, int H, int W, int Cout, int k);

#endif
