// The C++ C-ABI tests' two-topic dataset (JSONL): even rows are code
// prompts, scored 1 by "coder" and 0 by "writer"; odd rows are poems, scored
// the other way round. Routers fitted on it must send code to "coder" and
// poems to "writer".
#ifndef ROUTER_TESTS_CAPI_TOPIC_DATASET_H_
#define ROUTER_TESTS_CAPI_TOPIC_DATASET_H_

#include <filesystem>
#include <fstream>
#include <string>

namespace router_test {

// Writes `rows` rows to `path` and returns the path. With `with_costs`, each
// row also has the costs coder 0.002, writer 0.001.
inline std::string WriteTopicDataset(const std::filesystem::path& path, int rows,
                                     bool with_costs) {
  const char* code[] = {"python", "function", "code", "bug", "compile", "segfault", "debug"};
  const char* poem[] = {"poem", "story", "rhyme", "novel", "verse", "stanza", "sonnet"};
  std::ofstream out(path);
  for (int row = 0; row < rows; ++row) {
    const bool is_code = row % 2 == 0;
    const char** words = is_code ? code : poem;
    out << "{\"id\": \"r" << row << "\", \"prompt\": \"";
    for (int j = 0; j < 4; ++j) out << words[(row + 3 * j) % 7] << ' ';
    out << "\", \"scores\": {\"coder\": " << (is_code ? 1 : 0)
        << ", \"writer\": " << (is_code ? 0 : 1) << "}";
    if (with_costs) out << ", \"costs\": {\"coder\": 0.002, \"writer\": 0.001}";
    out << "}\n";
  }
  return path.string();
}

}  // namespace router_test

#endif  // ROUTER_TESTS_CAPI_TOPIC_DATASET_H_
