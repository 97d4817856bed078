// The machine's FMA peak, the reference for BENCHMARKS.md's "fraction of
// peak": one thread per core runs 12 independent chains of 8-lane (AVX2)
// or 16-lane (AVX-512) fused multiply-adds on registers only, and the
// program prints GFLOP/s per thread and in all (2 FLOPs per lane per FMA).
//
//   cc -O2 -pthread scripts/fma-peak.c -o /tmp/fma-peak
//   /tmp/fma-peak 2        # threads (default: 1)
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 200000000L

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// 12 chains: enough to cover the FMA latency on two pipes. The sum at the
// end keeps every chain live.
#define KERNEL(NAME, TARGET, T, SET, FMA, ADD, FIRST)                         \
  __attribute__((target(TARGET))) static void *NAME(void *p) {                \
    long iters = *(long *)p;                                                  \
    T a[12];                                                                  \
    for (int j = 0; j < 12; j++) a[j] = SET(1.0f + 0.1f * j);                \
    const T m = SET(0.999999f), c = SET(1e-7f);                               \
    for (long i = 0; i < iters; i++) {                                        \
      a[0] = FMA(a[0], m, c); a[1] = FMA(a[1], m, c); a[2] = FMA(a[2], m, c); \
      a[3] = FMA(a[3], m, c); a[4] = FMA(a[4], m, c); a[5] = FMA(a[5], m, c); \
      a[6] = FMA(a[6], m, c); a[7] = FMA(a[7], m, c); a[8] = FMA(a[8], m, c); \
      a[9] = FMA(a[9], m, c); a[10] = FMA(a[10], m, c);                       \
      a[11] = FMA(a[11], m, c);                                               \
    }                                                                         \
    for (int j = 1; j < 12; j++) a[0] = ADD(a[0], a[j]);                      \
    sink = FIRST(a[0]);                                                       \
    return NULL;                                                              \
  }

static volatile float sink;

KERNEL(avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_cvtss_f32)
KERNEL(avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_reduce_add_ps)

static void run(const char *name, void *(*f)(void *), int lanes, int threads, long iters) {
  pthread_t t[64];
  double t0 = now();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, f, &iters);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  double s = now() - t0;
  double gflops = 2.0 * lanes * 12.0 * iters * threads / s / 1e9;
  printf("%s: %d thread(s), %.1f GFLOP/s in all, %.1f per thread\n", name, threads, gflops,
         gflops / threads);
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "fma-peak: threads must be 1 to 64, got %s\n", argv[1]);
    return 2;
  }
  run("avx2 (8 lanes)", avx2, 8, threads, ITERS);
  if (__builtin_cpu_supports("avx512f")) run("avx512 (16 lanes)", avx512, 16, threads, ITERS / 2);
  return 0;
}
