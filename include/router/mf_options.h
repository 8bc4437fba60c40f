// File: router/mf_options.h
//
// MfRouter's options (mf_router.h) and the parameters it learns: what the
// model is, how it is trained, and what each option does. The training
// functions themselves are in the experimental mf_trainer.h.
//
// The model, for query vector x (L2-normalised by the caller) and model m:
//   z(x)     = W x                       W: hidden_dim x dim
//   δ_m(x)   = wᵀ (v_m ⊙ z(x)) + b_m     w, v_m: hidden_dim; b_m: scalar
//   q_m(x)   = σ(δ_m(x))
// as in RouteLLM's MF router (lm-sys/RouteLLM, routers/matrix_factorization),
// with a per-model bias so that σ(δ) can be an absolute quality.
//
// Losses. Pointwise: binary cross-entropy between σ(δ_m(x)) and the observed
// score s in [0, 1] of every (row, model) cell that has one, averaged over
// cells. Pairwise (Bradley–Terry): every two models scored on the same row
// with different scores are one comparison, the higher score winning, with
// loss −log σ(δ_win(x) − δ_lose(x)), averaged over comparisons; equal scores
// (ties) are skipped. Preference data goes in a Dataset by this convention:
// a row per comparison, score 1 for the winner, 0 for the loser, and no score
// (missing) for every other model. Only differences of δ are identified by
// comparisons, so after a pairwise fit the parameters are centred (mean bias
// 0, mean v_m 0): σ(δ_m(x)) is then m's Bradley–Terry probability of beating
// a model of the pool's average strength, not an expected score.
//
// Optimisation: Adam (β1 0.9, β2 0.999, ε 1e-8) on mini-batches of rows
// shuffled every epoch, with L2 on W, w and v_m (not the biases) added to the
// gradient as λθ, like torch.optim.Adam's weight_decay. A seeded
// `validation_fraction` of the rows is held out; training stops after
// `patience` epochs without a lower validation loss and keeps the parameters
// of the best epoch. All randomness (initialisation, the split, shuffles) is
// drawn from `seed` with a platform-independent generator.
//
// Reproducibility: the same data, options and num_threads give bit-identical
// parameters on one machine (sums are reduced in a fixed order, never as
// threads finish). A different num_threads sums in a different order and may
// differ in the last bits.
//
// Threads: with num_threads = 1 (the default) training runs on the calling
// thread and starts no thread; Eigen is built single-threaded
// (EIGEN_DONT_PARALLELIZE). With num_threads = n > 1, TrainMf starts n − 1
// std::threads for its own duration, splits each mini-batch into n fixed
// shards, and joins them before returning. On the shared data (6k rows x 9
// models, d = 256) one thread fits in about 2 s (benchmarks/mf_bench.cc,
// Fit/shared/threads:N). Two threads were no faster on the 2-core machine
// this was measured on, which was busy with other work, also at d = 1024,
// h = 128 and batches of 512; whether they help on an idle multi-core
// machine has not been measured. Hence the default of 1.
#ifndef ROUTER_MF_OPTIONS_H_
#define ROUTER_MF_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "router/export.h"

namespace router {

// Progress of one training epoch.
struct MfEpochReport {
  int epoch = 0;                  // 1-based
  double train_loss = 0.0;        // mean loss over the epoch's mini-batches
  double validation_loss = 0.0;   // on the held-out rows; NaN when none
  double elapsed_seconds = 0.0;   // since training started
  bool best = false;              // the lowest validation loss so far
};

struct MfOptions {
  static constexpr const char* kKind = "mf";  // PipelineConfig::router
  enum class Loss { kPointwise, kPairwise };

  // The defaults were tuned by AIQ on a seeded 20% validation split carved
  // from the train split of the shared 9-model data (built-in featurizer,
  // default options), averaged over 5-8 seeds: h from 32 to 256 and l2 from
  // 5e-4 to 1e-3 were all within seed noise (about ±0.005 AIQ) of each
  // other; l2 = 1e-4 was 0.004 lower, l2 = 2e-3 and more fell by 0.02 or more.
  //
  // Size of the latent space (h). 1..4096.
  int hidden_dim = 64;
  // Maximum number of passes over the training rows. >= 1.
  int epochs = 300;
  // Rows per mini-batch. >= 1.
  int batch_size = 64;
  // Adam step size. > 0.
  double learning_rate = 1e-3;
  // L2 strength λ on W, w and v_m (gradient += λθ). >= 0.
  double l2 = 5e-4;
  // Share of the rows held out for early stopping, in [0, 0.9]. 0 trains for
  // `epochs` epochs and keeps the last parameters.
  double validation_fraction = 0.2;
  // Epochs without a lower validation loss before training stops. >= 1.
  int patience = 20;
  uint64_t seed = 42;
  Loss loss = Loss::kPointwise;
  // Threads for training (see the header comment). 1..256.
  int num_threads = 1;
  // OnboardModel's ridge strength, pulling the new model's v and b towards
  // the mean of the trained models', in units of labelled rows. >= 0.
  double onboard_l2 = 1.0;
  // Called after every epoch, on the thread that called Fit. An exception
  // thrown by it stops training and fails Fit (nothing escapes the library).
  // Not saved with the router's state.
  std::function<void(const MfEpochReport&)> progress;
};

// InvalidArgument naming the first option out of range.
ROUTER_EXPORT absl::Status ValidateMfOptions(const MfOptions& options);

// The learned parameters. Row-major float arrays.
struct MfParameters {
  int dim = 0;
  int hidden_dim = 0;
  int num_models = 0;
  std::vector<float> projection;  // W: hidden_dim x dim
  std::vector<float> mixing;      // w: hidden_dim
  std::vector<float> embeddings;  // v: num_models x hidden_dim
  std::vector<float> biases;      // b: num_models
};

}  // namespace router

#endif  // ROUTER_MF_OPTIONS_H_
