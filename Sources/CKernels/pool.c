// Worker threads for products: they spin briefly on a generation counter (a product follows the last within
// microseconds in a pass), then sleep on a futex, so an idle pool costs nothing.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

struct ek_pool {
    int threads;
    pthread_t *workers;
    uint32_t generation;        // bumped once per job
    uint32_t remaining;         // workers that have not finished the current job
    int sleepers;               // workers asleep (or about to be) on `generation`
    int caller_sleeping;        // the caller asleep on `remaining`
    int stopping;
    void (*fn)(void *, int, int);
    void *context;
    int count;
};

typedef struct {
    ek_pool *pool;
    int index;
} worker_start;

static void futex_wait(uint32_t *address, uint32_t expected) {
    syscall(SYS_futex, address, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(uint32_t *address, int count) {
    syscall(SYS_futex, address, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/// How long a waiting thread spins before it sleeps.
static const uint64_t spin_ns = 50000;

/// Spins until *address != value or the spin time is over; returns the value last read.
static uint32_t spin_while_equal(uint32_t *address, uint32_t value) {
    uint64_t deadline = 0;
    for (unsigned i = 0;; i++) {
        uint32_t current = __atomic_load_n(address, __ATOMIC_ACQUIRE);
        if (current != value) return current;
        if ((i & 63) == 0) {
            uint64_t t = now_ns();
            if (deadline == 0) deadline = t + spin_ns;
            else if (t > deadline) return current;
        }
        relax();
    }
}

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    ek_pool *pool = start.pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t generation = spin_while_equal(&pool->generation, seen);
        while (generation == seen) {
            __atomic_fetch_add(&pool->sleepers, 1, __ATOMIC_SEQ_CST);
            futex_wait(&pool->generation, seen);
            __atomic_fetch_sub(&pool->sleepers, 1, __ATOMIC_SEQ_CST);
            generation = __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE);
        }
        seen = generation;
        if (__atomic_load_n(&pool->stopping, __ATOMIC_ACQUIRE)) return NULL;
        if (start.index < pool->count) pool->fn(pool->context, start.index, pool->count);
        if (__atomic_fetch_sub(&pool->remaining, 1, __ATOMIC_SEQ_CST) == 1 &&
            __atomic_load_n(&pool->caller_sleeping, __ATOMIC_SEQ_CST)) {
            futex_wake(&pool->remaining, 1);
        }
    }
}

ek_pool *ek_pool_create(int threads) {
    if (threads < 1) threads = 1;
    ek_pool *pool = calloc(1, sizeof(ek_pool));
    if (!pool) return NULL;
    pool->threads = threads;
    pool->workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!pool->workers) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < threads; i++) {
        worker_start *start = malloc(sizeof(worker_start));
        if (start) *start = (worker_start){.pool = pool, .index = i};
        if (!start || pthread_create(&pool->workers[i], NULL, worker_main, start) != 0) {
            free(start);
            pool->threads = i;   // run with the workers started so far
            break;
        }
    }
    return pool;
}

/// Wakes every worker for the current job.
static void publish(ek_pool *pool) {
    __atomic_fetch_add(&pool->generation, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&pool->sleepers, __ATOMIC_SEQ_CST) > 0) futex_wake(&pool->generation, pool->threads);
}

void ek_pool_destroy(ek_pool *pool) {
    if (!pool) return;
    __atomic_store_n(&pool->stopping, 1, __ATOMIC_RELEASE);
    publish(pool);
    for (int i = 1; i < pool->threads; i++) pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    free(pool);
}

int ek_pool_threads(const ek_pool *pool) { return pool ? pool->threads : 1; }

void ek_parallel(ek_pool *pool, void (*fn)(void *, int, int), void *context) {
    ek_pool_run(pool, ek_pool_threads(pool), fn, context);
}

void ek_pool_run(ek_pool *pool, int count, void (*fn)(void *, int, int), void *context) {
    if (!pool || count <= 1 || pool->threads <= 1) {
        fn(context, 0, 1);
        return;
    }
    if (count > pool->threads) count = pool->threads;
    pool->fn = fn;
    pool->context = context;
    pool->count = count;
    __atomic_store_n(&pool->remaining, (uint32_t)(pool->threads - 1), __ATOMIC_SEQ_CST);
    publish(pool);
    fn(context, 0, count);
    uint32_t left;
    while ((left = __atomic_load_n(&pool->remaining, __ATOMIC_SEQ_CST)) != 0) {
        if (spin_while_equal(&pool->remaining, left) != left) continue;
        __atomic_store_n(&pool->caller_sleeping, 1, __ATOMIC_SEQ_CST);
        futex_wait(&pool->remaining, left);
        __atomic_store_n(&pool->caller_sleeping, 0, __ATOMIC_SEQ_CST);
    }
}
