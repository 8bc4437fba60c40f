// StateSync between processes, through a real Redis and its faults:
//   - three replica processes that split a feedback stream end up, with a
//     fourth process that only reads, where one learner that saw it all is;
//   - a replica killed with SIGKILL mid-stream costs only what it had not
//     published: its last row is applied exactly once, and the replicas left
//     see no failed or refused round;
//   - Redis stopped and restarted, with its data or empty: routes go on,
//     rounds fail and say so, and afterwards everything is applied exactly
//     once (an emptied store is re-seeded, nothing is counted twice).
// Each case starts a redis-server of its own on a free loopback port, in a
// temporary directory, or is skipped.
//
// A replica process is this test program run again (posix_spawn of
// /proc/self/exe) on the hidden case "[sync-replica-process]", told what to
// do through environment variables and two pipes. It is not a fork() of the
// test process: by the time replicas start, the parent has fitted a pipeline
// (FAISS k-means, so OpenMP's thread pool exists) and may run a StateSync
// thread. fork() copies only the calling thread, so a lock another thread
// held stays locked in the child, and libgomp does not survive a fork once
// its pool exists. A program started afresh has none of that, is what a real
// replica is (its own process, its own Load of the file), and behaves the
// same under ASan. posix_spawn is safe to call while threads run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "router/linucb_router.h"
#include "router/redis_sync_store.h"
#include "router/state_sync.h"
#include "router/synthetic.h"
#include "skip.h"
#include "wait_until.h"

extern char** environ;

namespace router {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kReplicas = 3;     // item i of the stream belongs to replica i % kReplicas
constexpr int kReportFd = 100;   // a replica process writes its reports here
constexpr int kControlFd = 101;  // and reads the parent's commands here
constexpr char kPrefix[] = "proc-test";

// Why a case cannot run, or nullptr.
const char* WhyNoRedis() {
  if (!RedisSyncAvailable()) return "this build has no Redis store (hiredis not found)";
  if (std::system("command -v redis-server > /dev/null 2>&1") != 0) {
    return "redis-server is not installed";
  }
  return nullptr;
}

// A temporary directory for one case: the fitted file, Redis's data, the
// replicas' estimates.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name)
      : dir(fs::temp_directory_path() /
            ("sync-process-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() { fs::remove_all(dir); }
};

// Fits the LinUCB pipeline every replica loads and saves it to `path`.
void FitTo(const std::string& path) {
  SyntheticData synthetic = GenerateSynthetic({.rows = 300, .seed = 21});
  PipelineConfig config;
  config.router = "linucb";
  config.RouterOptions<LinUcbOptions>().context_dim = 6;
  config.RouterOptions<LinUcbOptions>().clusters = 3;
  config.models = synthetic.catalog.profiles();
  config.featurizer.dim = 16;
  auto fitted = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(fitted.ok());
  REQUIRE((*fitted)->Save(path).ok());
}

std::unique_ptr<LivePipeline> LoadReplica(const std::string& path) {
  auto loaded = Pipeline::Load(path);
  REQUIRE(loaded.ok());
  return std::make_unique<LivePipeline>(std::move(loaded).value());
}

// The deterministic feedback stream and the probes estimates are compared
// on, derived from the loaded file alone, so every process derives the same.
struct Stream {
  std::vector<std::vector<float>> probes;
  std::vector<std::string> models;

  explicit Stream(const LivePipeline& live) {
    const std::shared_ptr<const Pipeline> p = live.Snapshot();
    for (int i = 0; i < 6; ++i) {
      std::vector<float> v(p->dim());
      REQUIRE(p->Embed(SyntheticPrompt(i % 4, 900 + i), absl::MakeSpan(v)).ok());
      probes.push_back(std::move(v));
    }
    for (const Profile& profile : p->catalog().profiles()) models.push_back(profile.name);
  }

  // Item `i`: a model, a score and a vector that depend on i only.
  Feedback Item(int64_t i, std::vector<float>* storage) const {
    *storage = probes[i % probes.size()];
    (*storage)[i % storage->size()] += 0.1f * static_cast<float>(i % 7);
    Feedback f;
    f.vector = *storage;
    f.model = models[i % models.size()];
    f.score = static_cast<double>(i % 5) / 4.0;
    f.cost_usd = 1e-4 * static_cast<double>(1 + i % 3);
    return f;
  }

  // Replica `index`'s items number [from, to) into `live`.
  void ObserveShare(LivePipeline& live, int index, int64_t from, int64_t to) const {
    std::vector<float> storage;
    for (int64_t j = from; j < to; ++j) {
      REQUIRE(live.Observe(Item(index + kReplicas * j, &storage)).ok());
    }
  }

  // Every estimate over the probes: quality, uncertainty and cost (x1000, so
  // that all three are of one scale).
  std::vector<double> Estimates(const LivePipeline& live) const {
    std::vector<double> out;
    for (const auto& probe : probes) {
      Query q;
      q.vector = probe;
      router::Estimates e;
      REQUIRE(live.Snapshot()->router().Estimate(q, &e).ok());
      for (const ModelEstimate& m : e.per_model) {
        out.insert(out.end(), {m.quality, m.uncertainty, m.expected_cost_usd * 1e3});
      }
    }
    return out;
  }
};

double MaxDiff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(!a.empty());
  double gap = 0.0;
  for (size_t i = 0; i < a.size(); ++i) gap = std::max(gap, std::abs(a[i] - b[i]));
  return gap;
}

// A Redis client just big enough for the test: one command, the first line
// of its reply ("" when the connection fails or closes without one).
std::string RedisCommand(int port, const std::vector<std::string>& args) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  const timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    std::string request = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) {
      request += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[256];
      ssize_t got = 0;
      while (reply.find("\r\n") == std::string::npos &&
             (got = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
        reply.append(buffer, static_cast<size_t>(got));
      }
    }
  }
  ::close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A redis-server of the test's own, a child process without persistence
