#include "router/mf_trainer.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <new>
#include <system_error>
#include <thread>
#include <utility>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "fmt/format.h"
#include "internal/option_schemas.h"
#include "internal/random.h"
#include "router/status.h"

namespace router {
namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;
using MatrixMap = Eigen::Map<const Matrix>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kEpsilon = 1e-8f;

// log(1 + e^x) without overflow.
double Softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct Model {
  Matrix W;  // h x d
  Vector w;  // h
  Matrix V;  // M x h
  Vector b;  // M
};

// What the loss sees of the training rows: per row its scored cells or, for
// the pairwise loss, its comparisons (winner, loser) in CSR form.
struct Targets {
  bool pairwise = false;
  int num_models = 0;
  absl::Span<const double> scores;   // rows x M
  std::vector<int64_t> pair_offset;  // rows + 1
  std::vector<std::pair<int, int>> pairs;
  std::vector<int64_t> units;        // per row: cells or comparisons

  int64_t Units(absl::Span<const int64_t> rows) const {
    int64_t n = 0;
    for (int64_t r : rows) n += units[r];
    return n;
  }
};

Targets MakeTargets(absl::Span<const double> scores, int64_t rows, int num_models,
                    bool pairwise) {
  Targets t;
  t.pairwise = pairwise;
  t.num_models = num_models;
  t.scores = scores;
  t.units.assign(rows, 0);
  if (pairwise) t.pair_offset.assign(rows + 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    const double* s = scores.data() + r * num_models;
    for (int a = 0; a < num_models; ++a) {
      if (std::isnan(s[a])) continue;
      if (!pairwise) {
        ++t.units[r];
        continue;
      }
      for (int b = a + 1; b < num_models; ++b) {
        if (std::isnan(s[b]) || s[a] == s[b]) continue;
        t.pairs.push_back(s[a] > s[b] ? std::make_pair(a, b) : std::make_pair(b, a));
        ++t.units[r];
      }
    }
    if (pairwise) t.pair_offset[r + 1] = static_cast<int64_t>(t.pairs.size());
  }
  return t;
}

// One thread's share of a mini-batch: its scratch and its partial gradients.
struct Shard {
  Matrix x, z, logits, g, gz;
  Matrix gW, gU;
  Vector gb;
  double loss = 0.0;
  bool failed = false;
};

// Loss and (if `grad`) gradients of the rows `rows` into `shard`; the
// gradient is scaled by `inv_units` (1 / units of the whole batch).
void Evaluate(const Model& model, const Matrix& U, MatrixMap X, const Targets& targets,
              absl::Span<const int64_t> rows, double inv_units, bool grad, Shard* shard) {
  const int64_t n = static_cast<int64_t>(rows.size());
  const int M = targets.num_models;
  shard->loss = 0.0;
  if (grad) {
    shard->gW.setZero(model.W.rows(), model.W.cols());
    shard->gU.setZero(U.rows(), U.cols());
    shard->gb.setZero(M);
  }
  if (n == 0) return;
  shard->x.resize(n, X.cols());
  for (int64_t i = 0; i < n; ++i) shard->x.row(i) = X.row(rows[i]);
  shard->z.noalias() = shard->x * model.W.transpose();
  shard->logits.noalias() = shard->z * U.transpose();
  shard->logits.rowwise() += model.b.transpose();
  if (grad) shard->g.setZero(n, M);
  double loss = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = rows[i];
    const float* l = shard->logits.row(i).data();
    if (targets.pairwise) {
      for (int64_t k = targets.pair_offset[r]; k < targets.pair_offset[r + 1]; ++k) {
        const auto [win, lose] = targets.pairs[k];
        const double margin = static_cast<double>(l[win]) - l[lose];
        loss += Softplus(-margin);
        if (grad) {
          const double d = (Sigmoid(margin) - 1.0) * inv_units;
          shard->g(i, win) += static_cast<float>(d);
          shard->g(i, lose) -= static_cast<float>(d);
        }
      }
    } else {
      const double* s = targets.scores.data() + r * M;
      for (int m = 0; m < M; ++m) {
        if (std::isnan(s[m])) continue;
        loss += Softplus(l[m]) - s[m] * l[m];
        if (grad) shard->g(i, m) = static_cast<float>((Sigmoid(l[m]) - s[m]) * inv_units);
      }
    }
  }
  shard->loss = loss;
  if (!grad) return;
  shard->gU.noalias() = shard->g.transpose() * shard->z;
  shard->gb = shard->g.colwise().sum().transpose();
  shard->gz.noalias() = shard->g * U;
  shard->gW.noalias() = shard->gz.transpose() * shard->x;
}

