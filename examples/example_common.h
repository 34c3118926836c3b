#pragma once
// Shared driver of the reference article's examples: builds example N, initializes and runs it
// (traced), writes its TensorBoard logs as the article's tf.summary.FileWriter("logs/exampleN")
// does, and prints the memory report.
//
//   exampleN [--logdir DIR] [--json]     (default logdir: logs/exampleN)

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "article_models.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/summary.h"

namespace scopeflow::examples {

inline int run_article_example(int number, const char* title, int argc, char** argv) {
  std::string logdir = "logs/example" + std::to_string(number);
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--logdir") == 0 && i + 1 < argc) {
      logdir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--logdir DIR] [--json]\n", argv[0]);
      return 2;
    }
  }
  try {
    Graph graph;
    ArticleModel model = build_article_example(graph, number);
    Session session(graph);
    session.initialize_variables();
    RunStats stats;
    session.run({}, model.outputs, {}, RunOptions{.trace = true}, &stats);

    absl::StatusOr<std::unique_ptr<SummaryWriter>> writer = SummaryWriter::create(logdir);
    absl::Status status = writer.status();
    if (status.ok()) status = (*writer)->add_graph(graph, {.default_device = session.device(), .placement = &session});
    if (status.ok()) status = (*writer)->add_run_metadata("step_0", stats, 0);
    if (status.ok()) status = (*writer)->close();
    if (!status.ok()) {
      std::fprintf(stderr, "%s: writing TensorBoard logs failed: %s\n", argv[0], status.ToString().c_str());
      return 1;
    }

    const MemoryReport report = memory_report(session);
    if (json) {
      std::printf("%s\n", report.to_json().c_str());
    } else {
      std::printf("== %s ==\n%s", title, report.to_table().c_str());
      std::printf("TensorBoard logs: %s\n\n", (*writer)->path().c_str());
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
      std::fprintf(stderr, "%s: writing to standard output failed: %s\n", argv[0], std::strerror(errno));
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}

}  // namespace scopeflow::examples
