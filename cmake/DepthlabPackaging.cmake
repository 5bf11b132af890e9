# CPack: the install rules as two Debian packages, made by
#   cpack --config <build>/CPackConfig.cmake -G DEB   (bash packaging/setup.sh --package)
#   dlab      component engine: dlab, its SentencePiece plugin, presets, man pages, bash
#             completion, the dlab-serve user unit, README and docs/ (what a GPU box needs)
#   depthlab  component gui: the Qt GUI, its menu entry, icons and AppStream metainfo;
#             depends on dlab (its local worker is `dlab serve`)
# Depends: computed by dpkg-shlibdeps from the libraries actually linked. See packaging/README.md.
# (Descriptions: no double quotes; CPack writes them into CPackConfig.cmake unescaped.)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME depthlab)
set(CPACK_PACKAGE_VENDOR "The DepthLab developers")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "DepthLab developers <dev@depthlab.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING IGNORE)  # one package per component
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "DepthLab developers <dev@depthlab.invalid>")
set(CPACK_DEBIAN_PACKAGE_SOURCE depthlab)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_COMPONENTS_ALL engine gui)
if(NOT DEPTHLAB_BUILD_GUI)
  set(CPACK_COMPONENTS_ALL engine)
endif()

set(CPACK_DEBIAN_ENGINE_PACKAGE_NAME dlab)
set(CPACK_DEBIAN_ENGINE_PACKAGE_SECTION science)
# python3 runs the demo corpus's converter (/usr/share/depthlab/corpus_to_jsonl.py),
# npm fetches it (fetch_demo_corpus.sh); shlibdeps adds the libraries.
set(CPACK_DEBIAN_ENGINE_PACKAGE_DEPENDS "python3")
# LibTorch runs its matrix products ~14x slower on the reference BLAS.
set(CPACK_DEBIAN_ENGINE_PACKAGE_RECOMMENDS "libopenblas0-pthread")
set(CPACK_DEBIAN_ENGINE_PACKAGE_SUGGESTS "npm")
string(CONCAT CPACK_COMPONENT_ENGINE_DESCRIPTION
  "engine of DepthLab: train small LLMs and analyse what each layer does\n"
  "dlab trains Llama-style decoder language models (grouped-query attention,\n"
  "mixture of experts) on LibTorch and records per-layer variance, kurtosis and\n"
  "attention sparsity and entropy to self-contained HDF5 run files. It runs\n"
  "layer-effectiveness analyses of a checkpoint (causal, permutation and\n"
  "usefulness scores, Jacobians, depth summaries), multi-process data-parallel\n"
  "training, and dlab serve, the WebSocket worker that the depthlab GUI drives\n"
  "locally or on a remote GPU box.")

set(CPACK_DEBIAN_GUI_PACKAGE_NAME depthlab)
set(CPACK_DEBIAN_GUI_PACKAGE_SECTION science)
set(CPACK_DEBIAN_GUI_PACKAGE_DEPENDS "dlab (= ${PROJECT_VERSION})")
string(CONCAT CPACK_COMPONENT_GUI_DESCRIPTION
  "desktop lab for depth and sparsity in LLMs (DepthLab)\n"
  "depthlab launches training runs, shows their per-layer statistics live,\n"
  "intervenes on their layers (skip, swap, replace a block by a linear fit) with\n"
  "the loss change at once, and shows the layer analyses as heatmaps. It drives a\n"
  "local dlab worker or a remote one over WebSocket, and browses run folders\n"
  "offline. It reproduces, at lab scale, the analyses of 'When Does Sparsity\n"
  "Mitigate the Curse of Depth in LLMs' (Muhtar et al., 2026).")

include(CPack)
