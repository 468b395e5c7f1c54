#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what ocla needs from Debian/Ubuntu packages when something is missing.
# Usage: bash cmake/install_deps.sh [extra packages...]
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail
need=(cmake make gcc pkg-config ocl-icd-opencl-dev opencl-headers libclblast-dev libcriterion-dev
      pocl-opencl-icd mesa-opencl-icd
      libjansson-dev   # optional for the library (the checkpoint loader, include/ocla/model.h)
      "$@")
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ocla: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "ocla: missing packages; run as root: apt-get install -y ${missing[*]}" >&2; exit 1; fi
else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
