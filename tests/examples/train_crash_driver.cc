// Crash test of train's checkpoints: runs `train --save-every=1` (resuming with --resume once a
// checkpoint exists) and SIGKILLs it at random moments. After every kill the newest checkpoint
// that latest_checkpoint names must read back completely (every tensor, checksums verified) and
// be no older than the one before the kill; every few kills an unkilled `train --resume` must
// continue from it; at the end the run, resumed after all its kills, must end with the same
// checkpoint (variables, slots, beta powers, step), byte for byte, as an uninterrupted run.
// Then the newest checkpoint's index (in its last block, the table footer), and then its data
// file, is cut short and `train --resume` must fail cleanly (exit 1, a message naming it) and
// leave every file of the folder as it was (the library's own tests cut at every offset).
// Last, --init-from a checkpoint that holds none of the model's variables is refused.
//
// 100 kills take 6 to 70 s on 2 busy cores (a run of 20 steps with a durable save after each
// takes 0.1 to 0.8 s, mostly fsync); the test's TIMEOUT allows for the slow end.
//
//   train_crash_driver TRAIN WORK_DIR KILLS SEED
//
// Exit status 0 when every check held; 1 with a message otherwise.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "scopeflow/checkpoint.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A small model and few steps: a run lasts well under a second, so that many kills fit.
constexpr int kSteps = 20;
const std::vector<std::string> kModelFlags = {"--model=mlp", "--width=16",        "--depth=1",
                                              "--batch=128", "--optimizer=adam",  "--eval-every=0",
                                              "--logdir=",   "--check-numerics=0", "--json",
                                              "--quiet"};

// The model's flags with --steps.
std::vector<std::string> flags(int steps = kSteps) {
  std::vector<std::string> args = kModelFlags;
  args.push_back("--steps=" + std::to_string(steps));
  return args;
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "train_crash_driver: FAILED: %s\n", message.c_str());
  std::exit(1);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Child {
  pid_t pid = -1;
};

// Starts train with `args`, stdout and stderr into files of `log_dir`.
Child start(const std::string& train, const std::vector<std::string>& args, const fs::path& log_dir) {
  const std::string out = (log_dir / "stdout").string();
  const std::string err = (log_dir / "stderr").string();
  const pid_t pid = fork();
  if (pid < 0) fail("fork failed");
  if (pid == 0) {
    const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0) _exit(127);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(train.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(train.c_str(), argv.data());
    _exit(127);
  }
  return {pid};
}

