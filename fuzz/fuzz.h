/* Shared by the fuzz targets: the options they load with, and the invariants every target
 * checks on top of the sanitizers'. A broken invariant traps, which libFuzzer (and the
 * replay driver) report as a crash with the input that caused it. */
#ifndef ONYX_FUZZ_H
#define ONYX_FUZZ_H

#include "onyx.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Options with limits small enough that a fuzzed model cannot make one run take long or
 * exceed libFuzzer's memory limit, yet above what the seed models need. Created once. */
const onyx_options *fuzz_options(void);

/* Every failure carries a message: traps when `status` is an error and `message` is empty. */
void fuzz_expect_message(onyx_status status, const char *message);

/* Reads every byte of a tensor's data, so that ASan sees any claim of more data than was
 * allocated; traps on an element count that does not fit the description. */
void fuzz_touch_tensor(const onyx_tensor *tensor);

#endif
