#ifndef LSM_CRC32C_H
#define LSM_CRC32C_H
#include <stddef.h>
#include <stdint.h>
#include "lsm_sys.h"

/// Returns 1 when the CPU has the SSE4.2 CRC32 instruction, else 0.
int lsm_crc32c_hw_available(void);

/// Extends a CRC32C (Castagnoli) value `crc` (the finalized value of the bytes so far,
/// 0 for none) with `n` bytes at `p`, using the CPU instruction. Call only when
/// lsm_crc32c_hw_available() returned 1.
uint32_t lsm_crc32c_hw_extend(uint32_t crc, const uint8_t *p, size_t n);

#endif
