// Training checkpoints (`dsv3 train`): OUT/checkpoint-<step>/ is a Hugging Face model folder
// that `dsv3 generate`/`info`/`serve` (and transformers) load directly, plus what an exact
// resume needs in a subfolder (so Hugging Face loaders, which read every *.safetensors of the
// top folder, never see it):
//   config.json                  model_config_to_json (torch_dtype bfloat16, no quantization_config)
//   generation_config.json       bos/eos ids and sampling defaults
//   model.safetensors            bf16 weights (e_score_correction_bias f32); with shared MTP
//                                embeddings the MTP layers' embed_tokens/shared_head.head are
//                                omitted (loaders then use the main ones, report 2.2)
//   tokenizer.json, tokenizer_config.json   copied from the training tokenizer
//   train_state/master.safetensors     f32 master weights, every tensor of the ParamSet
//   train_state/optimizer.safetensors  AdamW state (adamw.h names), f32
//   train_state/trainer_state.json     step, data position, seed, config hash, tokens seen
// Atomicity: everything is written into OUT/.tmp-checkpoint-<step>-<pid>, each file fsynced,
// the folders fsynced, then renamed to checkpoint-<step>; OUT/latest is a symlink replaced by
// rename (symlink to a temp name, rename over `latest`) and OUT is fsynced. A SIGKILL at any
// moment therefore leaves `latest` pointing at a complete checkpoint (or absent before the
// first). Older checkpoints beyond keep-N are removed after `latest` moves on.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/adamw.h"
#include "train/train_model.h"

namespace dsv3 {

struct TrainState {
  int64_t step = 0;            // optimizer steps completed
  uint64_t data_position = 0;  // token_shards.h data position of the next training batch
  uint64_t seed = 0;           // initialisation seed (no random numbers are drawn after init)
  std::string config_hash;     // train_config_hash of the run
  int64_t tokens_seen = 0;
};

struct CheckpointToWrite {
  const ModelConfig* config = nullptr;
  const ParamSet<float>* master = nullptr;
  std::vector<NamedBuffer> optimizer;
  TrainState state;
  std::string tokenizer_dir;
  bool share_mtp_embeddings = true;
};

// Writes OUT/checkpoint-<state.step> atomically, points OUT/latest at it and prunes older
// checkpoints so that `keep` remain. Returns the checkpoint folder.
std::string save_train_checkpoint(const std::string& out_dir, const CheckpointToWrite& ck, int64_t keep);

// Removes all but the `keep` newest checkpoint folders, never the one of `latest_step`. Also
// run on resume: a run killed between publishing a checkpoint and pruning (its last one, say,
// so nothing is saved again) would otherwise keep an extra folder.
void prune_checkpoints(const std::string& out_dir, int64_t keep, int64_t latest_step);

// The folder OUT/latest points to; empty when OUT/latest does not exist.
std::string latest_checkpoint(const std::string& out_dir);

// Removes leftovers of interrupted writes (OUT/.tmp-*) and checkpoint folders newer than
// `step` (written after the checkpoint being resumed, before `latest` moved to them).
void clean_out_dir(const std::string& out_dir, int64_t step);

struct LoadedTrainState {
  TrainState state;
  std::vector<NamedBuffer> optimizer;
};
// Reads a checkpoint's train_state into master (same config; every tensor must be present with
// its shape) and returns the optimizer buffers and trainer state. Errors name the file/tensor.
LoadedTrainState load_train_checkpoint(const std::string& dir, ParamSet<float>& master);

}  // namespace dsv3