// Runs fn(0..threads-1) on the calling thread and threads-1 workers that
// live as long as the runner; Run returns when every shard is done.
class ShardRunner {
 public:
  explicit ShardRunner(int threads) : threads_(threads), start_(threads), done_(threads) {
    try {
      for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { Loop(t); });
    } catch (...) {
      Stop();
      throw;
    }
  }
  ~ShardRunner() { Stop(); }
  ShardRunner(const ShardRunner&) = delete;
  ShardRunner& operator=(const ShardRunner&) = delete;

  void Run(const std::function<void(int)>& fn) {
    if (workers_.empty()) {
      fn(0);
      return;
    }
    fn_ = &fn;
    start_.arrive_and_wait();
    fn(0);
    done_.arrive_and_wait();
  }

 private:
  void Loop(int t) {
    for (;;) {
      start_.arrive_and_wait();
      if (quit_) return;
      (*fn_)(t);
      done_.arrive_and_wait();
    }
  }
  void Stop() {
    if (workers_.empty()) return;
    quit_ = true;
    // Threads that did start wait at start_; the ones that failed to start
    // would never arrive, so drop them from the barrier.
    for (int t = static_cast<int>(workers_.size()) + 1; t < threads_; ++t) start_.arrive_and_drop();
    start_.arrive_and_wait();
    for (std::thread& w : workers_) w.join();
    workers_.clear();
  }

  int threads_;
  std::barrier<> start_, done_;
  std::atomic<bool> quit_{false};
  const std::function<void(int)>* fn_ = nullptr;
  std::vector<std::thread> workers_;
};

// The shards of `rows`: `count` contiguous, nearly equal parts.
absl::Span<const int64_t> ShardOf(absl::Span<const int64_t> rows, int t, int count) {
  const size_t n = rows.size();
  const size_t begin = n * t / count, end = n * (t + 1) / count;
  return rows.subspan(begin, end - begin);
}

void AdamStep(float* param, const float* grad, float* m, float* v, int64_t size, float lr,
              float bc1, float bc2) {
  for (int64_t i = 0; i < size; ++i) {
    m[i] = kBeta1 * m[i] + (1.0f - kBeta1) * grad[i];
    v[i] = kBeta2 * v[i] + (1.0f - kBeta2) * grad[i] * grad[i];
    param[i] -= lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + kEpsilon);
  }
}

// Makes δ's mean over models zero for every x (pairwise loss: only
// differences are identified).
void Centre(Model* model) {
  const Eigen::RowVectorXf mean_v = model->V.colwise().mean();
  model->V.rowwise() -= mean_v;
  model->b.array() -= model->b.mean();
}

MfParameters ToParameters(const Model& model) {
  MfParameters p;
  p.dim = static_cast<int>(model.W.cols());
  p.hidden_dim = static_cast<int>(model.W.rows());
  p.num_models = static_cast<int>(model.V.rows());
  p.projection.assign(model.W.data(), model.W.data() + model.W.size());
  p.mixing.assign(model.w.data(), model.w.data() + model.w.size());
  p.embeddings.assign(model.V.data(), model.V.data() + model.V.size());
  p.biases.assign(model.b.data(), model.b.data() + model.b.size());
  return p;
}

