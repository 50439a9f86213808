// The test executable defines the allocation functions, so the dynamic linker binds every library's calls to these
// (the executable comes first in the lookup order). Each forwards to glibc's allocator under its exported
// `__libc_*` name, which needs no dlsym (dlsym itself allocates). The count is thread-local: tests run in parallel,
// and only the measuring thread's allocations count.
#include "allocation_counter.h"

#include <errno.h>
#include <execinfo.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

// initial-exec: reading them never calls __tls_get_addr, which may itself allocate.
static __thread int counting __attribute__((tls_model("initial-exec")));
static __thread long counted __attribute__((tls_model("initial-exec")));
static __thread int printing __attribute__((tls_model("initial-exec")));

static inline void note(void) {
    if (!counting) return;
    counted += 1;
    if (printing) {
        // EARSHOT_ALLOCATION_BACKTRACES: where each counted allocation came from, to stderr (symbolize the
        // executable's offsets with addr2line). Counting is off meanwhile: backtrace() allocates on first use.
        counting = 0;
        void *frames[16];
        int depth = backtrace(frames, 16);
        static const char header[] = "=== counted allocation\n";
        (void)!write(2, header, sizeof header - 1);
        backtrace_symbols_fd(frames, depth, 2);
        counting = 1;
    }
}

void allocation_counter_start(void) {
    printing = getenv("EARSHOT_ALLOCATION_BACKTRACES") != NULL;
    counted = 0;
    counting = 1;
}

long allocation_counter_stop(void) {
    counting = 0;
    return counted;
}

void *malloc(size_t size) {
    note();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    note();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    note();
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    note();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    note();
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    note();
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    // posix_memalign's own contract: a power of two multiple of sizeof(void *), else EINVAL.
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    note();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *out = pointer;
    return 0;
}
