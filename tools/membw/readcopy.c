/*
 * What this machine's memory gives a read-only stream next to a copy, measured without Java: the ceiling
 * that issue 6's packed matvec (a kernel that reads its codes and writes almost nothing) is judged against.
 *
 * Every turn runs each probe once over 1 GiB split between the threads; the table gives each probe's median
 * GB/s and the median over turns of its GB/s divided by the fastest copy's GB/s in the same turn, so that
 * the VM's drifting memory rate falls on both sides of each ratio alike. Copies count bytes read + written
 * (as `tern bench kernels` and `tern bench generate` do); reads count bytes read.
 *
 *   gcc -O2 -march=native -pthread tools/membw/readcopy.c -o /tmp/readcopy && /tmp/readcopy [TURNS] [THREADS]
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BYTES (1ul << 30)
#define MAX_THREADS 64
#define MAX_TURNS 64

static char *src, *dst;
static int threads = 2;
static volatile long sink;

typedef void (*probe_fn)(char *from, char *to, size_t n);

/* rep movsb: what MemorySegment.copy and memcpy reach for on CPUs with fast string moves (ERMS/FSRM). */
static void copy_rep_movsb(char *from, char *to, size_t n) {
    __asm__ volatile("rep movsb" : "+D"(to), "+S"(from), "+c"(n) : : "memory");
}

static void copy_memcpy(char *from, char *to, size_t n) { memcpy(to, from, n); }

/* STREAM's copy kernel: plain 32-byte loads and stores (stores read each line first). */
static void copy_load_store(char *from, char *to, size_t n) {
    for (size_t i = 0; i < n; i += 32) _mm256_store_si256((__m256i *) (to + i), _mm256_load_si256((__m256i *) (from + i)));
}

/* Non-temporal stores: written lines go to memory without being read first. */
static void copy_streaming(char *from, char *to, size_t n) {
    for (size_t i = 0; i < n; i += 32) _mm256_stream_si256((__m256i *) (to + i), _mm256_load_si256((__m256i *) (from + i)));
    _mm_sfence();
}

/* A read with no arithmetic to speak of: one add per 32 bytes, two chains so the adds never wait. */
static void read_plain(char *from, char *to, size_t n) {
    (void) to;
    __m256i a = _mm256_setzero_si256(), b = a;
    for (size_t i = 0; i < n; i += 64) {
        a = _mm256_add_epi64(a, _mm256_load_si256((__m256i *) (from + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((__m256i *) (from + i + 32)));
    }
    long out[4];
    _mm256_storeu_si256((__m256i *) out, _mm256_add_epi64(a, b));
    sink += out[0] + out[1] + out[2] + out[3];
}

/* The same read with software prefetch 1 KiB and 4 KiB ahead: whether the hardware prefetchers leave any room. */
#define READ_PREFETCH(NAME, AHEAD)                                                                    \
    static void NAME(char *from, char *to, size_t n) {                                                \
        (void) to;                                                                                    \
        __m256i a = _mm256_setzero_si256(), b = a;                                                    \
        for (size_t i = 0; i < n; i += 64) {                                                          \
            _mm_prefetch(from + i + (AHEAD), _MM_HINT_T0);                                            \
            a = _mm256_add_epi64(a, _mm256_load_si256((__m256i *) (from + i)));                       \
            b = _mm256_add_epi64(b, _mm256_load_si256((__m256i *) (from + i + 32)));                  \
        }                                                                                             \
        long out[4];                                                                                  \
        _mm256_storeu_si256((__m256i *) out, _mm256_add_epi64(a, b));                                 \
        sink += out[0] + out[1] + out[2] + out[3];                                                    \
    }
READ_PREFETCH(read_prefetch_1k, 1024)
READ_PREFETCH(read_prefetch_4k, 4096)

struct probe {
    const char *name;
    probe_fn fn;
    int copies; /* 1: bytes read + written; 0: bytes read */
};

static const struct probe probes[] = {
    {"copy, rep movsb", copy_rep_movsb, 1},
    {"copy, memcpy", copy_memcpy, 1},
    {"copy, load/store loop (STREAM)", copy_load_store, 1},
    {"copy, streaming stores", copy_streaming, 1},
    {"read", read_plain, 0},
    {"read, prefetch 1 KiB ahead", read_prefetch_1k, 0},
    {"read, prefetch 4 KiB ahead", read_prefetch_4k, 0},
};
#define PROBES (int) (sizeof probes / sizeof probes[0])

struct job { probe_fn fn; int index; };

static void *run_share(void *arg) {
    struct job *j = arg;
    size_t share = BYTES / threads;
    j->fn(src + j->index * share, dst + j->index * share, share);
    return NULL;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double gbps(const struct probe *p) {
    pthread_t tid[MAX_THREADS];
    struct job jobs[MAX_THREADS];
    double t0 = seconds();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job) {p->fn, i};
        pthread_create(&tid[i], NULL, run_share, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    return (p->copies ? 2.0 : 1.0) * BYTES / (seconds() - t0) / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double s[MAX_TURNS];
    memcpy(s, v, n * sizeof *v);
    qsort(s, n, sizeof *s, by_value);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int turns = argc > 1 ? atoi(argv[1]) : 9;
    threads = argc > 2 ? atoi(argv[2]) : 2;
    if (turns < 1 || turns > MAX_TURNS || threads < 1 || threads > MAX_THREADS || BYTES % (64ul * threads)) {
        fprintf(stderr, "usage: readcopy [TURNS 1-%d] [THREADS 1-%d]\n", MAX_TURNS, MAX_THREADS);
        return 2;
    }
    src = aligned_alloc(4096, BYTES);
    dst = aligned_alloc(4096, BYTES);
    if (!src || !dst) { fprintf(stderr, "readcopy: cannot allocate 2 GiB\n"); return 1; }
    memset(src, 1, BYTES);   /* touch every page before timing */
    memset(dst, 2, BYTES);
    static double rate[PROBES][MAX_TURNS];
    double best_copy[MAX_TURNS];
    for (int p = 0; p < PROBES; p++) gbps(&probes[p]);   /* one untimed pass each */
    for (int t = 0; t < turns; t++) {
        best_copy[t] = 0;
        for (int p = 0; p < PROBES; p++) {
            rate[p][t] = gbps(&probes[p]);
            if (probes[p].copies && rate[p][t] > best_copy[t]) best_copy[t] = rate[p][t];
        }
    }
    printf("%d turns, %d threads, 1 GiB per probe; copies count bytes read + written\n", turns, threads);
    printf("%-32s %10s %10s %18s\n", "probe", "median", "max", "÷ fastest copy");
    for (int p = 0; p < PROBES; p++) {
        double ratio[MAX_TURNS], sorted[MAX_TURNS];
        for (int t = 0; t < turns; t++) ratio[t] = rate[p][t] / best_copy[t];
        memcpy(sorted, rate[p], turns * sizeof(double));
        qsort(sorted, turns, sizeof(double), by_value);
        printf("%-32s %7.1f GB/s %6.1f GB/s %12.2f\n", probes[p].name, median(rate[p], turns), sorted[turns - 1], median(ratio, turns));
    }
    return 0;
}
