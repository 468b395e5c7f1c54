/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the on-disk program cache file reader (runtime/cache_file.c).
 *
 * Input: byte 0 picks the mode, the rest is data.
 *   mode even: the data is a cache file image; decode it against a fixed key and against the key
 *              stored in the image itself (so the checks past the key comparison are reached).
 *              A successful decode must point inside the image, and re-encoding the payload with
 *              that key must give back the same image byte for byte (but the reserved field).
 *   mode odd:  the data is a payload; encode it, decode it (must succeed with the same bytes), then
 *              corrupt one byte or truncate at a fuzzer-chosen position and decode again (must be
 *              rejected, except a change to the reserved field, which the reader ignores).
 * Any crash, out-of-bounds read (ASan) or undefined behaviour (UBSan) is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HEADER 88u /* cache_file.c's header size: magic 8, format 4, reserved 4, key 32, size 8, sha 32 */

static void check(int cond) {
    if (!cond) __builtin_trap();
}

static void decode_image(const uint8_t *data, size_t size, const uint8_t key[32]) {
    /* copy into an exact-size heap block so ASan sees reads past the end */
    uint8_t *img = malloc(size ? size : 1);
    if (!img) return;
    if (size) memcpy(img, data, size);
    const void *payload = (const void *)1;
    size_t n = 12345;
    int r = ocla__cache_decode(img, size, key, &payload, &n);
    check(r >= 0);
    if (r == 0) {
        const uint8_t *p = payload;
        check(p >= img + HEADER && n > 0 && (size_t)(p - img) + n == size);
        void *again = NULL;
        size_t again_size = 0;
        check(ocla__cache_encode(key, p, n, &again, &again_size) == OCLA_SUCCESS);
        /* bytes 12..15 are reserved: written as 0, not checked by the reader (harmless: the
         * payload is checksummed), so they are left out of the comparison */
        check(again_size == size && memcmp(again, img, 12) == 0 &&
              memcmp((uint8_t *)again + 16, img + 16, size - 16) == 0);
        free(again);
    } else {
        check(payload == (const void *)1 && n == 12345); /* untouched on failure */
    }
    free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        const void *p;
        size_t n;
        uint8_t key[32] = {0};
        check(ocla__cache_decode(NULL, 0, key, &p, &n) != 0);
        return 0;
    }
    uint8_t mode = data[0];
    data++, size--;
    uint8_t fixed[32];
    ocla__sha256("ocla-fuzz-key", 13, fixed);
    if (mode % 2 == 0) {
        decode_image(data, size, fixed);
        if (size >= 48) {
            uint8_t own[32];
            memcpy(own, data + 16, 32);
            decode_image(data, size, own);
        }
        return 0;
    }
    /* encode / decode round trip of an arbitrary payload */
    void *img = NULL;
    size_t img_size = 0;
    check(ocla__cache_encode(fixed, data, size, &img, &img_size) == OCLA_SUCCESS);
    check(img_size == size + HEADER);
    const void *p = NULL;
    size_t n = 0;
    int r = ocla__cache_decode(img, img_size, fixed, &p, &n);
    if (size == 0) {
        check(r != 0); /* an empty payload is never a valid program binary */
    } else {
        check(r == 0 && n == size && memcmp(p, data, size) == 0);
        /* one corrupted byte, or a truncation, at a position derived from the mode byte and size */
        size_t pos = ((size_t)mode * 2654435761u) % img_size;
        uint8_t *b = img;
        if (mode & 2) {
            b[pos] ^= (uint8_t)(mode | 1);
            if (pos < 12 || pos >= 16) /* the reserved bytes are not checked (see above) */
                check(ocla__cache_decode(b, img_size, fixed, &p, &n) != 0);
        } else {
            check(ocla__cache_decode(b, pos, fixed, &p, &n) != 0);
        }
    }
    free(img);
    return 0;
}
