// Atomic output files: write under a temporary name next to the target, then rename into place, so that a
// crash or an error half-way never leaves a partial file under the final name (DESIGN.md 5). A batch job that
// writes several files keeps one AtomicFile per output and commits them all only after the last one is done.
#pragma once
#include <fstream>
#include <string>

namespace hm {

// A temporary name in the same directory as `path` (rename(2) is only atomic within one file system), unique
// per process and per call so that parallel writers never share a temporary. Creates that directory when it is
// missing (`hubmamba label --out labels/train.km` into a new labels/), throwing hm::Error naming `path` when it
// cannot; every atomic writer gets its temporary here, so all of them behave alike.
std::string temp_path_for(const std::string& path);

// Renames `tmp` onto `path`; throws hm::Error naming `path` on failure.
void commit_temp(const std::string& tmp, const std::string& path);

// A text/binary file written through a stream to a temporary name; commit() flushes, checks the stream and
// renames it into place. Destroying an uncommitted AtomicFile removes the temporary.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  AtomicFile(AtomicFile&& other) noexcept;

  std::ostream& out() { return out_; }
  const std::string& path() const { return path_; }
  void commit();

 private:
  std::string path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Whole-file helper: AtomicFile + write + commit.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace hm
