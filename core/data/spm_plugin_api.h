// The C interface of libdlab_spm, the private plugin that wraps SentencePiece.
//
// Why a plugin: Debian's libsentencepiece bundles its own protobuf-lite (3.14)
// and exports every protobuf symbol, while LibTorch loads the system
// libprotobuf (3.21). Linked into one process, the two copies interpose each
// other's symbols and the process crashes before main(), in libprotobuf's
// static initialisation. So SentencePiece is only ever loaded through this
// plugin, with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its symbols stay out of the
// global scope and it binds to its own protobuf first. Plain C, no exceptions
// across the boundary; results come back through byte sinks.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEPTHLAB_SPM_API_VERSION 1

// Receives a byte range (a message, an encoded id array, a serialized model).
typedef void (*dlab_spm_sink)(void* ctx, const char* data, size_t size);

typedef struct DlabSpm DlabSpm;

typedef int (*dlab_spm_api_version_fn)(void);
// Returns null and reports through err on failure.
typedef DlabSpm* (*dlab_spm_load_fn)(const char* model, size_t size, dlab_spm_sink err,
                                     void* err_ctx);
typedef void (*dlab_spm_free_fn)(DlabSpm* spm);
typedef int (*dlab_spm_piece_size_fn)(const DlabSpm* spm);
typedef int (*dlab_spm_eos_id_fn)(const DlabSpm* spm);
// The functions below return 0 on success, else report through err and return 1.
// encode: out receives the ids as an array of int32.
typedef int (*dlab_spm_encode_fn)(const DlabSpm* spm, const char* text, size_t size,
                                  dlab_spm_sink out, void* out_ctx, dlab_spm_sink err,
                                  void* err_ctx);
typedef int (*dlab_spm_decode_fn)(const DlabSpm* spm, const int32_t* ids, size_t n,
                                  dlab_spm_sink out, void* out_ctx, dlab_spm_sink err,
                                  void* err_ctx);
typedef int (*dlab_spm_id_to_piece_fn)(const DlabSpm* spm, int32_t id, dlab_spm_sink out,
                                       void* out_ctx);
typedef int (*dlab_spm_serialize_fn)(const DlabSpm* spm, dlab_spm_sink out, void* out_ctx);
// Trains with SentencePieceTrainer::Train(kwargs, iterator over sentences) and
// hands back the serialized model.
typedef int (*dlab_spm_train_fn)(const char* const* keys, const char* const* values, size_t n_args,
                                 const char* const* sentences, const size_t* sizes,
                                 size_t n_sentences, dlab_spm_sink model_out, void* out_ctx,
                                 dlab_spm_sink err, void* err_ctx);

#ifdef __cplusplus
}
#endif
