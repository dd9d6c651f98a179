/* Hand-written reference for bench_native's MLP step: the arithmetic limit autograd-lite's
 * native replay is measured against (issue "native replay at the arithmetic limit").
 *
 * One step of MLP(2, [16, 16, 1]) (relu or tanh hidden units, linear output) on n rows:
 * hinge terms relu(1 - t * y) summed over the rows (Python's sum), times 1/n, plus
 * alpha * sum p*p; the parameter gradients of that loss; SGD p -= lr * g. Rows travel in SIMD
 * lanes (GCC vector types: 2 rows with SSE2, 4 with AVX2, 8 with AVX-512F, chosen at run time);
 * every lane does the generated code's operations in the generated code's order, and the
 * parameter gradients are added over the rows in row order, so the loss and the parameters
 * after a step are bit-equal to autograd-lite's compiled step (checked by bench_native_limits.py).
 *
 * Build: cc -O2 -shared -fPIC -ffp-contract=off -fno-fast-math reference_mlp.c -lm
 * (no -march: each instruction set's code is selected by target attributes and cpuid).
 * Parameters in nn.MLP's order: layer by layer, neuron by neuron, weights then bias.
 * Floating-point exceptions are cleared once per call and tested once at its end (the
 * library tests them per row or per block; here they are only reported, in *fe).
 */
#include <fenv.h>
#include <math.h>

#define NIN 2
#define H1 16
#define H2 16
#define L1 0
#define L2 (H1 * (NIN + 1))
#define L3 (L2 + H2 * (H1 + 1))
#define NP (L3 + H2 + 1)

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#define SUF generic
#define LANES 2
#define TARGET
#include "reference_mlp_body.h"
#undef SUF
#undef LANES
#undef TARGET

#if defined(__x86_64__) && defined(__GNUC__)
#define SUF avx2
#define LANES 4
#define TARGET __attribute__((target("avx2")))
#include "reference_mlp_body.h"
#undef SUF
#undef LANES
#undef TARGET

#define SUF avx512
#define LANES 8
#define TARGET __attribute__((target("avx512f")))
#include "reference_mlp_body.h"
#undef SUF
#undef LANES
#undef TARGET
#endif

typedef double (*step_fn)(long, const double *, const double *, double *, double *, double,
                          double, int);

/* Rows per block this machine supports best: 8 (AVX-512F), 4 (AVX2) or 2. */
int ref_best_lanes(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 8;
    if (__builtin_cpu_supports("avx2")) return 4;
#endif
    return 2;
}

int ref_n_params(void) { return NP; }

static step_fn pick(int lanes, int act_tanh) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (lanes == 8) return act_tanh ? step_tanh_avx512 : step_relu_avx512;
    if (lanes == 4) return act_tanh ? step_tanh_avx2 : step_relu_avx2;
#endif
    if (lanes == 2) return act_tanh ? step_tanh_generic : step_relu_generic;
    return 0;
}

/* `reps` SGD steps on the same rows (parameters P updated in place each step); returns the
 * last step's loss. lanes: 0 = best for this machine; act_tanh: tanh hidden units, else relu;
 * neumaier: Python >= 3.12's compensated sum() for the loss value. *fe: the IEEE flags
 * (invalid, divide-by-zero, overflow) raised during the call. PG: NP doubles of scratch (the
 * last step's summed gradients). Returns NAN with *fe = -1 for an unsupported lane count. */
double ref_steps(long reps, int lanes, int act_tanh, long n, const double *X, const double *Y,
                 double *P, double *PG, double lr, double alpha, int neumaier, int *fe) {
    step_fn f = pick(lanes ? lanes : ref_best_lanes(), act_tanh);
    if (!f || (lanes > 2 && lanes > ref_best_lanes())) {
        *fe = -1;
        return NAN;
    }
    double loss = 0.0;
    feclearexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
    for (long i = 0; i < reps; i++) loss = f(n, X, Y, P, PG, lr, alpha, neumaier);
    *fe = fetestexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
    return loss;
}