// Waits for the child; its exit status, or -signal when a signal ended it.
int wait_for(const Child& child) {
  int status = 0;
  while (waitpid(child.pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid failed");
  }
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

struct Result {
  int status = 0;
  std::string out, err;
};

Result run(const std::string& train, const std::vector<std::string>& args, const fs::path& log_dir) {
  const Child child = start(train, args, log_dir);
  Result r;
  r.status = wait_for(child);
  r.out = read_text(log_dir / "stdout");
  r.err = read_text(log_dir / "stderr");
  return r;
}

std::vector<std::string> with(std::vector<std::string> args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Every file of a folder with its contents.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) files[e.path().filename().string()] = read_text(e.path());
  return files;
}

// The checkpoint latest_checkpoint names, read back completely; its step. nullopt: none yet.
std::optional<int64_t> check_latest(const fs::path& dir, const std::string& when) {
  absl::StatusOr<std::string> latest = scopeflow::latest_checkpoint(dir.string());
  if (!latest.ok()) {
    if (!fs::exists(dir / "checkpoint")) return std::nullopt;
    fail(when + ": latest_checkpoint fails although the folder has a checkpoint file: " +
         std::string(latest.status().message()));
  }
  absl::StatusOr<std::vector<scopeflow::CheckpointTensorInfo>> infos = scopeflow::list_variables(*latest);
  if (!infos.ok()) fail(when + ": " + *latest + " cannot be listed: " + std::string(infos.status().message()));
  std::optional<int64_t> step;
  for (const scopeflow::CheckpointTensorInfo& info : *infos) {
    absl::StatusOr<scopeflow::Tensor> value = scopeflow::load_variable(*latest, info.name);
    if (!value.ok()) fail(when + ": " + *latest + ": " + info.name + ": " + std::string(value.status().message()));
    if (info.name == scopeflow::kGlobalStepKey) step = value->to_vector<int64_t>()[0];
  }
  if (!step) fail(when + ": " + *latest + " holds no global_step");
  if (*latest != (dir / ("model.ckpt-" + std::to_string(*step))).string()) {
    fail(when + ": latest_checkpoint names " + *latest + " but it holds step " + std::to_string(*step));
  }
  return step;
}

std::string final_checkpoint(const fs::path& dir) {
  const fs::path prefix = dir / ("model.ckpt-" + std::to_string(kSteps));
  return read_text(prefix.string() + ".index") + "|" + read_text(prefix.string() + ".data-00000-of-00001");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: train_crash_driver TRAIN WORK_DIR KILLS SEED\n");
    return 2;
  }
  const std::string train = argv[1];
  const fs::path work = argv[2];
  const int kills = std::atoi(argv[3]);
  std::mt19937_64 rng(std::strtoull(argv[4], nullptr, 10));
  fs::remove_all(work);
  fs::create_directories(work / "logs");
  const auto test_start = Clock::now();

  // The uninterrupted run, timed: kills land anywhere in a run's life, start-up included.
  const fs::path reference = work / "reference";
  const auto t0 = Clock::now();
  const Result ref = run(train, with(flags(), {"--save-every=1", "--checkpoint-dir=" + reference.string()}), work / "logs");
  const double run_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (ref.status != 0) fail("the uninterrupted run failed (" + std::to_string(ref.status) + "): " + ref.err);
  const std::string expected = final_checkpoint(reference);
  std::printf("uninterrupted run: %d steps with a checkpoint after each in %.3f s\n", kSteps, run_seconds);

  const fs::path dir = work / "run";
  int done_kills = 0, completed_runs = 0, resume_checks = 0, early_kills = 0;
  int64_t last_step = -1;  // the newest checkpoint's step; -1: none yet
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  while (done_kills < kills) {
    // Anywhere in the life of this run, which has kSteps - last_step steps left (a resumed run
    // is shorter), start-up included.
    const double left = static_cast<double>(kSteps - std::max<int64_t>(last_step, 0)) / kSteps;
    const double moment = uniform(rng) * std::max(0.05, run_seconds * left);
    std::vector<std::string> args = with(flags(), {"--save-every=1", "--checkpoint-dir=" + dir.string()});
    if (last_step >= 0) args.push_back("--resume");
    const Child child = start(train, args, work / "logs");
    std::this_thread::sleep_for(std::chrono::duration<double>(moment));
    kill(child.pid, SIGKILL);
    const int status = wait_for(child);
    const std::string when = "after kill " + std::to_string(done_kills + 1);
    if (status == -SIGKILL) {
      ++done_kills;
      const int64_t step = check_latest(dir, when).value_or(-1);
      if (step < last_step) {
        fail(when + ": the newest checkpoint went back from step " + std::to_string(last_step) + " to " +
             std::to_string(step));
      }
      if (step < 0) ++early_kills;
      last_step = step;
      // Every tenth kill: an unkilled resume must continue from exactly that checkpoint.
      if (step >= 0 && step < kSteps && done_kills % 10 == 0) {
        const int64_t to = step + 1;
        std::vector<std::string> resume_args = with(flags(static_cast<int>(to)),
                                                     {"--save-every=1", "--checkpoint-dir=" + dir.string(), "--resume"});
        const Result r = run(train, resume_args, work / "logs");
        const std::string from = "\"resumed_from_step\":" + std::to_string(step);
        if (r.status != 0 || r.out.find(from) == std::string::npos) {
          fail(when + ": train --resume from step " + std::to_string(step) + " failed (" + std::to_string(r.status) +
               "): " + r.err + r.out);
        }
        ++resume_checks;
        last_step = check_latest(dir, when + " and a resume").value_or(-1);
        if (last_step != to) fail(when + ": the resumed run did not save step " + std::to_string(to));
      }
    } else if (status != 0) {
      fail(when + ": train exited with " + std::to_string(status) + " before the kill: " +
           read_text(work / "logs" / "stderr"));
    }
    if (status == 0 || last_step == kSteps) {
      // The run reached its last step: it must end where the uninterrupted run ended.
      if (final_checkpoint(dir) != expected) fail(when + ": the final checkpoint differs from the uninterrupted run's");
      ++completed_runs;
      fs::remove_all(dir);
      last_step = -1;
    }
  }

  // The run after its last kill, resumed to the end, must equal the uninterrupted one.
  if (last_step >= 0) {
    const Result r = run(train, with(flags(), {"--save-every=1", "--checkpoint-dir=" + dir.string(), "--resume"}),
                         work / "logs");
    if (r.status != 0) fail("the final resume failed (" + std::to_string(r.status) + "): " + r.err);
    if (final_checkpoint(dir) != expected) fail("the final checkpoint after the kills differs from the uninterrupted run's");
    ++completed_runs;
  }

  // A newest checkpoint cut short: --resume fails cleanly, naming it, and changes nothing.
  const fs::path cut_dir = work / "cut";
  {
    const Result r = run(train, with(flags(3), { "--save-every=1", "--checkpoint-dir=" + cut_dir.string()}),
                         work / "logs");
    if (r.status != 0) fail("the run for the cut test failed: " + r.err);
  }
  const fs::path index = cut_dir / "model.ckpt-3.index";
  const std::string whole = read_text(index);
  fs::resize_file(index, whole.size() - 7);  // into the table's footer, its last block
  const std::map<std::string, std::string> before = snapshot(cut_dir);
  const Result cut = run(train, with(flags(5), { "--checkpoint-dir=" + cut_dir.string(), "--resume"}),
                         work / "logs");
  if (cut.status != 1 || cut.err.find("train: --resume: cannot restore " + (cut_dir / "model.ckpt-3").string()) ==
                             std::string::npos) {
    fail("train --resume from a cut checkpoint: exit " + std::to_string(cut.status) + ", stderr: " + cut.err);
  }
  if (snapshot(cut_dir) != before) fail("train --resume from a cut checkpoint changed the checkpoint folder");
  // The index whole again, the data file one byte short: the same.
  {
    std::ofstream(index, std::ios::binary | std::ios::trunc) << whole;
    const fs::path data = cut_dir / "model.ckpt-3.data-00000-of-00001";
    fs::resize_file(data, fs::file_size(data) - 1);
    const std::map<std::string, std::string> cut_data = snapshot(cut_dir);
    const Result r = run(train, with(flags(5), {"--checkpoint-dir=" + cut_dir.string(), "--resume"}), work / "logs");
    if (r.status != 1 || r.err.find("train: --resume: cannot restore " + (cut_dir / "model.ckpt-3").string()) ==
                             std::string::npos) {
      fail("train --resume from a cut data file: exit " + std::to_string(r.status) + ", stderr: " + r.err);
    }
    if (snapshot(cut_dir) != cut_data) fail("train --resume from a cut data file changed the checkpoint folder");
  }

  // --init-from a checkpoint that holds none of the model's variables (a safetensors file as
  // another program would write it): refused, naming what each side holds.
  {
    std::string header = R"({"other/kernel":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string file;
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
    file += header;
    file.append(4, '\0');
    const fs::path other = work / "other.safetensors";
    std::ofstream(other, std::ios::binary | std::ios::trunc) << file;
    const Result r = run(train, with(flags(1), {"--init-from=" + other.string()}), work / "logs");
    if (r.status != 1 || r.err.find("holds none of the model's variables (model: input_layer/weights") == std::string::npos ||
        r.err.find("checkpoint: other/kernel)") == std::string::npos) {
      fail("--init-from a checkpoint of other variables: exit " + std::to_string(r.status) + ", stderr: " + r.err);
    }
  }

  const double seconds = std::chrono::duration<double>(Clock::now() - test_start).count();
  std::printf("%d SIGKILLs (%d before any checkpoint), %d unkilled resumes, %d runs completed equal to the "
              "uninterrupted one, cut index refused: %s; %.1f s\n",
              done_kills, early_kills, resume_checks, completed_runs, cut.err.c_str(), seconds);
  return 0;
}
