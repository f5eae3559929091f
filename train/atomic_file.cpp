#include "train/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace hm {

std::string temp_path_for(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);  // no-op (and no error) when it exists
  check(!ec, path, ": cannot create directory ", dir.string(), " (", ec.message(), ")");
  static std::atomic<uint64_t> counter{0};
  return cat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
}

void commit_temp(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw Error(cat(path, ": cannot rename temporary file into place (", std::strerror(err), ")"));
  }
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(temp_path_for(path_)) {
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  check(out_.good(), path_, ": cannot open for writing (", std::strerror(errno), ")");
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_(std::move(other.tmp_)),
      out_(std::move(other.out_)),
      committed_(other.committed_) {
  other.committed_ = true;  // the moved-from object owns no temporary any more
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::remove(tmp_.c_str());
  }
}

void AtomicFile::commit() {
  check(!committed_, path_, ": committed twice");
  out_.flush();
  const bool ok = out_.good();
  out_.close();
  if (!ok) {
    std::remove(tmp_.c_str());
    committed_ = true;
    throw Error(cat(path_, ": write failed (disk full?)"));
  }
  committed_ = true;
  commit_temp(tmp_, path_);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.out() << content;
  f.commit();
}

}  // namespace hm
