/* Tests of lib/nn/conv3d.c against a direct double-precision 3-D
 * convolution written here (zero padding 1 in T, H, W; stride in H, W).
 * Gradients: L = sum(r * out) is linear in each of in, weight and bias, so
 * the central differences of the double reference (h = 1e-3) are exact to
 * rounding, ~1e-12; dm's float backward must match them within
 * 1e-4 (1 + |g|).  Shapes are odd (B 2, T 3, Cin 2, Cout 3, 5 x 4 frames),
 * with stride 1 and 2, and T 1 (only the centre slice of the kernel
 * meets a frame); buffers start at 0.5 to check that gradients accumulate. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/conv3d.h"
#include "harness.h"

static uint64_t st = 4242;
static double urand(void)
{
	st = st * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(st >> 11) / 9007199254740992.0;
}

typedef struct shape {
	int B, T, Ci, Co, H, W, s, Ho, Wo;
} shape;

/* L = sum r * conv3d(in, w, b), frame-major, in double */
static double ref(const shape *z, const double *in, const double *w, const double *b,
                  const double *r)
{
	double L = 0;
	for (int bb = 0; bb < z->B; bb++)
		for (int t = 0; t < z->T; t++)
			for (int o = 0; o < z->Co; o++)
				for (int y = 0; y < z->Ho; y++)
					for (int x = 0; x < z->Wo; x++) {
						double a = b[o];
						for (int i = 0; i < z->Ci; i++)
							for (int dt = 0; dt < 3; dt++)
								for (int dy = 0; dy < 3; dy++)
									for (int dx = 0; dx < 3;
									     dx++) {
										int tt = t + dt - 1,
										    yy = y * z->s +
										         dy - 1,
										    xx = x * z->s +
										         dx - 1;
										if (tt < 0 ||
										    tt >= z->T ||
										    yy < 0 ||
										    yy >= z->H ||
										    xx < 0 ||
										    xx >= z->W)
											continue;
										a +=
										    in[((((size_t)bb *
										              z->T +
										          tt) *
										             z->Ci +
										         i) *
										            z->H +
										        yy) *
										           z->W +
										       xx] *
										    w[(((size_t)o *
										            z->Ci +
										        i) *
										           3 +
										       dt) *
										          9 +
										      dy * 3 + dx];
									}
						L += a * r[((((size_t)bb * z->T + t) * z->Co + o) *
						                z->Ho +
						            y) *
						               z->Wo +
						           x];
					}
	return L;
}

