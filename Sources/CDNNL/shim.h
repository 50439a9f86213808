#ifndef CDNNL_SHIM_H
#define CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>

/* DNNL_MEMORY_ALLOCATE is a cast macro Swift cannot import. */
static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }

/* libgomp, which Debian's oneDNN runs its threads on: the calling thread's team size. */
extern void omp_set_num_threads(int);
#endif
