#!/usr/bin/env bash
# The GPU device check (docs/gpu.md): build DepthLab against a CUDA LibTorch
# on a GPU machine that has no Debian packages and no network, run the GPU
# tests and time training on the GPU, in one call of a few minutes.
#
#   bash packaging/device-check.sh prepare   here: fetch the Debian packages the
#                                            build needs into .device-check/ (git-ignored)
#   bash packaging/device-check.sh run       there: unpack them into a private prefix,
#                                            configure against /opt/torch/.venv's torch with
#                                            -DDEPTHLAB_CUDA=ON, build, ctest -L gpu, dlab
#                                            devices, dlab bench train on cuda; a table last
#   bash packaging/device-check.sh rehearse  here: the same unpack, configure and build
#                                            against Debian's CPU LibTorch, with /usr's copies
#                                            of the packages hidden, to check the mechanics
#
# Results go to $OUT (the device tool's folder) or .device-check/out.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
stash="$src/.device-check"
mode="${1:-}"
arch=x86_64-linux-gnu

# What the device image lacks for dlab and its tests (it has gcc, CMake, ninja, nvcc, CUDA,
# NCCL and a CUDA LibTorch). Headers, libraries and their run-time dependencies.
packages=(
  libhdf5-dev libhdf5-103-1 libsz2 libaec0 libaec-dev libcurl3-gnutls
  libsentencepiece-dev libsentencepiece0
  libtomlplusplus-dev libtomlplusplus3 nlohmann-json3-dev libcli11-dev
  libdnnl-dev libdnnl2 libsleef-dev libsleef3 libgloo-dev libgtest-dev
  qt6-base-dev qt6-base-dev-tools qmake6 qmake6-bin qt6-websockets-dev libqt6core6 libqt6network6
  libqt6websockets6 libqt6test6 libqt6concurrent6 libqt6dbus6 libqt6gui6 libqt6widgets6
  libqt6opengl6 libqt6openglwidgets6 libqt6printsupport6 libqt6sql6 libqt6xml6
  libicu72 libdouble-conversion3 libb2-1 libpcre2-16-0 libmd4c0
)

say() { printf '[device-check] %s\n' "$*"; }