static void run(int T, int stride)
{
	shape z = {2, T, 2, 3, 5, 4, stride, 0, 0};
	z.Ho = dm_conv2d_out_size(z.H, 3, stride, 1), z.Wo = dm_conv2d_out_size(z.W, 3, stride, 1);
	size_t ni = (size_t)z.B * T * z.Ci * z.H * z.W, no = (size_t)z.B * T * z.Co * z.Ho * z.Wo;
	size_t nw = (size_t)z.Co * z.Ci * 27;
	double *in = malloc(ni * sizeof *in), *w = malloc(nw * sizeof *w), b[3],
	       *r = malloc(no * sizeof *r);
	float *fi = malloc(ni * 4), *fw = malloc(nw * 4), fb[3], *fr = malloc(no * 4),
	      *out = malloc(no * 4);
	float *gi = malloc(ni * 4), *gw = malloc(nw * 4), gb[3];
	for (size_t i = 0; i < ni; i++)
		in[i] = fi[i] = (float)(2 * urand() - 1);
	for (size_t i = 0; i < nw; i++)
		w[i] = fw[i] = (float)(2 * urand() - 1);
	for (int i = 0; i < 3; i++)
		b[i] = fb[i] = (float)(2 * urand() - 1);
	for (size_t i = 0; i < no; i++)
		r[i] = fr[i] = (float)(2 * urand() - 1);
	size_t ws = dm_conv2d_workspace(z.Ci, z.H, z.W, z.Co, 3, 3, stride, 1);
	float *wsb = malloc((ws + 1) * 4);
	float *scr = malloc(dm_conv3d_scratch(T, z.Ci, z.Co, z.Ho, z.Wo, 3, 3) * 4);
	/* forward: L of dm's output against the reference's */
	dm_conv3d_forward(0, out, fi, fw, fb, z.B, T, z.Ci, z.H, z.W, z.Co, 3, 3, 3, stride, 1, wsb,
	                  scr);
	double L = 0;
	for (size_t i = 0; i < no; i++)
		L += (double)out[i] * r[i];
	double Lr = ref(&z, in, w, b, r);
	CHECK_MSG(fabs(L - Lr) < 1e-4 * (1 + fabs(Lr)), "T %d stride %d: L %.9g, reference %.9g", T,
	          stride, L, Lr);
	for (size_t i = 0; i < ni; i++)
		gi[i] = 0.5f;
	for (size_t i = 0; i < nw; i++)
		gw[i] = 0.5f;
	gb[0] = gb[1] = gb[2] = 0.5f;
	dm_conv3d_backward_weight(0, gw, gb, fr, fi, z.B, T, z.Ci, z.H, z.W, z.Co, 3, 3, 3, stride,
	                          1, wsb, scr);
	dm_conv3d_backward_input(0, gi, fr, fw, z.B, T, z.Ci, z.H, z.W, z.Co, 3, 3, 3, stride, 1, 1,
	                         wsb, scr);
	double *xs[3] = {in, w, b};
	float *gs[3] = {gi, gw, gb};
	size_t ns[3] = {ni, nw, 3};
	const char *names[3] = {"input", "weight", "bias"};
	for (int k = 0; k < 3; k++) {
		int bad = 0;
		for (size_t i = 0; i < ns[k]; i += k == 0 ? 3 : 1) {
			double x0 = xs[k][i], h = 1e-3;
			xs[k][i] = x0 + h;
			double lp = ref(&z, in, w, b, r);
			xs[k][i] = x0 - h;
			double lm = ref(&z, in, w, b, r);
			xs[k][i] = x0;
			double fd = (lp - lm) / (2 * h), g = gs[k][i] - 0.5;
			bad += fabs(g - fd) > 1e-4 * (1 + fabs(fd));
		}
		CHECK_MSG(bad == 0, "T %d stride %d: %d %s gradients off", T, stride, bad,
		          names[k]);
	}
	/* 1 vs 2 threads, bit for bit */
	float *o2 = malloc(no * 4), *gi2 = malloc(ni * 4), *gw2 = malloc(nw * 4),
	      gb2[3] = {0.5f, 0.5f, 0.5f};
	for (size_t i = 0; i < ni; i++)
		gi2[i] = 0.5f;
	for (size_t i = 0; i < nw; i++)
		gw2[i] = 0.5f;
	int threads = omp_get_max_threads();
	omp_set_num_threads(threads > 1 ? 1 : 2);
	dm_conv3d_forward(0, o2, fi, fw, fb, z.B, T, z.Ci, z.H, z.W, z.Co, 3, 3, 3, stride, 1, wsb,
	                  scr);
	dm_conv3d_backward_weight(0, gw2, gb2, fr, fi, z.B, T, z.Ci, z.H, z.W, z.Co, 3, 3, 3,
	                          stride, 1, wsb, scr);
	dm_conv3d_backward_input(0, gi2, fr, fw, z.B, T, z.Ci, z.H, z.W, z.Co, 3, 3, 3, stride, 1,
	                         1, wsb, scr);
	omp_set_num_threads(threads);
	CHECK(memcmp(out, o2, no * 4) == 0 && memcmp(gi, gi2, ni * 4) == 0);
	CHECK(memcmp(gw, gw2, nw * 4) == 0 && memcmp(gb, gb2, sizeof gb) == 0);
	free(in), free(w), free(r), free(fi), free(fw), free(fr), free(out), free(gi), free(gw);
	free(wsb), free(scr), free(o2), free(gi2), free(gw2);
}

TEST(conv3d_matches_double_reference_and_fd)
{
	run(3, 1);
}
TEST(conv3d_stride2_matches_double_reference_and_fd)
{
	run(3, 2);
}
TEST(conv3d_one_frame_is_the_centre_slice)
{
	run(1, 1);
}