// (--save ''), so its data survives a stop only through SHUTDOWN SAVE.
class RedisServer {
 public:
  explicit RedisServer(fs::path dir) : dir_(std::move(dir)), port_(FreeLoopbackPort()) {}
  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  int port() const { return port_; }
  fs::path dump() const { return dir_ / "dump.rdb"; }
  std::string Command(const std::vector<std::string>& args) const {
    return RedisCommand(port_, args);
  }

  // Starts it (again, on the same port and directory) and waits until it
  // answers.
  void Start() {
    REQUIRE(pid_ == 0);
    const std::string port = std::to_string(port_);
    const std::string dir = dir_.string(), log = (dir_ / "redis.log").string();
    std::vector<std::string> args = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", dir,
                                     "--dbfilename", "dump.rdb", "--logfile", log};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) == 0);
    const bool up = WaitUntil([&] { return Command({"PING"}) == "+PONG"; }, 0, 5000);
    INFO("redis-server on port " << port_ << " did not answer; see " << log);
    REQUIRE(up);
  }

  // Stops it: with SHUTDOWN SAVE, which writes dump.rdb for the next Start
  // to load, or with SIGKILL, which leaves nothing.
  void Stop(bool keep_data) {
    REQUIRE(pid_ > 0);
    if (keep_data) {
      CHECK(Command({"SHUTDOWN", "SAVE"}).empty());  // no reply: it is gone
    } else {
      REQUIRE(::kill(pid_, SIGKILL) == 0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = 0;
    CHECK((keep_data ? WIFEXITED(status) && WEXITSTATUS(status) == 0 : WIFSIGNALED(status)));
  }

 private:
  fs::path dir_;
  int port_;
  pid_t pid_ = 0;
};

// What one replica process does (see the hidden case at the end).
struct ReplicaPlan {
  std::string id;
  int index = 0;        // its share of the stream: items index, index + kReplicas, ...
  int64_t count = 0;    // items to observe; 0: until the parent sends 's'
  int every = 5;        // a SyncNow, then a report "published N", after every `every` items
  int pause_us = 0;     // between items
  int interval_ms = 0;  // its StateSync thread's interval; 0: no thread
};

// A replica process and its two pipes. After its items it reports
// "done N", then waits for 'f': a last round, its estimates to a file, exit.
class ReplicaProcess {
 public:
  ReplicaProcess(const fs::path& dir, const std::string& file, int port, const ReplicaPlan& plan)
      : out_((dir / (plan.id + ".estimates")).string()) {
    int report[2], control[2];
    REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(control, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 onto the fixed numbers clears O_CLOEXEC there; no other pipe end
    // leaks into the child, so EOF on a pipe means its one process is gone.
    posix_spawn_file_actions_adddup2(&actions, report[1], kReportFd);
    posix_spawn_file_actions_adddup2(&actions, control[0], kControlFd);

    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    auto set = [&](const std::string& key, const std::string& value) {
      env.push_back("ROUTER_SYNC_REPLICA_" + key + "=" + value);
    };
    set("FILE", file);
    set("PORT", std::to_string(port));
    set("OUT", out_);
    set("ID", plan.id);
    set("INDEX", std::to_string(plan.index));
    set("COUNT", std::to_string(plan.count));
    set("EVERY", std::to_string(plan.every));
    set("PAUSE_US", std::to_string(plan.pause_us));
    set("INTERVAL_MS", std::to_string(plan.interval_ms));
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string exe = fs::read_symlink("/proc/self/exe").string();
    std::string filter = "[sync-replica-process]";
    char* argv[] = {exe.data(), filter.data(), nullptr};
    const int spawned = ::posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(report[1]);
    ::close(control[0]);
    report_ = report[0];
    control_ = control[1];
    REQUIRE(spawned == 0);
  }
  ~ReplicaProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(report_);
    ::close(control_);
  }

  // The next report, or nullopt at EOF or after `timeout_ms`.
  std::optional<std::string> ReadLine(int timeout_ms = 60000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (const size_t end = buffer_.find('\n'); end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        if (line.rfind("published ", 0) == 0) last_published_ = std::stoll(line.substr(10));
        return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{report_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      char chunk[256];
      const ssize_t got = ::read(report_, chunk, sizeof chunk);
      if (got <= 0) return {};
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  // Reads reports until "<word> N" with N >= at_least; returns N, or -1.
  int64_t WaitFor(const std::string& word, int64_t at_least = 0) {
    while (std::optional<std::string> line = ReadLine()) {
      if (line->rfind(word + " ", 0) == 0) {
        if (const int64_t n = std::stoll(line->substr(word.size() + 1)); n >= at_least) return n;
      }
    }
    return -1;
  }

  // The last "published N" read so far (-1: none).
  int64_t last_published() const { return last_published_; }

  void Send(char command) { REQUIRE(::write(control_, &command, 1) == 1); }

  // Reaps it; its wait status.
  int Wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = 0;
    return status;
  }

  // SIGKILL, then reads what it reported before it died.
  void Kill() {
    REQUIRE(::kill(pid_, SIGKILL) == 0);
    const int status = Wait();
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    while (ReadLine(5000)) {
    }
  }

  // 'f', a clean exit, and the estimates it wrote.
  std::vector<double> Finish() {
    Send('f');
    const int status = Wait();
    INFO("replica process exit status " << status << " (its Catch2 output is above)");
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::ifstream in(out_, std::ios::binary);
    std::vector<double> out;
    double v = 0.0;
    while (in.read(reinterpret_cast<char*>(&v), sizeof v)) out.push_back(v);
    return out;
  }

 private:
  std::string out_;
  pid_t pid_ = 0;
  int report_ = -1, control_ = -1;
  std::string buffer_;
  int64_t last_published_ = -1;
};

std::shared_ptr<SyncStore> Connect(int port) {
  auto store = RedisSyncStore::Create({.port = port, .key_prefix = kPrefix});
  REQUIRE(store.ok());
  return std::shared_ptr<SyncStore>(std::move(store).value());
}

std::unique_ptr<StateSync> StartSync(LivePipeline& live, int port, const std::string& id,
                                     int interval_ms) {
  auto sync =
      StateSync::Start(&live, Connect(port), {.replica_id = id, .interval_ms = interval_ms});
  REQUIRE(sync.ok());
  return std::move(sync).value();
}

TEST_CASE("three replica processes and a reader equal one learner", "[sync][redis][process]") {
  if (const char* why = WhyNoRedis()) ROUTER_SKIP(why);
  Scratch scratch("three");
  const std::string file = (scratch.dir / "fitted.router").string();
  FitTo(file);
  RedisServer redis(scratch.dir);
  redis.Start();

  // Each observes 40 items of its share, with a sync thread every 10 ms and
  // a SyncNow every 10 items.
  constexpr int64_t kEach = 40;
  std::vector<std::unique_ptr<ReplicaProcess>> replicas;
  for (int r = 0; r < kReplicas; ++r) {
    replicas.push_back(std::make_unique<ReplicaProcess>(
        scratch.dir, file, redis.port(),
        ReplicaPlan{.id = "proc-" + std::to_string(r), .index = r, .count = kEach, .every = 10,
                    .interval_ms = 10}));
  }
  for (auto& replica : replicas) REQUIRE(replica->WaitFor("done") == kEach);

  auto single = LoadReplica(file);
  const Stream stream(*single);
  for (int r = 0; r < kReplicas; ++r) stream.ObserveShare(*single, r, 0, kEach);
  const std::vector<double> expected = stream.Estimates(*single);

  // The parent loads the same file; before it syncs it is far from the
  // learner (so the comparison below can fail), after one round it is there.
  auto reader = LoadReplica(file);
  REQUIRE(MaxDiff(stream.Estimates(*reader), expected) > 1e-3);
  auto sync = StartSync(*reader, redis.port(), "reader", 0);
  const SyncStatus status = sync->status();
  INFO("applied " << status.applied << ", rejected " << status.rejected << ": "
                  << status.last_error);
  CHECK(status.applied == kReplicas);  // one row per process
  CHECK(status.rejected == 0);
  CHECK(status.replicas == kReplicas + 1);
  CHECK(MaxDiff(stream.Estimates(*reader), expected) < 1e-9);
  // Another round adds nothing (a row applied twice would double its sums).
  REQUIRE(sync->SyncNow().ok());
  CHECK(MaxDiff(stream.Estimates(*reader), expected) < 1e-9);

  // Each process, after a last round, is there too.
  for (auto& replica : replicas) CHECK(MaxDiff(replica->Finish(), expected) < 1e-9);
}

TEST_CASE("a replica process killed with SIGKILL costs only what it had not published",
          "[sync][redis][process]") {
  if (const char* why = WhyNoRedis()) ROUTER_SKIP(why);
  Scratch scratch("kill");
  const std::string file = (scratch.dir / "fitted.router").string();
  FitTo(file);
  RedisServer redis(scratch.dir);
  redis.Start();

  // Two replicas observe until told to stop, syncing on a thread every 10 ms
  // and every 5 items. The victim syncs only with SyncNow, every 5 items, so
  // what it published is a multiple of 5 items of its share.
  constexpr int kEvery = 5;
  auto survivor = [&](int r) {
    return std::make_unique<ReplicaProcess>(
        scratch.dir, file, redis.port(),
        ReplicaPlan{.id = "proc-" + std::to_string(r), .index = r, .every = kEvery,
                    .pause_us = 200, .interval_ms = 10});
  };
  auto a = survivor(0), b = survivor(1);
  ReplicaProcess victim(scratch.dir, file, redis.port(),
                        ReplicaPlan{.id = "victim", .index = 2, .every = kEvery, .pause_us = 200});

  auto reader = LoadReplica(file);
  const Stream stream(*reader);
  auto sync = StartSync(*reader, redis.port(), "reader", 0);

  // Killed mid-stream, a few milliseconds after it has published 20 items.
  REQUIRE(victim.WaitFor("published", 4 * kEvery) >= 4 * kEvery);
  REQUIRE(sync->SyncNow().ok());
  std::this_thread::sleep_for(std::chrono::microseconds(std::random_device{}() % 3000));
  victim.Kill();
  const int64_t reported = victim.last_published();

  // The others go on syncing (their threads, and the reader's rounds) with
  // the victim's row in the store; then they stop observing and say how
  // much they saw.
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(sync->SyncNow().ok());
  }
  a->Send('s');
  b->Send('s');
  const int64_t seen_a = a->WaitFor("done"), seen_b = b->WaitFor("done");
  REQUIRE(seen_a > 0);
  REQUIRE(seen_b > 0);
  REQUIRE(sync->SyncNow().ok());
  CHECK(sync->status().failed_rounds == 0);
  CHECK(sync->status().rejected == 0);

  // The learner that saw everything the survivors saw, plus the first j
  // items of the victim's share: exactly one j matches the reader. A row
  // applied twice, or a later increment added whole, matches no j; a dead
  // replica's row dropped or no longer read matches j = 0 or a j below what
  // the victim reported as published.
  auto single = LoadReplica(file);
  stream.ObserveShare(*single, 0, 0, seen_a);
  stream.ObserveShare(*single, 1, 0, seen_b);
  const std::vector<double> reader_estimates = stream.Estimates(*reader);
  int64_t applied = -1;
  for (int64_t j = 0; j <= reported + 1000 && applied < 0; ++j) {
    if (MaxDiff(stream.Estimates(*single), reader_estimates) < 1e-9) {
      applied = j;
    } else {
      stream.ObserveShare(*single, 2, j, j + 1);
    }
  }
  INFO("the victim reported " << reported << " items published; the store had " << applied);
  REQUIRE(applied >= 0);
  CHECK(applied >= reported);  // it lost only what it had not published
  CHECK(applied % kEvery == 0);  // a row it published, whole
  const std::vector<double> expected = stream.Estimates(*single);
  // One item more no longer matches: the comparison resolves single items.
  stream.ObserveShare(*single, 2, applied, applied + 1);
  CHECK(MaxDiff(stream.Estimates(*single), reader_estimates) > 1e-6);

  // The survivors, after a last round, agree; they never failed a round nor
  // refused a row (they check that themselves before exiting 0).
  CHECK(MaxDiff(a->Finish(), expected) < 1e-9);
  CHECK(MaxDiff(b->Finish(), expected) < 1e-9);

  // The reader folds the victim's row into the archive, through Redis: its
  // estimates do not move, the row is gone, and a replica started afterwards
  // adds the archive and has exactly what the reader has.
  REQUIRE(sync->Fold("victim").ok());
  REQUIRE(sync->SyncNow().ok());
  CHECK(sync->status().rejected == 0);
  CHECK(MaxDiff(stream.Estimates(*reader), reader_estimates) < 1e-9);
  auto late = LoadReplica(file);
  auto late_sync = StartSync(*late, redis.port(), "late", 0);
  CHECK(late_sync->status().rejected == 0);
  CHECK(late_sync->status().replicas == 4);  // proc-0, proc-1, reader, late: no victim
  CHECK(MaxDiff(stream.Estimates(*late), reader_estimates) < 1e-9);
  CHECK(absl::IsNotFound(sync->Fold("victim")));
}

// Redis stops in the middle of a stream for about a second, then restarts
// with its data (SHUTDOWN SAVE, then it loads dump.rdb) or empty (SIGKILL,
// no dump). Three replicas in this process sync on threads every 20 ms.
//
// The issue says "Redis stopped for 10 s". This stop is shorter, because 10 s
// would add 10 s or more to each of the three test stages, and what is
// checked does not depend on the length: while the store is down a
// replica's contribution waits in the replica, whole (StateSync keeps no
// buffer of deltas to fill up: each round sends the whole contribution), and
// every round fails fast without touching the network during the store's
// backoff (RedisSyncStore: 100 ms doubling to 10 s). The length changes only
// how many rounds fail and how long after the restart the next attempt
// comes (at most the last backoff, so at most 10 s); a 1 s stop already
// spans several backoff steps and dozens of failed rounds.
void CheckRedisStopped(bool keep_data) {
  Scratch scratch(keep_data ? "restart-saved" : "restart-empty");
  const std::string file = (scratch.dir / "fitted.router").string();
  FitTo(file);
  RedisServer redis(scratch.dir);
  redis.Start();

  auto single = LoadReplica(file);
  const Stream stream(*single);
  std::vector<std::unique_ptr<LivePipeline>> lives;
  std::vector<std::unique_ptr<StateSync>> syncs;
  for (int r = 0; r < kReplicas; ++r) {
    lives.push_back(LoadReplica(file));
    syncs.push_back(StartSync(*lives.back(), redis.port(), "r" + std::to_string(r), 20));
  }
  int64_t next = 0;  // the stream's next item; it goes to a replica and to `single`
  auto feed = [&](int r) {
    std::vector<float> storage;
    const Feedback f = stream.Item(next++, &storage);
    REQUIRE(lives[r]->Observe(f).ok());
    REQUIRE(single->Observe(f).ok());
  };
  int64_t failed_routes = 0;
  auto route_all = [&] {
    Decision decision;
    for (auto& live : lives) {
      if (!live->RouteText(SyntheticPrompt(static_cast<int>(next % 4), next), &decision).ok()) {
        ++failed_routes;
      }
    }
  };
  auto converged = [&] {
    const std::vector<double> expected = stream.Estimates(*single);
    for (auto& live : lives) {
      if (MaxDiff(stream.Estimates(*live), expected) >= 1e-9) return false;
    }
    return true;
  };
  auto connected = [&] {
    for (auto& sync : syncs) {
      if (!sync->status().connected) return false;
    }
    return true;
  };

  for (int i = 0; i < 30; ++i) {
    feed(i % kReplicas);
    route_all();
  }
  REQUIRE(WaitUntil(converged, 0, 5000));
  // r2 learns nothing more: its row never changes again, so after an empty
  // restart only the check that its row is missing can write it back.
  const int64_t r2_published = syncs[2]->status().published;
  std::vector<int64_t> failed_before;
  for (auto& sync : syncs) failed_before.push_back(sync->status().failed_rounds);

  redis.Stop(keep_data);
  CHECK(fs::exists(redis.dump()) == keep_data);  // the restart will find data, or none
  const auto stopped = Clock::now();
  while (Clock::now() - stopped < std::chrono::milliseconds(1000)) {
    feed(static_cast<int>(next % 2));  // r0 and r1 only
    route_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(failed_routes == 0);  // routes never wait for, nor fail with, the store
  for (int r = 0; r < kReplicas; ++r) {
    const SyncStatus s = syncs[r]->status();
    INFO("replica r" << r << ": " << s.failed_rounds - failed_before[r] << " failed rounds, lag "
                     << s.lag_ms << " ms, last error '" << s.last_error << "'");
    CHECK_FALSE(s.connected);
    CHECK(s.failed_rounds - failed_before[r] >= 10);
    CHECK(s.lag_ms >= 900);  // no round has reached the store since the stop
    CHECK(s.last_error.find("redis") != std::string::npos);
  }
  CHECK_FALSE(converged());  // r0 and r1 have not seen each other's items

  redis.Start();
  if (keep_data) CHECK(redis.Command({"HLEN", std::string(kPrefix) + ":versions"}) == ":3");
  for (int i = 0; i < 6; ++i) {
    feed(i % 2);
    route_all();
  }
  // Each replica's next attempt comes within its last backoff (about 1.6 s
  // after a 1 s stop); then one round each delivers everything.
  REQUIRE(WaitUntil([&] { return connected() && converged(); }, 0, 8000));
  // More rounds add nothing: after an empty restart every row is new to the
  // store, and a reader that added a re-seeded row whole would count it twice.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(converged());
  CHECK(failed_routes == 0);
  // The store holds every replica's row again; r2 wrote its unchanged row
  // only if the store had lost it.
  CHECK(redis.Command({"HLEN", std::string(kPrefix) + ":versions"}) == ":3");
  CHECK(syncs[2]->status().published == r2_published + (keep_data ? 0 : 1));

  // A replica that starts now reads everything from the store alone: the
  // store is complete, and nothing in it is counted twice.
  auto late = LoadReplica(file);
  auto late_sync = StartSync(*late, redis.port(), "late", 0);
  CHECK(late_sync->status().applied == kReplicas);
  CHECK(MaxDiff(stream.Estimates(*late), stream.Estimates(*single)) < 1e-9);
  late_sync.reset();
  syncs.clear();  // before the pipelines they sync
}

TEST_CASE("Redis stopped mid-stream and restarted with its data", "[sync][redis][fault]") {
  if (const char* why = WhyNoRedis()) ROUTER_SKIP(why);
  CheckRedisStopped(/*keep_data=*/true);
}

TEST_CASE("Redis stopped mid-stream and restarted empty", "[sync][redis][fault]") {
  if (const char* why = WhyNoRedis()) ROUTER_SKIP(why);
  CheckRedisStopped(/*keep_data=*/false);
}

// ---- The replica process: this program run again by ReplicaProcess. ----

std::string Env(const char* key) {
  const char* value = std::getenv((std::string("ROUTER_SYNC_REPLICA_") + key).c_str());
  REQUIRE(value != nullptr);
  return value;
}

// Hidden ("[.]"): it runs only when asked for by its tag, as a replica.
TEST_CASE("sync replica process", "[.][sync-replica-process]") {
  if (std::getenv("ROUTER_SYNC_REPLICA_FILE") == nullptr) return;  // not a replica process
  const std::string file = Env("FILE"), id = Env("ID"), out = Env("OUT");
  const int port = std::stoi(Env("PORT")), index = std::stoi(Env("INDEX"));
  const int64_t count = std::stoll(Env("COUNT"));
  const int every = std::stoi(Env("EVERY")), pause_us = std::stoi(Env("PAUSE_US"));
  auto report = [](const std::string& line) {
    const std::string text = line + "\n";
    REQUIRE(::write(kReportFd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  };
  auto command = [](int timeout_ms) -> char {  // 0: none yet; 'x': EOF (the parent is gone)
    pollfd p{kControlFd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return 0;
    char c = 0;
    return ::read(kControlFd, &c, 1) == 1 ? c : 'x';
  };

  auto live = LoadReplica(file);
  const Stream stream(*live);
  auto sync = StartSync(*live, port, id, std::stoi(Env("INTERVAL_MS")));
  REQUIRE(sync->status().connected);
  std::vector<float> storage;
  Decision decision;
  int64_t n = 0;
  while (count == 0 || n < count) {
    REQUIRE(live->Observe(stream.Item(index + kReplicas * n, &storage)).ok());
    REQUIRE(live->RouteText(SyntheticPrompt(static_cast<int>(n % 4), n), &decision).ok());
    ++n;
    if (n % every == 0) {
      REQUIRE(sync->SyncNow().ok());
      report("published " + std::to_string(n));
    }
    if (pause_us > 0) ::usleep(static_cast<useconds_t>(pause_us));
    if (const char c = command(0); c != 0) {
      REQUIRE(c == 's');
      break;
    }
  }
  REQUIRE(sync->SyncNow().ok());
  report("done " + std::to_string(n));
  REQUIRE(command(120000) == 'f');
  REQUIRE(sync->SyncNow().ok());
  const std::vector<double> estimates = stream.Estimates(*live);
  std::ofstream(out, std::ios::binary)
      .write(reinterpret_cast<const char*>(estimates.data()),
             static_cast<std::streamsize>(estimates.size() * sizeof(double)));
  // No round failed and no row was refused in this replica's life, a
  // replica killed beside it included.
  const SyncStatus s = sync->status();
  INFO("replica " << id << ": " << s.last_error);
  CHECK(s.failed_rounds == 0);
  CHECK(s.rejected == 0);
}

}  // namespace
}  // namespace router
