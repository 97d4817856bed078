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

// 12 chains: enough to cover the FMA latency on two pipes.
#define CHAINS(T, SET, FMA)                                                   \
  T a0 = SET(1.0f), a1 = SET(1.1f), a2 = SET(1.2f), a3 = SET(1.3f),           \
    a4 = SET(1.4f), a5 = SET(1.5f), a6 = SET(1.6f), a7 = SET(1.7f),           \
    a8 = SET(1.8f), a9 = SET(1.9f), a10 = SET(2.0f), a11 = SET(2.1f);         \
  const T m = SET(0.999999f), c = SET(1e-7f);                                 \
  for (long i = 0; i < iters; i++) {                                          \
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c);               \
    a3 = FMA(a3, m, c); a4 = FMA(a4, m, c); a5 = FMA(a5, m, c);               \
    a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); a8 = FMA(a8, m, c);               \
    a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);           \
  }

static volatile float sink;

__attribute__((target("avx2,fma"))) static void *avx2(void *p) {
  long iters = *(long *)p;
  CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps)
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  sink = _mm256_cvtss_f32(s);
  return NULL;
}

__attribute__((target("avx512f"))) static void *avx512(void *p) {
  long iters = *(long *)p;
  CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps)
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  sink = _mm512_reduce_add_ps(s);
  return NULL;
}

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
