#!/usr/bin/env bash
# The Debian packages, built and run as a user gets them (packaging/README.md).
#   package_test.sh <build dir> <source dir> <case>
#   deb         cpack -G DEB; control fields and file lists; dpkg -x into a scratch root;
#               the unpacked dlab --version, dlab train --preset tiny, depthlab --version
#               and depthlab --screenshot run from there, on the unpacked files
#   completion  the bash completion offers sub-commands, options and preset names
#   metadata    desktop-file-validate and appstreamcli validate accept the desktop files
set -uo pipefail
build="$1"; src="$2"; case="$3"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/package-$case"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
version="$(sed -nE 's/^set\(CPACK_PACKAGE_VERSION "([^"]*)"\)$/\1/p' "$build/CPackConfig.cmake" 2>/dev/null)"
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }
has() { grep -qF -- "$2" <<<"$1" || fail "$3: expected '$2' in: $1"; }

case "$case" in
  deb)
    [ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"
    command -v dpkg-deb >/dev/null || skip "dpkg-deb missing"
    [ -d "$build/packaging/man/dlab" ] || fail "no man pages in $build/packaging/man (apt install help2man, rebuild)"
    cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/cpack" >cpack.log 2>&1 ||
      fail "cpack failed: $(tail -n 20 cpack.log)"
    engine="$tmp/cpack/dlab_${version}_amd64.deb"
    gui="$tmp/cpack/depthlab_${version}_amd64.deb"
    [ -f "$engine" ] && [ -f "$gui" ] || fail "expected $engine and $gui; cpack made: $(ls "$tmp/cpack")"

    # Control fields.
    for deb in "$engine" "$gui"; do
      [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "$deb: Version $(dpkg-deb -f "$deb" Version)"
      [ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail "$deb: Architecture"
      [ "$(dpkg-deb -f "$deb" Section)" = science ] || fail "$deb: Section $(dpkg-deb -f "$deb" Section)"
      [ -n "$(dpkg-deb -f "$deb" Maintainer)" ] || fail "$deb: no Maintainer"
      description="$(dpkg-deb -f "$deb" Description)"
      [ "$(wc -l <<<"$description")" -ge 4 ] || fail "$deb: no extended Description"
      # CPack writes a CMake list's ';' into the text when a description is not one string.
      grep -q ';' <<<"$description" && fail "$deb: Description has ';' in it: $description"
    done
    [ "$(dpkg-deb -f "$engine" Package)" = dlab ] || fail "engine package is not named dlab"
    [ "$(dpkg-deb -f "$gui" Package)" = depthlab ] || fail "GUI package is not named depthlab"
    # Depends from dpkg-shlibdeps: the libraries each program links, nothing it does not.
    deps="$(dpkg-deb -f "$engine" Depends)"
    for want in python3 libc6 libtorch libhdf5 libqt6websockets6 libgomp1; do has "$deps" "$want" "dlab Depends"; done
    case "$deps" in *libqt6widgets*|*libqt6gui*) fail "dlab (headless) depends on the Qt GUI libraries: $deps" ;; esac
    deps="$(dpkg-deb -f "$gui" Depends)"
    for want in "dlab (= $version)" libqt6widgets6 libqt6svg6 libhdf5; do has "$deps" "$want" "depthlab Depends"; done
    case "$deps" in *libtorch*) fail "the GUI depends on LibTorch: $deps" ;; esac
    has "$(dpkg-deb -f "$engine" Recommends)" libopenblas0-pthread "dlab Recommends"
    has "$(dpkg-deb -f "$engine" Suggests)" npm "dlab Suggests"

    # File lists: where Debian puts each kind of file, nothing outside /usr.
    dpkg-deb -c "$engine" | awk '{ print $6 }' | sed 's|^\./|/|' >engine.files
    dpkg-deb -c "$gui" | awk '{ print $6 }' | sed 's|^\./|/|' >gui.files
    triplet="$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
    for f in /usr/bin/dlab "/usr/lib/$triplet/depthlab/libdlab_spm.so" /usr/share/depthlab/presets/tiny.toml \
             /usr/share/depthlab/presets/demo.toml /usr/share/man/man1/dlab.1.gz /usr/share/man/man1/dlab-train.1.gz \
             /usr/share/man/man1/dlab-serve.1.gz /usr/share/man/man1/dlab-bench-train.1.gz \
             /usr/share/bash-completion/completions/dlab /usr/lib/systemd/user/dlab-serve.service \
             /usr/share/doc/dlab/copyright /usr/share/doc/dlab/changelog.gz /usr/share/doc/dlab/README.md \
             /usr/share/doc/dlab/docs/config.md; do
      grep -qx -- "$f" engine.files || fail "dlab package lacks $f"
    done
    for f in /usr/bin/depthlab /usr/share/applications/org.depthlab.DepthLab.desktop \
             /usr/share/metainfo/org.depthlab.DepthLab.metainfo.xml \
             /usr/share/icons/hicolor/scalable/apps/org.depthlab.DepthLab.svg \
             /usr/share/icons/hicolor/48x48/apps/org.depthlab.DepthLab.png \
             /usr/share/icons/hicolor/256x256/apps/org.depthlab.DepthLab.png \
             /usr/share/man/man1/depthlab.1.gz /usr/share/doc/depthlab; do
      grep -qx -- "$f" gui.files || fail "depthlab package lacks $f"
    done
    grep -vxE '/|/usr/.*' engine.files gui.files && fail "files outside /usr"
    grep -q '/usr/local' engine.files gui.files && fail "files under /usr/local"
    sort engine.files gui.files | grep -v '/$' | uniq -d | grep . && fail "a file in both packages"
    listing="$(dpkg-deb -c "$gui")"  # captured: grep -q would close the pipe early
    grep -q '^l.* \./usr/share/doc/depthlab -> dlab$' <<<"$listing" ||
      fail "/usr/share/doc/depthlab is not a link to dlab"
    dpkg-deb --fsys-tarfile "$engine" | tar xO ./usr/bin/dlab >dlab.bin
    file -b dlab.bin | grep -q 'not stripped' && fail "dlab is not stripped: $(file -b dlab.bin)"

    # Unpacked into a scratch root, the programs run on their own files.
    root="$tmp/root"
    dpkg -x "$engine" "$root" && dpkg -x "$gui" "$root" || fail "dpkg -x failed"
    out="$("$root/usr/bin/dlab" --version)" || fail "unpacked dlab --version failed"
    [ "$out" = "dlab $version" ] || fail "unpacked dlab --version said '$out'"
    # The unpacked presets are the ones read, ahead of the source tree's: a
    # changed copy there is what trains.
    sed -i 's/^steps = .*/steps = 7/; s/^checkpoint_every = .*/checkpoint_every = 7/' \
      "$root/usr/share/depthlab/presets/tiny.toml"
    mkdir work && cd work
    LD_DEBUG=files LD_DEBUG_OUTPUT="$tmp/ld" "$root/usr/bin/dlab" train --preset tiny --quiet \
      --set data.tokenizer=bpe --set model.vocab_size=512 --set data.cache_dir="$tmp/cache" \
      >train.log 2>&1 || fail "unpacked dlab train --preset tiny failed: $(tail -n 5 train.log)"
    [ -f runs/tiny/checkpoints/step-7.h5 ] || fail "the run did not use the unpacked preset (7 steps): $(ls runs/tiny/checkpoints)"
    # The SentencePiece tokenizer came from the unpacked plugin, not the build tree's.
    cat "$tmp"/ld.* | grep -q "file=$root/usr/lib/$triplet/depthlab/libdlab_spm.so" ||
      fail "the unpacked plugin was not loaded: $(cat "$tmp"/ld.* | grep -o 'file=[^ ]*spm[^ ]*' | head -n 3)"
    rm -f "$tmp"/ld.*
    # Without the demo corpus, the packaged dlab names its own fetch script.
    out="$("$root/usr/bin/dlab" train --preset demo --quiet --set data.cache_dir="$tmp/no-cache" 2>&1)"
    has "$out" "run \`bash $root/usr/share/depthlab/fetch_demo_corpus.sh $tmp/no-cache/corpus/nlp-corpus.jsonl\`" \
      "the packaged dlab's demo-corpus error"
    out="$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/depthlab" --version)" || fail "unpacked depthlab --version failed"
    [ "$out" = "depthlab $version" ] || fail "unpacked depthlab --version said '$out'"
    out="$(env -u DISPLAY -u WAYLAND_DISPLAY "$root/usr/bin/depthlab" --help)" || fail "depthlab --help needs a display"
    has "$out" "--connect" "depthlab --help"
    QT_QPA_PLATFORM=offscreen "$root/usr/bin/depthlab" --screenshot "$tmp/shots" runs/tiny >shot.log 2>&1 ||
      fail "unpacked depthlab --screenshot failed: $(tail -n 5 shot.log)"
    [ -s "$tmp/shots/dashboard.png" ] || fail "no dashboard screenshot: $(ls "$tmp/shots")"
    echo "ok: $(basename "$engine") $(du -k "$engine" | cut -f1) KiB, $(basename "$gui") $(du -k "$gui" | cut -f1) KiB"
    ;;

  completion)
    completion=/usr/share/bash-completion/bash_completion
    [ -f "$completion" ] || skip "bash-completion is not installed"
    dlab="$build/app/dlab/dlab"
    complete_words() {  # complete_words WORD... : COMPREPLY for the last word
      bash -c '
        source "$1"; source "$2"; shift 2
        COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _dlab dlab "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$src/packaging/completion/dlab" "$dlab" "$@"
    }
    has "$(complete_words "")" train "sub-commands"
    has "$(complete_words "")" serve "sub-commands"
    [ "$(complete_words se)" = serve ] || fail "'dlab se' completes to '$(complete_words se)'"
    has "$(complete_words train --pr)" --preset "train options"
    has "$(complete_words train --pr)" --print-config "train options"
    [ "$(complete_words train --preset ti)" = tiny ] || fail "'--preset ti' completes to '$(complete_words train --preset ti)'"
    has "$(complete_words bench "")" kernels "bench sub-commands"
    has "$(complete_words bench train --sh)" --shape "bench train options"
    has "$(complete_words serve --max)" --max-runs "serve options"
    echo "ok: sub-commands, options and presets complete"
    ;;

  metadata)
    desktop="$src/packaging/desktop/org.depthlab.DepthLab.desktop"
    metainfo="$build/packaging/org.depthlab.DepthLab.metainfo.xml"
    command -v desktop-file-validate >/dev/null || skip "desktop-file-validate missing (desktop-file-utils)"
    command -v appstreamcli >/dev/null || skip "appstreamcli missing (appstream)"
    out="$(desktop-file-validate "$desktop" 2>&1)" || fail "desktop-file-validate: $out"
    grep -q 'error' <<<"$out" && fail "desktop-file-validate: $out"
    out="$(appstreamcli validate --no-net "$metainfo" 2>&1)" || fail "appstreamcli validate: $out"
    echo "ok: desktop entry and metainfo validate"
    ;;
  *) fail "unknown case $case" ;;
esac