// The seeded split: a shuffled order of the rows, its first
// floor(validation_fraction * rows) held out; each part sorted.
void SplitRows(int64_t rows, const MfOptions& options, std::vector<int64_t>* train,
               std::vector<int64_t>* val) {
  std::vector<int64_t> order(rows);
  for (int64_t r = 0; r < rows; ++r) order[r] = r;
  internal::SplitMix64 split_rng(internal::Mix64(options.seed ^ 0x5eed0001ULL));
  for (int64_t i = rows - 1; i > 0; --i) {
    std::swap(order[i], order[static_cast<int64_t>(split_rng.Uniform() * (i + 1))]);
  }
  const int64_t n_val = static_cast<int64_t>(std::floor(options.validation_fraction * rows));
  val->assign(order.begin(), order.begin() + n_val);
  train->assign(order.begin() + n_val, order.end());
  std::sort(val->begin(), val->end());
  std::sort(train->begin(), train->end());
}

// Small random W and v, w = 1, and biases at each model's mean training
// score (pointwise loss; 0 for pairwise, where only differences count).
Model InitialModel(int dim, int num_models, absl::Span<const double> scores,
                   absl::Span<const int64_t> train, const MfOptions& options) {
  const int h = options.hidden_dim;
  internal::SplitMix64 init_rng(internal::Mix64(options.seed ^ 0x5eed0002ULL));
  Model model;
  model.W.resize(h, dim);
  const float w_scale = static_cast<float>(1.0 / std::sqrt(dim));
  for (int64_t i = 0; i < model.W.size(); ++i) {
    model.W.data()[i] = w_scale * static_cast<float>(init_rng.Gaussian());
  }
  model.V.resize(num_models, h);
  const float v_scale = static_cast<float>(1.0 / std::sqrt(h));
  for (int64_t i = 0; i < model.V.size(); ++i) {
    model.V.data()[i] = v_scale * static_cast<float>(init_rng.Gaussian());
  }
  model.w.setOnes(h);
  model.b.setZero(num_models);
  if (options.loss == MfOptions::Loss::kPairwise) return model;
  for (int m = 0; m < num_models; ++m) {
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t r : train) {
      const double s = scores[r * num_models + m];
      if (!std::isnan(s)) sum += s, ++count;
    }
    const double mean = std::clamp(count > 0 ? sum / count : 0.5, 0.01, 0.99);
    model.b[m] = static_cast<float>(std::log(mean / (1.0 - mean)));
  }
  return model;
}

// Mini-batch Adam on `model`, each batch's loss and gradients computed by
// `num_threads` shards and reduced in shard order, so the result does not
// depend on timing.
class AdamTrainer {
 public:
  AdamTrainer(Model* model, MatrixMap X, const Targets& targets, const MfOptions& options)
      : model_(model), X_(X), targets_(targets), threads_(options.num_threads),
        lr_(static_cast<float>(options.learning_rate)), l2_(static_cast<float>(options.l2)),
        adam_m_{Matrix::Zero(model->W.rows(), model->W.cols()), Vector::Zero(model->w.size()),
                Matrix::Zero(model->V.rows(), model->V.cols()), Vector::Zero(model->b.size())},
        adam_v_(adam_m_), shards_(threads_), runner_(threads_) {}

