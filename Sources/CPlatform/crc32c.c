#include "lsm_crc32c.h"
#include <string.h>

#if defined(__x86_64__)
int lsm_crc32c_hw_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t lsm_crc32c_hw_extend(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t l = (uint32_t)~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        l = __builtin_ia32_crc32qi((uint32_t)l, *p);
        p++; n--;
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