unpack() {  # unpack <prefix>: every fetched package into <prefix> (never into /)
  local prefix="$1"
  rm -rf "$prefix"; mkdir -p "$prefix"
  for f in "$stash"/debs/*.deb; do dpkg-deb -x "$f" "$prefix"; done
  # Debian's absolute links (libfoo.so -> /usr/lib/...) must point into the prefix.
  find "$prefix" -type l | while read -r l; do
    t="$(readlink "$l")"
    case "$t" in /*) ln -sfn "$prefix$t" "$l" ;; esac
  done
}

configure() {  # configure <prefix> <build dir> <extra cmake args...>
  local prefix="$1" build="$2"; shift 2
  local usr="$prefix/usr" lib="$prefix/usr/lib/$arch"
  export PKG_CONFIG_PATH="$lib/pkgconfig:$usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$prefix"
  export LD_LIBRARY_PATH="$lib:$lib/hdf5/serial${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DDEPTHLAB_BUILD_GUI=OFF \
    -DHDF5_C_COMPILER_EXECUTABLE="$prefix/no-h5cc" \
    -DHDF5_C_INCLUDE_DIR="$usr/include/hdf5/serial" \
    -DHDF5_C_LIBRARY_hdf5="$lib/hdf5/serial/libhdf5.so" \
    -DDEPTHLAB_DNNL_INCLUDE_DIR="$usr/include" -DDEPTHLAB_DNNL_LIBRARY="$lib/libdnnl.so" \
    -DCMAKE_BUILD_RPATH="$lib;$lib/hdf5/serial" \
    "$@"
}

case "$mode" in
  prepare)
    mkdir -p "$stash/debs"
    grep -qx '/.device-check/' "$src/.gitignore" || { say "add /.device-check/ to .gitignore"; exit 2; }
    cd "$stash/debs"
    rm -f ./*.deb
    apt-get download "${packages[@]}"
    bytes="$(du -cb ./*.deb | tail -n 1 | cut -f 1)"
    say "$(ls ./*.deb | wc -l) packages, $((bytes / 1048576)) MiB in $stash/debs"
    # The working tree and the carried folder travel together, 64 MiB at most.
    [ "$bytes" -lt $((48 * 1048576)) ] || { say "over 48 MiB: too much to carry"; exit 1; }
    ;;
  rehearse)
    [ -d "$stash/debs" ] || { say "run prepare first"; exit 2; }
    prefix=/tmp/dlab-device-prefix; build=/tmp/dlab-device-rehearsal
    unpack "$prefix"
    # Hide /usr's copies of the packages the prefix provides (not torch's own).
    configure "$prefix" "$build" -DCMAKE_PREFIX_PATH="$prefix/usr" \
      -DCMAKE_FIND_ROOT_PATH="$prefix" -DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=BOTH \
      -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=BOTH -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=BOTH
    say "found (each must lie under $prefix):"
    grep -E '^(HDF5_C_INCLUDE_DIR|HDF5_C_LIBRARY_hdf5|tomlplusplus_DIR|nlohmann_json_DIR|CLI11_DIR|Qt6Core_DIR|Qt6WebSockets_DIR|DEPTHLAB_DNNL_LIBRARY|GTest_DIR)' \
      "$build/CMakeCache.txt" | grep -v -- '-ADVANCED' | tee "$build/found.txt"
    if grep -v "$prefix" "$build/found.txt"; then say "some packages came from the system"; exit 1; fi
    ninja -C "$build" dlab test_gpu_probe
    "$build/app/dlab/dlab" devices
    ;;
  run)
    [ -d "$stash/debs" ] || { say "no $stash/debs: run 'prepare' here first and carry .device-check"; exit 2; }
    out="${OUT:-$stash/out}"; mkdir -p "$out"
    exec > >(tee "$out/device-check.log") 2>&1
    t0=$(date +%s)
    prefix=/tmp/dlab-device-prefix; build=/tmp/dlab-device-build
    python=/opt/torch/.venv/bin/python3
    [ -x "$python" ] || python=python3
    torch_prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
    say "torch $("$python" -c 'import torch; print(torch.__version__, torch.cuda.is_available())')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    unpack "$prefix"
    configure "$prefix" "$build" -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" \
      -DDEPTHLAB_CUDA=ON -DDEPTHLAB_CUDA_ARCHITECTURES=90 \
      -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
    ninja -C "$build" -j "$(nproc)" dlab test_gpu_probe test_gpu_kernels test_gpu_train test_metrics test_model
    t_build=$(( $(date +%s) - t0 ))
    "$build/app/dlab/dlab" devices | tee "$out/devices.txt"
    (cd "$build" && ctest -L gpu --output-on-failure --timeout 300) | tee "$out/ctest-gpu.txt" || true
    (cd "$build" && ctest -R '^(RowStats|Device)' --output-on-failure) | tee "$out/ctest-host.txt" || true
    "$build/app/dlab/dlab" bench train --device cuda --shape gpu --precision fp32,bf16 \
      --steps 10 --warmup 3 --repeats 1 --json "$out/bench-gpu.json" | tee "$out/bench-gpu.txt" || true
    say "build ${t_build} s, all $(( $(date +%s) - t0 )) s"
    "$python" - "$out" <<'PY' || true
import json, os, sys
out = sys.argv[1]
print("\n| check | result |\n|---|---|")
for name in ("ctest-gpu.txt", "ctest-host.txt"):
    p = os.path.join(out, name)
    last = [l for l in open(p) if "tests passed" in l or "tests failed" in l] if os.path.exists(p) else []
    print(f"| {name} | {last[-1].strip() if last else 'not run'} |")
p = os.path.join(out, "bench-gpu.json")
if os.path.exists(p):
    j = json.load(open(p))
    for label, r in j.get("runs", {}).items():
        print(f"| {label} | {r['tokens_per_s']:.0f} tok/s, MFU {r['mfu']:.3f}, statistics {100 * r.get('stats_share', 0):.1f} % |")
    for prec, c in j.get("ceiling", {}).items():
        print(f"| ceiling {prec} | {c['best_gflops'] / 1000:.0f} TFLOP/s |")
PY
    ;;
  *)
    sed -n '2,17p' "$0"; exit 2 ;;
esac