  // One step on `batch`, which has `units` > 0; adds its loss to *loss.
  // False when a shard ran out of memory.
  bool Step(absl::Span<const int64_t> batch, int64_t units, double* loss) {
    Model& model = *model_;
    U_ = model.V.array().rowwise() * model.w.transpose().array();
    if (!Run(batch, 1.0 / static_cast<double>(units), true)) return false;
    Matrix& gW = shards_[0].gW;
    Matrix& gU = shards_[0].gU;
    Vector& gb = shards_[0].gb;
    for (int t = 1; t < threads_; ++t) {
      gW += shards_[t].gW;
      gU += shards_[t].gU;
      gb += shards_[t].gb;
    }
    for (const Shard& s : shards_) *loss += s.loss;
    gV_ = gU.array().rowwise() * model.w.transpose().array();
    gw_ = (gU.array() * model.V.array()).colwise().sum().transpose();
    gW += l2_ * model.W;
    gV_ += l2_ * model.V;
    gw_ += l2_ * model.w;
    ++step_;
    const float bc1 = static_cast<float>(1.0 - std::pow(double{kBeta1}, step_));
    const float bc2 = static_cast<float>(1.0 - std::pow(double{kBeta2}, step_));
    Update(model.W.data(), gW.data(), adam_m_.W.data(), adam_v_.W.data(), model.W.size(), bc1,
           bc2);
    Update(model.V.data(), gV_.data(), adam_m_.V.data(), adam_v_.V.data(), model.V.size(), bc1,
           bc2);
    Update(model.w.data(), gw_.data(), adam_m_.w.data(), adam_v_.w.data(), model.w.size(), bc1,
           bc2);
    Update(model.b.data(), gb.data(), adam_m_.b.data(), adam_v_.b.data(), model.b.size(), bc1,
           bc2);
    return true;
  }

  // Adds the loss over `rows` to *loss, in chunks that bound the scratch
  // memory. False when a shard ran out of memory.
  bool Loss(absl::Span<const int64_t> rows, double* loss) {
    U_ = model_->V.array().rowwise() * model_->w.transpose().array();
    constexpr int64_t kChunk = 4096;
    for (int64_t start = 0; start < static_cast<int64_t>(rows.size()); start += kChunk) {
      if (!Run(rows.subspan(start, kChunk), 0.0, false)) return false;
      for (const Shard& s : shards_) *loss += s.loss;
    }
    return true;
  }

 private:
  bool Run(absl::Span<const int64_t> batch, double inv_units, bool grad) {
    runner_.Run([&](int t) {
      try {
        Evaluate(*model_, U_, X_, targets_, ShardOf(batch, t, threads_), inv_units, grad,
                 &shards_[t]);
      } catch (...) {
        shards_[t].failed = true;
      }
    });
    for (const Shard& s : shards_) {
      if (s.failed) return false;
    }
    return true;
  }

  void Update(float* param, const float* grad, float* m, float* v, int64_t size, float bc1,
              float bc2) const {
    AdamStep(param, grad, m, v, size, lr_, bc1, bc2);
  }

  Model* model_;
  MatrixMap X_;
  const Targets& targets_;
  int threads_;
  float lr_, l2_;
  Model adam_m_, adam_v_;
  std::vector<Shard> shards_;
  ShardRunner runner_;
  int64_t step_ = 0;
  Matrix U_, gV_;
  Vector gw_;
};

