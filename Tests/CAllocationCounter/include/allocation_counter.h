#ifndef EARSHOT_ALLOCATION_COUNTER_H
#define EARSHOT_ALLOCATION_COUNTER_H

/// Counts the heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc) made on
/// the calling thread while counting is on. Linked into the test executable only: its allocation functions stand in
/// for glibc's for the whole process and forward to glibc's own (`__libc_malloc`, …). With the environment variable
/// EARSHOT_ALLOCATION_BACKTRACES set, each counted allocation's backtrace goes to stderr.

/// Zeroes the calling thread's count and starts counting.
void allocation_counter_start(void);

/// Stops counting on the calling thread and returns the allocations made since `allocation_counter_start`.
long allocation_counter_stop(void);

#endif
