/* One SGD step of bench_native's MLP(2, [16, 16, 1]) over rows in SIMD lanes: the body,
 * included by reference_mlp.c once per instruction set with SUF (name suffix), LANES (rows
 * per block) and TARGET (a function attribute) defined. See reference_mlp.c for the contract. */

#define V CAT(vd_, SUF)
#define VL CAT(vl_, SUF)
typedef double V __attribute__((vector_size(8 * LANES), aligned(8 * LANES)));
typedef long long VL __attribute__((vector_size(8 * LANES), aligned(8 * LANES)));

/* (z < 0.0 ? 0.0 : z): relu's forward as the generated code writes it (-0.0 stays -0.0). */
static inline __attribute__((always_inline)) TARGET V CAT(relu_, SUF)(V z) {
    const V zero = {0};
    return (V)((VL)z & ~(VL)(z < zero));
}

/* (z <= 0.0 ? 0.0 : g * 1.0): relu's masked local gradient (g * 1.0 is g, bit for bit). */
static inline __attribute__((always_inline)) TARGET V CAT(relu_grad_, SUF)(V z, V g) {
    const V zero = {0};
    return (V)((VL)g & ~(VL)(z <= zero));
}

/* tanh lane by lane with the C library's tanh, the function the generated code calls. */
static inline __attribute__((always_inline)) TARGET V CAT(tanh_, SUF)(V z) {
    V h;
    for (int l = 0; l < LANES; l++) h[l] = tanh(z[l]);
    return h;
}

static inline __attribute__((always_inline)) TARGET double CAT(body_, SUF)(
        long n, const double *restrict X, const double *restrict Y, double *restrict P,
        double *restrict PG, double lr, double alpha, int neumaier, const int act_tanh) {
    V G[NP];                 /* this block's per-row parameter gradients, lane l = row r0 + l */
    V z1[H1], h1[H1], g1[H1], z2[H2], h2[H2], g2[H2];
    const double scale = 1.0 / (double)n;
    double vsum = 0.0, comp = 0.0;
    for (int j = 0; j < NP; j++) PG[j] = 0.0;
    for (long r0 = 0; r0 < n; r0 += LANES) {
        const int valid = n - r0 < LANES ? (int)(n - r0) : LANES;
        V x0 = {0}, x1 = {0}, t = {0};  /* missing rows of the last block: zeros, not added */
        for (int l = 0; l < valid; l++) {
            x0[l] = X[2 * (r0 + l)];
            x1[l] = X[2 * (r0 + l) + 1];
            t[l] = Y[r0 + l];
        }
        /* forward: b + w0 x0 + w1 x1 ..., from the bias, inputs in order */
        for (int j = 0; j < H1; j++) {
            const double *w = P + L1 + j * (NIN + 1);
            V z = w[NIN] + w[0] * x0;
            z = z + w[1] * x1;
            z1[j] = z;
            h1[j] = act_tanh ? CAT(tanh_, SUF)(z) : CAT(relu_, SUF)(z);
        }
        for (int k = 0; k < H2; k++) {
            const double *w = P + L2 + k * (H1 + 1);
            V z = w[H1] + w[0] * h1[0];
            for (int i = 1; i < H1; i++) z = z + w[i] * h1[i];
            z2[k] = z;
            h2[k] = act_tanh ? CAT(tanh_, SUF)(z) : CAT(relu_, SUF)(z);
        }
        const double *w3 = P + L3;
        V y = w3[H2] + w3[0] * h2[0];
        for (int i = 1; i < H2; i++) y = y + w3[i] * h2[i];
        const V negt = -t;
        const V s = y * negt + 1.0;
        const V v = CAT(relu_, SUF)(s);
        for (int l = 0; l < valid; l++) {  /* sum(values): Python's sum, rows in order */
            const double x = v[l];
            if (!neumaier || (r0 == 0 && l == 0)) {
                vsum = vsum + x;
            } else {  /* CPython >= 3.12: Neumaier's compensated sum */
                const double u = vsum + x;
                if (fabs(vsum) >= fabs(x)) comp += (vsum - u) + x;
                else comp += (x - u) + vsum;
                vsum = u;
            }
        }
        /* backward: the generated code's expressions, in its order */
        const V one = {0};
        const V gs = CAT(relu_grad_, SUF)(s, one + 1.0);
        const V gy = gs * negt;
        G[L3 + H2] = gy;
        for (int i = 0; i < H2; i++) {
            G[L3 + i] = gy * h2[i];
            g2[i] = gy * w3[i];
        }
        for (int k = H2 - 1; k >= 0; k--) {  /* the last neuron's term first, as backward adds */
            const double *w = P + L2 + k * (H1 + 1);
            const V gz = act_tanh ? g2[k] * (1.0 - h2[k] * h2[k])
                                  : CAT(relu_grad_, SUF)(z2[k], g2[k]);
            V *gw = G + L2 + k * (H1 + 1);
            gw[H1] = gz;
            for (int i = 0; i < H1; i++) {
                gw[i] = gz * h1[i];
                g1[i] = k == H2 - 1 ? gz * w[i] : g1[i] + gz * w[i];
            }
        }
        for (int j = 0; j < H1; j++) {
            const V gz = act_tanh ? g1[j] * (1.0 - h1[j] * h1[j])
                                  : CAT(relu_grad_, SUF)(z1[j], g1[j]);
            V *gw = G + L1 + j * (NIN + 1);
            gw[0] = gz * x0;
            gw[1] = gz * x1;
            gw[NIN] = gz;
        }
        /* parameter gradients summed over rows in row order (as the generated C loop) */
        for (int l = 0; l < valid; l++)
            for (int j = 0; j < NP; j++) PG[j] += G[j][l];
    }
    if (neumaier && comp != 0.0 && isfinite(comp)) vsum += comp;
    /* the L2 term (alpha * sum p*p, p0*p0 first) and its gradient alpha*p + alpha*p */
    double reg = P[0] * P[0];
    for (int j = 1; j < NP; j++) reg = reg + P[j] * P[j];
    reg = reg * alpha;
    for (int j = 0; j < NP; j++) {
        const double gr = alpha * P[j] + alpha * P[j];
        P[j] -= lr * (PG[j] * scale + gr);
    }
    return vsum * scale + reg;
}

static TARGET double CAT(step_relu_, SUF)(long n, const double *X, const double *Y, double *P,
                                          double *PG, double lr, double alpha, int neumaier) {
    return CAT(body_, SUF)(n, X, Y, P, PG, lr, alpha, neumaier, 0);
}

static TARGET double CAT(step_tanh_, SUF)(long n, const double *X, const double *Y, double *P,
                                          double *PG, double lr, double alpha, int neumaier) {
    return CAT(body_, SUF)(n, X, Y, P, PG, lr, alpha, neumaier, 1);
}

#undef V
#undef VL