absl::StatusOr<MfTrainingResult> Train(absl::Span<const float> vectors, int dim,
                                       absl::Span<const double> scores, int num_models,
                                       const MfOptions& options) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point started = Clock::now();
  const int64_t rows = static_cast<int64_t>(scores.size()) / num_models;
  const bool pairwise = options.loss == MfOptions::Loss::kPairwise;
  const Targets targets = MakeTargets(scores, rows, num_models, pairwise);
  std::vector<int64_t> train, val;
  SplitRows(rows, options, &train, &val);
  const int64_t train_units = targets.Units(train), val_units = targets.Units(val);
  if (train_units == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "mf: the training rows have nothing to learn from (no {})",
        pairwise ? "comparison: two models with different scores on one row" : "score"));
  }

  Model model = InitialModel(dim, num_models, scores, train, options);
  AdamTrainer trainer(&model, MatrixMap(vectors.data(), rows, dim), targets, options);
  Model best = model;
  MfTrainingResult result;
  result.best_validation_loss = kNaN;
  internal::SplitMix64 shuffle_rng(internal::Mix64(options.seed ^ 0x5eed0003ULL));
  int since_best = 0;
  const absl::Status out_of_memory = absl::ResourceExhaustedError("mf: out of memory in training");
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    for (int64_t i = static_cast<int64_t>(train.size()) - 1; i > 0; --i) {
      std::swap(train[i], train[static_cast<int64_t>(shuffle_rng.Uniform() * (i + 1))]);
    }
    double epoch_loss = 0.0;
    for (int64_t start = 0; start < static_cast<int64_t>(train.size());
         start += options.batch_size) {
      const auto batch = absl::MakeConstSpan(train).subspan(start, options.batch_size);
      const int64_t units = targets.Units(batch);
      if (units > 0 && !trainer.Step(batch, units, &epoch_loss)) return out_of_memory;
    }
    MfEpochReport report{.epoch = epoch,
                         .train_loss = epoch_loss / static_cast<double>(train_units),
                         .validation_loss = kNaN};
    if (val_units > 0) {
      double val_loss = 0.0;
      if (!trainer.Loss(val, &val_loss)) return out_of_memory;
      report.validation_loss = val_loss / static_cast<double>(val_units);
      report.best = !(report.validation_loss >= result.best_validation_loss);  // NaN: first
      if (report.best) {
        result.best_validation_loss = report.validation_loss;
        result.best_epoch = epoch;
        best = model;
      }
      since_best = report.best ? 0 : since_best + 1;
    } else {
      report.best = true;
      result.best_epoch = epoch;
    }
    result.epochs_run = epoch;
    report.elapsed_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (options.progress) {
      try {
        options.progress(report);
      } catch (...) {
        return absl::AbortedError(
            fmt::format("mf: the progress callback threw in epoch {}", epoch));
      }
    }
    if (val_units > 0 && since_best >= options.patience) break;
  }
  if (val_units > 0) model = std::move(best);
  if (pairwise) Centre(&model);
  if (!model.W.allFinite() || !model.V.allFinite() || !model.w.allFinite() || !model.b.allFinite()) {
    return absl::InternalError("mf: training diverged (non-finite parameters)");
  }
  result.parameters = ToParameters(model);
  return result;
}

}  // namespace

absl::Status ValidateMfOptions(const MfOptions& o) { return internal::CheckRanges(o); }

absl::StatusOr<MfTrainingResult> TrainMf(absl::Span<const float> vectors, int dim,
                                         absl::Span<const double> scores, int num_models,
                                         const MfOptions& options) {
  if (absl::Status s = ValidateMfOptions(options); !s.ok()) return s;
  if (dim < 1 || num_models < 1 || scores.empty() || scores.size() % num_models != 0 ||
      vectors.size() != scores.size() / num_models * dim) {
    return absl::InvalidArgumentError(fmt::format(
        "mf: inconsistent training sizes ({} vector values, {} scores, dim {}, {} models)",
        vectors.size(), scores.size(), dim, num_models));
  }
  for (double s : scores) {
    if (!std::isnan(s) && !(s >= 0.0 && s <= 1.0)) {
      return absl::InvalidArgumentError(fmt::format("mf: score {} outside [0, 1]", s));
    }
  }
  for (float v : vectors) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("mf: non-finite training vector");
  }
  try {
    return Train(vectors, dim, scores, num_models, options);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("mf: out of memory in training");
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        fmt::format("mf: could not start training threads: {}", e.what()));
  }
}

namespace {

// FitModelEmbedding's inputs agree in size and hold usable values; returns
// the number of rows of `vectors`.
absl::StatusOr<int64_t> CheckOnboardingInputs(const MfParameters& frozen,
                                              absl::Span<const float> vectors,
                                              absl::Span<const MfObservation> observations,
                                              absl::Span<const float> prior, double l2) {
  const int h = frozen.hidden_dim, d = frozen.dim;
  const int64_t rows = d > 0 ? static_cast<int64_t>(vectors.size()) / d : 0;
  if (h < 1 || d < 1 || frozen.projection.size() != static_cast<size_t>(h) * d ||
      frozen.mixing.size() != static_cast<size_t>(h) ||
      vectors.size() != static_cast<size_t>(rows) * d ||
      prior.size() != static_cast<size_t>(h) + 1) {
    return absl::InvalidArgumentError("mf: inconsistent sizes for the new model's fit");
  }
  if (observations.empty()) return absl::InvalidArgumentError("mf: no labelled observation");
  if (!(l2 > 0.0) || !std::isfinite(l2)) {
    return absl::InvalidArgumentError("mf: the onboarding ridge must be > 0");
  }
  for (const MfObservation& o : observations) {
    if (o.row < 0 || o.row >= rows || !(o.target >= 0.0 && o.target <= 1.0) ||
        !std::isfinite(o.offset)) {
      return absl::InvalidArgumentError("mf: invalid labelled observation");
    }
  }
  return rows;
}

}  // namespace

