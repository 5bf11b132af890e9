#!/usr/bin/env bash
# DepthLab set-up: installs what is missing (Debian 12 / Ubuntu), makes sure
# BLAS is OpenBLAS, fetches the demo corpus, configures and builds.
#
#   bash packaging/setup.sh --run    set up, build, then run the main job: the GUI on the demo
#                                    experiment (headless `dlab train --preset demo` without a display)
#   bash packaging/setup.sh --test   set up, build, then run the whole test suite
#   bash packaging/setup.sh --package  set up, build, then make the .deb packages (dlab, depthlab)
#                                    into build/packages and check them with lintian
#   bash packaging/setup.sh          set up and build only
#
# Idempotent: a second call installs nothing, re-uses the build and the corpus cache.
# Environment: DEPTHLAB_BUILD_DIR (default build), DEPTHLAB_JOBS (default nproc),
# XDG_CACHE_HOME (corpus and token caches under $XDG_CACHE_HOME/depthlab).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${DEPTHLAB_BUILD_DIR:-$here/build}"
jobs="${DEPTHLAB_JOBS:-$(nproc)}"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/depthlab"
mode="${1:-build}"
case "$mode" in
  --run|--test|--package|build) ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "setup.sh: unknown argument '$mode' (expected --run, --test, --package or nothing)" >&2; exit 2 ;;
esac

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- 1. Debian packages -------------------------------------------------------
packages=(
  build-essential cmake ninja-build pkg-config git python3
  libtorch-dev libopenblas0-pthread libgloo-dev  # c10d's Gloo headers include gloo/
  libdnnl-dev libsleef-dev  # the fused kernels: oneDNN's matrix products, at::vec's exp/log
  libhdf5-dev libsentencepiece-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libbenchmark-dev
  qt6-base-dev qt6-svg-dev libqt6opengl6-dev qt6-websockets-dev libgl-dev xvfb
  python3-torch python3-h5py python3-numpy python3-websockets
  clang-14 libclang-rt-14-dev  # libFuzzer for the protocol decoder fuzzer (tests/fuzz)
  help2man file desktop-file-utils appstream bash-completion  # packaging/: man pages, .deb checks
)
# lintian checks the packages; only --package needs it.
if [ "$mode" = "--package" ]; then packages+=(lintian); fi
# npm fetches the demo corpus (not needed by the tests). Any npm will do: a
# machine with NodeSource's nodejs has one that conflicts with Debian's package.
if { [ "$mode" = "--run" ] || [ "$mode" = build ]; } && ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${#missing[@]} Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "all ${#packages[@]} Debian packages present"
fi

# ---- 2. BLAS: LibTorch falls back to reference BLAS (~14x slower matmul) otherwise ----
arch_triplet="$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
openblas="/usr/lib/$arch_triplet/openblas-pthread/libblas.so.3"
blas_link="/usr/lib/$arch_triplet/libblas.so.3"
if [ -e "$openblas" ] && [ "$(readlink -f "$blas_link")" != "$(readlink -f "$openblas")" ]; then
  say "pointing libblas.so.3 at OpenBLAS"
  as_root update-alternatives --set "libblas.so.3-$arch_triplet" "$openblas"
  lapack="/usr/lib/$arch_triplet/openblas-pthread/liblapack.so.3"
  [ -e "$lapack" ] && as_root update-alternatives --set "liblapack.so.3-$arch_triplet" "$lapack" || true
fi
say "libblas.so.3 -> $(readlink -f "$blas_link")"

# ---- 3. demo corpus (npm package nlp-corpus, MIT; never committed) ---------------
fetch_demo_corpus() {
  bash "$here/packaging/fetch_demo_corpus.sh" "$cache_dir/corpus/nlp-corpus.jsonl"
}
# Tests generate their own data; the demo and the lab presets need this corpus.
if [ "$mode" = "--run" ] || [ "$mode" = "build" ]; then fetch_demo_corpus; fi

# ---- 4. configure and build ------------------------------------------------------
say "building in $build_dir with $jobs jobs"
cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$jobs"

# ---- 5. the job ------------------------------------------------------------------
case "$mode" in
  --run)
    cd "$here"
    gui="$build_dir/app/depthlab/depthlab"
    if [ -x "$gui" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
      # The GUI with its local worker (runs under ./runs): the demo run, live
      # the first time; once trained, opened as it is (interventions at once).
      if [ -f runs/demo/run.h5 ]; then
        say "opening the demo experiment runs/demo in the depthlab GUI (delete runs/demo to train it again)"
        exec "$gui" --runs runs runs/demo
      fi
      say "opening the depthlab GUI and training the demo experiment live"
      exec "$gui" --runs runs --start demo
    fi
    say "no display: training the demo experiment headless (build/app/dlab/dlab train --preset demo)"
    exec "$build_dir/app/dlab/dlab" train --preset demo
    ;;
  --test)
    say "running the test suite"
    cd "$build_dir"
    exec ctest --output-on-failure -j "$jobs" --timeout 600
    ;;
  --package)
    # The install rules as two packages: dlab (the engine, enough for a GPU box)
    # and depthlab (the GUI, which depends on dlab). packaging/README.md.
    out="$build_dir/packages"
    rm -rf "$out"
    say "making the Debian packages into $out"
    cpack --config "$build_dir/CPackConfig.cmake" -G DEB -B "$out" >"$build_dir/cpack.log" ||
      { tail -n 30 "$build_dir/cpack.log" >&2; exit 1; }
    rm -rf "$out/_CPack_Packages"
    debs=("$out"/*.deb)
    say "lintian (warnings are listed and justified in packaging/README.md)"
    lintian --fail-on error --info "${debs[@]}"
    say "made: ${debs[*]}"
    say "install with: sudo apt install ${debs[*]}"
    ;;
esac
