#include "lsm_crc32c.h"
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
int lsm_crc32c_hw_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

/*
 * The CRC32 instruction has a latency of three cycles and a throughput of one per cycle, so
 * one dependent chain of them runs at a third of what the unit can do. Long inputs are cut
 * into three consecutive stretches of LONG bytes (then SHORT bytes) whose CRCs are computed
 * side by side, the last two starting from zero, and joined afterwards: the raw (uninverted)
 * register is linear over GF(2), so the register after stretches A then B equals
 * shift_len(B)(register after A) xor (register of B from zero), where shift_len is the
 * effect of `len` zero bytes. That operator is a 32x32 bit matrix, applied through four
 * tables of 256 entries (one per byte of the register), built once.
 */
#define CRC32C_POLY 0x82f63b78u
#define CRC32C_LONG 8192
#define CRC32C_SHORT 256

/* The matrix `mat` (column n: the image of bit n) times the vector `vec`. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    for (int n = 0; vec != 0; n++, vec >>= 1)
        if (vec & 1) sum ^= mat[n];
    return sum;
}

/* out = a applied after b (out may be a or b). */
static void gf2_compose(uint32_t *out, const uint32_t *a, const uint32_t *b) {
    uint32_t tmp[32];
    for (int n = 0; n < 32; n++) tmp[n] = gf2_times(a, b[n]);
    memcpy(out, tmp, sizeof tmp);
}

/* The operator appending `len` zero bytes to a raw register. */
static void zeros_operator(uint32_t *op, size_t len) {
    uint32_t step[32];
    /* One zero bit: shift right, folding in the polynomial when the bit shifted out was set. */
    step[0] = CRC32C_POLY;
    for (int n = 1; n < 32; n++) step[n] = 1u << (n - 1);
    for (int i = 0; i < 3; i++) gf2_compose(step, step, step); /* 2, 4, then 8 bits: one byte */
    for (int n = 0; n < 32; n++) op[n] = 1u << n;              /* identity */
    while (len != 0) {                                         /* step^len by squaring */
        if (len & 1) gf2_compose(op, step, op);
        len >>= 1;
        if (len != 0) gf2_compose(step, step, step);
    }
}

static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static pthread_once_t shift_tables_once = PTHREAD_ONCE_INIT;

static void make_shift_table(uint32_t table[4][256], size_t len) {
    uint32_t op[32];
    zeros_operator(op, len);
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) table[k][b] = gf2_times(op, b << (8 * k));
}

static void make_shift_tables(void) {
    make_shift_table(shift_long, CRC32C_LONG);
    make_shift_table(shift_short, CRC32C_SHORT);
}

static inline uint32_t shift(uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^ table[3][crc >> 24];
}

/* Three stretches of `len` bytes at p side by side, joined into `l`. */
__attribute__((target("sse4.2"), always_inline))
static inline uint64_t three_way(uint64_t l, const uint8_t *p, size_t len, uint32_t table[4][256]) {
    uint64_t c1 = 0, c2 = 0;
    const uint8_t *end = p + len;
    do {
        uint64_t a, b, c;
        memcpy(&a, p, 8);
        memcpy(&b, p + len, 8);
        memcpy(&c, p + 2 * len, 8);
        l = __builtin_ia32_crc32di(l, a);
        c1 = __builtin_ia32_crc32di(c1, b);
        c2 = __builtin_ia32_crc32di(c2, c);
        p += 8;
    } while (p < end);
    l = shift(table, (uint32_t)l) ^ (uint32_t)c1;
    return shift(table, (uint32_t)l) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2")))
uint32_t lsm_crc32c_hw_extend(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t l = (uint32_t)~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        l = __builtin_ia32_crc32qi((uint32_t)l, *p);
        p++; n--;
    }
    if (n >= 3 * CRC32C_SHORT) {
        pthread_once(&shift_tables_once, make_shift_tables);
        while (n >= 3 * CRC32C_LONG) {
            l = three_way(l, p, CRC32C_LONG, shift_long);
            p += 3 * CRC32C_LONG; n -= 3 * CRC32C_LONG;
        }
        while (n >= 3 * CRC32C_SHORT) {
            l = three_way(l, p, CRC32C_SHORT, shift_short);
            p += 3 * CRC32C_SHORT; n -= 3 * CRC32C_SHORT;
        }
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        l = __builtin_ia32_crc32di(l, v);
        p += 8; n -= 8;
    }
    while (n > 0) {
        l = __builtin_ia32_crc32qi((uint32_t)l, *p);
        p++; n--;
    }
    return ~(uint32_t)l;
}
#else
int lsm_crc32c_hw_available(void) { return 0; }
uint32_t lsm_crc32c_hw_extend(uint32_t crc, const uint8_t *p, size_t n) {
    (void)p; (void)n; return crc;
}
#endif