absl::StatusOr<std::vector<float>> FitModelEmbedding(const MfParameters& frozen,
                                                     absl::Span<const float> vectors,
                                                     absl::Span<const MfObservation> observations,
                                                     absl::Span<const float> prior, double l2) {
  ROUTER_ASSIGN_OR_RETURN(const int64_t rows,
                          CheckOnboardingInputs(frozen, vectors, observations, prior, l2));
  const int h = frozen.hidden_dim, d = frozen.dim;
  try {
    // Features w ⊙ (W x) of every labelled row, plus a constant for the bias.
    const MatrixMap W(frozen.projection.data(), h, d);
    const MatrixMap X(vectors.data(), rows, d);
    const Eigen::Map<const Vector> w(frozen.mixing.data(), h);
    Matrix Z = X * W.transpose();
    Z.array().rowwise() *= w.transpose().array();
    const int64_t n = static_cast<int64_t>(observations.size());
    Eigen::MatrixXd phi(n, h + 1);
    Eigen::VectorXd target(n), offset(n);
    for (int64_t i = 0; i < n; ++i) {
      phi.row(i).head(h) = Z.row(observations[i].row).cast<double>();
      phi(i, h) = 1.0;
      target[i] = observations[i].target;
      offset[i] = observations[i].offset;
    }
    const Eigen::VectorXd theta0 =
        Eigen::Map<const Eigen::VectorXf>(prior.data(), h + 1).cast<double>();
    auto objective = [&](const Eigen::VectorXd& theta) {
      const Eigen::VectorXd eta = phi * theta + offset;
      double f = l2 * (theta - theta0).squaredNorm();
      for (int64_t i = 0; i < n; ++i) f += Softplus(eta[i]) - target[i] * eta[i];
      return f;
    };
    Eigen::VectorXd theta = theta0;
    double f = objective(theta);
    for (int iteration = 0; iteration < 100; ++iteration) {
      const Eigen::VectorXd eta = phi * theta + offset;
      Eigen::VectorXd residual(n), weight(n);
      for (int64_t i = 0; i < n; ++i) {
        const double p = Sigmoid(eta[i]);
        residual[i] = p - target[i];
        weight[i] = p * (1.0 - p);
      }
      const Eigen::VectorXd gradient = phi.transpose() * residual + 2.0 * l2 * (theta - theta0);
      Eigen::MatrixXd hessian = phi.transpose() * weight.asDiagonal() * phi;
      hessian.diagonal().array() += 2.0 * l2;
      const Eigen::VectorXd newton = hessian.ldlt().solve(gradient);
      // Step halving keeps every step a descent step.
      double alpha = 1.0, f_new = f;
      Eigen::VectorXd candidate = theta;
      for (; alpha > 1e-12; alpha *= 0.5) {
        candidate = theta - alpha * newton;
        f_new = objective(candidate);
        if (f_new <= f) break;
      }
      if (!(f_new <= f)) break;  // no descent left: at the optimum
      const double moved = (candidate - theta).lpNorm<Eigen::Infinity>();
      theta = candidate;
      f = f_new;
      if (moved < 1e-9) break;
    }
    if (!theta.allFinite()) return absl::InternalError("mf: the new model's fit diverged");
    std::vector<float> out(h + 1);
    for (int k = 0; k <= h; ++k) out[k] = static_cast<float>(theta[k]);
    return out;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("mf: out of memory fitting the new model");
  }
}

}  // namespace router
