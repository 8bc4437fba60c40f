// A throwaway redis-server for tests that talk to a real Redis: started as a
// daemon with a password on a loopback port, in a scratch directory, with
// nothing persisted, and killed (directory removed) when the object goes.
// Callers skip first when redis-server is not installed (RedisServerInstalled).
#ifndef ROUTER_TESTS_REDIS_DAEMON_H_
#define ROUTER_TESTS_REDIS_DAEMON_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace router::testing {

inline bool RedisServerInstalled() {
  return std::system("command -v redis-server > /dev/null 2>&1") == 0;
}

class RedisDaemon {
 public:
  // False from started() when redis-server would not start.
  RedisDaemon(int port, const std::string& password, const std::string& name)
      : dir_((std::filesystem::temp_directory_path() / name).string()) {
    std::filesystem::create_directories(dir_);
    const std::string start = "redis-server --port " + std::to_string(port) +
                              " --requirepass " + password +
                              " --save '' --appendonly no --dir " + dir_ +
                              " --daemonize yes --pidfile " + dir_ + "/pid > /dev/null";
    started_ = std::system(start.c_str()) == 0;
  }
  ~RedisDaemon() {
    const std::string kill = "kill $(cat " + dir_ + "/pid) 2>/dev/null";
    (void)std::system(kill.c_str());
    std::filesystem::remove_all(dir_);
  }
  RedisDaemon(const RedisDaemon&) = delete;
  RedisDaemon& operator=(const RedisDaemon&) = delete;

  bool started() const { return started_; }

 private:
  std::string dir_;
  bool started_ = false;
};

}  // namespace router::testing

#endif  // ROUTER_TESTS_REDIS_DAEMON_H_
