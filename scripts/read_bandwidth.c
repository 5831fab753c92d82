/*
 * How fast this machine reads a vector segment's rows from memory: the floor under one exact query
 * (docs/vectors.md). Sums the float32 rows of a segment file (mapped, warm in the page cache) with AVX2
 * on 1 to 4 threads and prints the best of 7 runs for each.
 * Usage: gcc -O2 -mavx2 -pthread scripts/read_bandwidth.c -o /tmp/read_bandwidth
 *        /tmp/read_bandwidth STORE/seg-000001.vec
 */
#include <fcntl.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

static const float* rows;
static size_t floats;
static int threads;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void* sum_share(void* arg) {
    long id = (long)arg;
    size_t share = floats / threads, start = id * share, end = id == threads - 1 ? floats : start + share;
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    for (size_t i = start; i + 16 <= end; i += 16) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(rows + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(rows + i + 8));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(a, b));
    return (void*)(intptr_t)(lanes[0] > 1e30f); /* keeps the loop from being optimized away */
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SEGMENT_FILE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 128) {
        perror(argv[1]);
        return 1;
    }
    const char* file = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (file == MAP_FAILED || memcmp(file, "VEGAVEC", 8) != 0) {
        fprintf(stderr, "%s: not a vegafs segment\n", argv[1]);
        return 1;
    }
    int32_t dim;
    int64_t count, vectors_at;
    memcpy(&dim, file + 12, 4); /* header layout: Vega.Core/Vectors/Segment.cs */
    memcpy(&count, file + 24, 8);
    memcpy(&vectors_at, file + 32, 8);
    rows = (const float*)(file + vectors_at);
    floats = (size_t)count * dim;
    for (threads = 1; threads <= 4; threads++) {
        double best = 1e9;
        for (int run = 0; run < 7; run++) {
            pthread_t workers[4];
            double started = now();
            for (long i = 0; i < threads; i++) pthread_create(&workers[i], NULL, sum_share, (void*)i);
            for (int i = 0; i < threads; i++) pthread_join(workers[i], NULL);
            double took = now() - started;
            if (took < best) best = took;
        }
        printf("threads %d: %.2f ms for %.0f MB = %.1f GB/s\n", threads, best * 1e3, floats * 4 / 1e6, floats * 4 / best / 1e9);
    }
    return 0;
}
