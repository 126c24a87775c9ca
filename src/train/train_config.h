// `dsv3 train --config FILE`: the training configuration, one JSON object (configs/*.json).
//
//   {
//     "model": { Hugging Face config.json fields },   // or "init_from": "MODEL_DIR" (continue)
//     "data": "DIR",            // `dsv3 prepare-data` output (train/token_shards.h)
//     "tokenizer": "DIR",       // tokenizer.json + tokenizer_config.json, copied into checkpoints
//     "out_dir": "DIR",         // checkpoints, metrics.jsonl
//     "batch_size": 8, "seq_len": 256, "grad_accum_steps": 1, "total_steps": 1000,
//     "lr": 1e-3, "warmup_steps": 50, "min_lr_ratio": 0.1,            // warmup + cosine (lr_schedule.h)
//     "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1,   // AdamW (report 4.2)
//     "grad_clip": 1.0,
//     "bias_update_speed": 0.001,   // γ of aux-loss-free balancing (report 2.1.2)
//     "aux_alpha": 0.0001,          // α of the sequence-wise balance loss (report eq. 17-20)
//     "mtp_lambda": 0.3,            // λ of the MTP loss (report eq. 25); depth = model.num_nextn_predict_layers
//     "share_mtp_embeddings": true, // MTP modules use the main embedding and output head (report 2.2)
//     "seed": 0, "precision": "fp32" | "bf16" | "fp8",
//     "eval_interval": 100, "eval_batches": 8, "checkpoint_interval": 100, "keep_checkpoints": 2,
//     "log_interval": 10
//   }
// Required: data, tokenizer, out_dir, batch_size, seq_len, total_steps, lr and exactly one of
// model / init_from. Every other key has the default above. Unknown keys are errors naming the
// key. Relative paths are relative to the current directory.
// In "model", architectures/model_type default to DeepseekV3ForCausalLM/deepseek_v3, vocab_size
// to the data's tokenizer vocabulary, bos/eos_token_id to the tokenizer's, max_position_embeddings
// to max(seq_len + 1, 2048); initializer_range (default 0.02) sets the init (train_init.h).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "train/adamw.h"
#include "train/lr_schedule.h"

namespace dsv3 {

enum class Precision { kFp32, kBf16, kFp8 };
const char* precision_name(Precision p);

struct TrainConfig {
  nlohmann::json model;   // Hugging Face config.json fields (null when init_from is set)
  std::string init_from;  // model folder to continue training from
  std::string data, tokenizer, out_dir;
  int64_t batch_size = 0, seq_len = 0, grad_accum_steps = 1, total_steps = 0;
  LrSchedule schedule;  // lr, warmup_steps, min_lr_ratio; total_steps mirrors total_steps
  AdamWConfig adamw;
  double grad_clip = 1.0;
  double bias_update_speed = 0.001;
  double aux_alpha = 0.0001;
  double mtp_lambda = 0.3;
  bool share_mtp_embeddings = true;
  uint64_t seed = 0;
  Precision precision = Precision::kFp32;
  int64_t eval_interval = 100, eval_batches = 8;
  int64_t checkpoint_interval = 100, keep_checkpoints = 2;
  int64_t log_interval = 10;

  nlohmann::json raw;  // the parsed file
};

// Parses and validates; `source` names the file in errors ("FILE: unknown key 'x'").
TrainConfig parse_train_config(const std::string& json_text, const std::string& source);
TrainConfig load_train_config(const std::string& path);

// Hash (hex sha256) of every setting that changes the numbers a run produces: all keys except
// the bookkeeping ones (out_dir, eval_interval, eval_batches, checkpoint_interval,
// keep_checkpoints, log_interval). A resumed run must have the same hash.
std::string train_config_hash(const TrainConfig& c);

}  // namespace dsv3
