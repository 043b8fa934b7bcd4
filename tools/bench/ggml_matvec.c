// TQ2_0 products (decode matvecs; with OUTxINxM, M activation rows) through ggml's CPU graph, for tools/bench/kernels-vs-ggml.sh:
// for each shape out×in, y = W·x with W [out, in] quantized to TQ2_0 from random ternary values and x f32
// (ggml quantizes x to q8_K inside the product, as in inference), the median of `reps` calls after a
// timed warm-up, on `threads` threads. Prints "shape ggml-tq2_0 µs (min µs)" per shape.
// Build: cc -O2 -I$LLAMA/ggml/include ggml_matvec.c -L$BUILD/bin -lggml -lggml-base -lggml-cpu -o ggml_matvec
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ggml.h"
#include "ggml-cpu.h"

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: ggml_matvec threads reps OUTxIN...\n"); return 2; }
    int threads = atoi(argv[1]), reps = atoi(argv[2]);
    for (int s = 3; s < argc; s++) {
        int out, in, m = 1;   // OUTxIN, or OUTxINxM for M activation rows (a batched product: prefill)
        if (sscanf(argv[s], "%dx%dx%d", &out, &in, &m) < 2 || in % 256 || m < 1) { fprintf(stderr, "bad shape %s (in must be a multiple of 256)\n", argv[s]); return 2; }
        size_t wbytes = ggml_row_size(GGML_TYPE_TQ2_0, in) * (size_t) out;
        struct ggml_init_params ip = { wbytes + (size_t) in * 8 * m + (size_t) out * 8 * m + (64u << 20), NULL, false };
        struct ggml_context *ctx = ggml_init(ip);
        struct ggml_tensor *w = ggml_new_tensor_2d(ctx, GGML_TYPE_TQ2_0, in, out);
        struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, in, m);
        float *row = malloc(sizeof(float) * (size_t) in);
        srand(7);
        for (int r = 0; r < out; r++) {
            for (int c = 0; c < in; c++) row[c] = (float) (rand() % 3 - 1);
            ggml_quantize_chunk(GGML_TYPE_TQ2_0, row, (char *) w->data + (size_t) r * w->nb[1], 0, 1, in, NULL);
        }
        for (long c = 0; c < (long) in * m; c++) ((float *) x->data)[c] = (float) rand() / RAND_MAX - 0.5f;
        struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
        struct ggml_cgraph *gf = ggml_new_graph(ctx);
        ggml_build_forward_expand(gf, y);
        // Warm-up by time, as the Java timer does.
        for (double end = now_us() + 1e6; now_us() < end; ) ggml_graph_compute_with_ctx(ctx, gf, threads);
        double *us = malloc(sizeof(double) * reps);
        for (int i = 0; i < reps; i++) {
            double t = now_us();
            ggml_graph_compute_with_ctx(ctx, gf, threads);
            us[i] = now_us() - t;
        }
        qsort(us, reps, sizeof(double), cmp);
        printf("%s ggml-tq2_0 %.1f (min %.1f)\n", argv[s], us[reps / 2], us[0]);
        free(us); free(row);
        ggml_free(ctx);
    }
    return 0;
}
