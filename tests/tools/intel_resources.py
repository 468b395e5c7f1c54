#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Resources of the kernels in an Intel offline-compiler binary (ocloc's .bin, patch-token format).

Usage: intel_resources.py [--names] FILE.bin [FILE.bin ...]
Prints one line per kernel (with --names, each line starts with the file's name and a tab): name <TAB> GRF registers <TAB> SIMD width <TAB> local memory bytes (SLM)
<TAB> private memory bytes per work-item (arrays not kept in registers) <TAB> scratch bytes per
hardware thread (register spills; on tgllp and pvc also the private arrays, whose private column is 0
there: docs/data/vendor-spill-options-2026-11-27.txt). Used by
.ci/checks/16-vendor-compile.sh. Layout (Intel's iOpenCL patch tokens, patch_shared.h / patch_list.h):
the ELF section "Intel(R) OpenCL Device Binary" holds a program header (7 x u32, magic 'CTNI'), the
program's patch list, then per kernel a 40-byte header, its name, heaps and patch list of
(token, size, ...) records."""
import struct
import sys

MAGIC = 0x494E5443
T_ALLOCATE_LOCAL_SURFACE = 15   # Offset, TotalInlineLocalMemorySize
T_MEDIA_VFE_STATE = 18          # ScratchSpaceOffset, PerThreadScratchSpace
T_EXECUTION_ENVIRONMENT = 23    # LargestCompiledSIMDSize at field 3, NumGRFRequired at field 20
T_ALLOCATE_PRIVATE_MEMORY = 38  # SSH offset, data offset, data size, PerThreadPrivateMemorySize, IsSimtThread
T_MEDIA_VFE_STATE_SLOT1 = 55    # the second scratch slot (private memory)


def device_binary(data):
    """The payload of the ELF section named 'Intel(R) OpenCL Device Binary'."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = sections[shstrndx]
    for s in sections:
        name = data[strtab[4] + s[0]:].split(b"\0", 1)[0]
        if name == b"Intel(R) OpenCL Device Binary":
            return data[s[4]:s[4] + s[5]]
    raise SystemExit("no 'Intel(R) OpenCL Device Binary' section (not a patch-token binary)")


def kernels(blob):
    magic, _ver, _dev, _ptr, nkernels, _step, plist = struct.unpack_from("<7I", blob, 0)
    if magic != MAGIC:
        raise SystemExit("bad magic %#x" % magic)
    off = 28 + plist
    for _ in range(nkernels):
        (_ck, _hash, name_size, plist, heap, gsh, dsh, ssh, _unpadded) = struct.unpack_from("<IQ7I", blob, off)
        off += 40
        name = blob[off:off + name_size].split(b"\0", 1)[0].decode()
        off += name_size + heap + gsh + dsh + ssh
        res = {"grf": 0, "simd": 0, "slm": 0, "private": 0, "scratch": 0}
        end = off + plist
        while off < end:
            token, size = struct.unpack_from("<II", blob, off)
            if token == T_ALLOCATE_LOCAL_SURFACE:
                res["slm"] += struct.unpack_from("<I", blob, off + 12)[0]
            elif token in (T_MEDIA_VFE_STATE, T_MEDIA_VFE_STATE_SLOT1):
                res["scratch"] += struct.unpack_from("<I", blob, off + 12)[0]
            elif token == T_ALLOCATE_PRIVATE_MEMORY:
                res["private"] += struct.unpack_from("<I", blob, off + 20)[0]
            elif token == T_EXECUTION_ENVIRONMENT:
                f = struct.unpack_from("<%dI" % ((size - 8) // 4), blob, off + 8)
                res["simd"] = f[3]
                res["grf"] = f[20] if len(f) > 20 else 0
            off += size
        yield name, res


def main(args):
    """One process for a batch of binaries; a file that cannot be read is named on stderr, its lines
    left out, and the exit status is 1."""
    status = 0
    names = args[:1] == ["--names"]
    for path in args[1:] if names else args:
        try:
            with open(path, "rb") as fh:
                rows = list(kernels(device_binary(fh.read())))
        except (OSError, struct.error, SystemExit) as e:
            print("%s: %s" % (path, e), file=sys.stderr)
            status = 1
            continue
        prefix = path + "\t" if names else ""
        for name, r in rows:
            print("%s%s\t%d\t%d\t%d\t%d\t%d" % (prefix, name, r["grf"], r["simd"], r["slm"], r["private"], r["scratch"]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
