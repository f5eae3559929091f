// Minimal line plots written as PNG (libpng) and SVG: loss/accuracy curves, per-layer MI curves, scaling plots.
// Text uses a built-in 5x7 bitmap font (upper-case letters, digits, a few symbols) so no font files are needed.
#pragma once
#include <string>
#include <vector>

namespace hm {

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite points are skipped
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
  int width = 800, height = 500;
};

// File type from the extension (.png or .svg). Atomic write. Throws naming the file on failure or empty data.
void write_plot(const std::string& path, const PlotSpec& spec);

}  // namespace hm
