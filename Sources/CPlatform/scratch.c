#include <pthread.h>
#include <stdlib.h>
#include "lsm_scratch.h"

struct lsm_scratch {
    void *buffers[LSM_SCRATCH_DEPTH];
    size_t capacities[LSM_SCRATCH_DEPTH];
    int depth;
    int registered;
};

static __thread struct lsm_scratch scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

/// Frees a thread's buffers at its exit (the key's value is the thread's `scratch`).
static void scratch_free(void *value) {
    struct lsm_scratch *s = value;
    for (int i = 0; i < LSM_SCRATCH_DEPTH; i++) {
        free(s->buffers[i]);
        s->buffers[i] = NULL;
        s->capacities[i] = 0;
    }
    s->depth = 0;
    s->registered = 0;
}

static void scratch_make_key(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

void *lsm_scratch_push(size_t size) {
    struct lsm_scratch *s = &scratch;
    if (size > LSM_SCRATCH_MAX || s->depth >= LSM_SCRATCH_DEPTH) return NULL;
    int d = s->depth;
    if (s->capacities[d] < size) {
        if (!s->registered) {
            if (pthread_once(&scratch_once, scratch_make_key) != 0) return NULL;
            if (pthread_setspecific(scratch_key, s) != 0) return NULL;
            s->registered = 1;
        }
        // Round up to a power of two from 16 KiB, so a few growths cover every block size.
        size_t capacity = 16384;
        while (capacity < size) capacity <<= 1;
        void *p = NULL;
        if (posix_memalign(&p, 16, capacity) != 0) return NULL;
        free(s->buffers[d]);
        s->buffers[d] = p;
        s->capacities[d] = capacity;
    }
    s->depth = d + 1;
    return s->buffers[d];
}

void lsm_scratch_pop(void) {
    if (scratch.depth > 0) scratch.depth -= 1;
}
