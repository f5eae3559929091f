#include "train/plot.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "train/atomic_file.h"

namespace hm {
namespace {

// 5x7 glyphs, one byte per row (low 5 bits, bit 4 = leftmost column).
const std::map<char, std::array<uint8_t, 7>>& font() {
  static const std::map<char, std::array<uint8_t, 7>> f = {
      {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},   {'2', {14, 17, 1, 2, 4, 8, 31}},
      {'3', {31, 2, 4, 2, 1, 17, 14}},    {'4', {2, 6, 10, 18, 31, 2, 2}},  {'5', {31, 16, 30, 1, 1, 17, 14}},
      {'6', {6, 8, 16, 30, 17, 17, 14}},  {'7', {31, 1, 2, 4, 8, 8, 8}},    {'8', {14, 17, 17, 14, 17, 17, 14}},
      {'9', {14, 17, 17, 15, 1, 2, 12}},  {'A', {14, 17, 17, 31, 17, 17, 17}}, {'B', {30, 17, 17, 30, 17, 17, 30}},
      {'C', {14, 17, 16, 16, 16, 17, 14}}, {'D', {28, 18, 17, 17, 17, 18, 28}}, {'E', {31, 16, 16, 30, 16, 16, 31}},
      {'F', {31, 16, 16, 30, 16, 16, 16}}, {'G', {14, 17, 16, 23, 17, 17, 15}}, {'H', {17, 17, 17, 31, 17, 17, 17}},
      {'I', {14, 4, 4, 4, 4, 4, 14}},     {'J', {7, 2, 2, 2, 2, 18, 12}},   {'K', {17, 18, 20, 24, 20, 18, 17}},
      {'L', {16, 16, 16, 16, 16, 16, 31}}, {'M', {17, 27, 21, 21, 17, 17, 17}}, {'N', {17, 17, 25, 21, 19, 17, 17}},
      {'O', {14, 17, 17, 17, 17, 17, 14}}, {'P', {30, 17, 17, 30, 16, 16, 16}}, {'Q', {14, 17, 17, 17, 21, 18, 13}},
      {'R', {30, 17, 17, 30, 20, 18, 17}}, {'S', {15, 16, 16, 14, 1, 1, 30}},  {'T', {31, 4, 4, 4, 4, 4, 4}},
      {'U', {17, 17, 17, 17, 17, 17, 14}}, {'V', {17, 17, 17, 17, 17, 10, 4}}, {'W', {17, 17, 17, 21, 21, 21, 10}},
      {'X', {17, 17, 10, 4, 10, 17, 17}}, {'Y', {17, 17, 17, 10, 4, 4, 4}},  {'Z', {31, 1, 2, 4, 8, 16, 31}},
      {'.', {0, 0, 0, 0, 0, 12, 12}},     {'-', {0, 0, 0, 31, 0, 0, 0}},    {'_', {0, 0, 0, 0, 0, 0, 31}},
      {':', {0, 12, 12, 0, 12, 12, 0}},   {'%', {24, 25, 2, 4, 8, 19, 3}},  {'(', {2, 4, 8, 8, 8, 4, 2}},
      {')', {8, 4, 2, 2, 2, 4, 8}},       {'/', {0, 1, 2, 4, 8, 16, 0}},    {'+', {0, 4, 4, 31, 4, 4, 0}},
      {'=', {0, 0, 31, 0, 31, 0, 0}},     {',', {0, 0, 0, 0, 12, 4, 8}},
      {' ', {0, 0, 0, 0, 0, 0, 0}}};
  return f;
}

struct Rgb {
  uint8_t r, g, b;
};
const Rgb kPalette[] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14},
                        {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(size_t(w) * h * 3, 255) {}
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    uint8_t* p = &px_[(size_t(y) * w_ + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1) {
    const int steps = int(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = double(i) / steps;
      const int x = int(std::lround(x0 + (x1 - x0) * t)), y = int(std::lround(y0 + (y1 - y0) * t));
      for (int dx = -(thickness / 2); dx <= thickness / 2; ++dx)
        for (int dy = -(thickness / 2); dy <= thickness / 2; ++dy) set(x + dx, y + dy, c);
    }
  }
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1) {
    for (char ch : s) {
      char k = ch;
      if (k >= 'a' && k <= 'z') k = char(k - 'a' + 'A');
      auto it = font().find(k);
      if (it == font().end()) it = font().find(' ');
      for (int row = 0; row < 7; ++row)
        for (int col = 0; col < 5; ++col)
          if (it->second[size_t(row)] & (1 << (4 - col)))
            for (int sx = 0; sx < scale; ++sx)
              for (int sy = 0; sy < scale; ++sy) set(x + col * scale + sx, y + row * scale + sy, c);
      x += 6 * scale;
    }
  }
  static int text_width(const std::string& s, int scale = 1) { return int(s.size()) * 6 * scale; }
  const std::vector<uint8_t>& pixels() const { return px_; }

 private:
  int w_, h_;
  std::vector<uint8_t> px_;  // (h, w, 3) RGB
};

std::string fmt(double v) {
  char buf[32];
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.1e", v);
  else std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

struct Frame {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // data range (y in log10 when log_y)
  int left = 70, right = 20, top = 40, bottom = 50;
  int w = 0, h = 0;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (w - left - right); }
  double py(double y) const { return h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom); }
};

Frame make_frame(const PlotSpec& spec) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : spec.series) {
    check(s.x.size() == s.y.size(), "plot: series '", s.label, "' has ", s.x.size(), " x but ", s.y.size(), " y");
    for (size_t i = 0; i < s.x.size(); ++i) {
      double y = s.y[i];
      if (spec.log_y) y = y > 0 ? std::log10(y) : NAN;
      if (!std::isfinite(s.x[i]) || !std::isfinite(y)) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  check(std::isfinite(x0) && std::isfinite(y0), "plot '", spec.title, "': no finite points to draw");
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  Frame f;
  f.x0 = x0, f.x1 = x1, f.y0 = y0 - pad, f.y1 = y1 + pad;
  f.w = spec.width;
  f.h = spec.height;
  return f;
}

void write_png(const std::string& path, const PlotSpec& spec) {
  const Frame f = make_frame(spec);
  Canvas cv(spec.width, spec.height);
  const Rgb black{0, 0, 0}, grey{220, 220, 220};
  for (int i = 0; i <= 5; ++i) {  // grid + tick labels
    const double yv = f.y0 + (f.y1 - f.y0) * i / 5, xv = f.x0 + (f.x1 - f.x0) * i / 5;
    cv.line(f.left, f.py(yv), f.w - f.right, f.py(yv), grey);
    cv.line(f.px(xv), f.top, f.px(xv), f.h - f.bottom, grey);
    const std::string yl = fmt(spec.log_y ? std::pow(10.0, yv) : yv), xl = fmt(xv);
    cv.text(f.left - 6 - Canvas::text_width(yl), int(f.py(yv)) - 3, yl, black);
    cv.text(int(f.px(xv)) - Canvas::text_width(xl) / 2, f.h - f.bottom + 8, xl, black);
  }
  cv.line(f.left, f.top, f.left, f.h - f.bottom, black);
  cv.line(f.left, f.h - f.bottom, f.w - f.right, f.h - f.bottom, black);
  cv.text((f.w - Canvas::text_width(spec.title, 2)) / 2, 10, spec.title, black, 2);
  cv.text((f.w - Canvas::text_width(spec.x_label)) / 2, f.h - 20, spec.x_label, black);
  cv.text(4, f.top - 14, spec.y_label + (spec.log_y ? " (LOG)" : ""), black);
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const Series& s = spec.series[k];
    const Rgb c = kPalette[k % 8];
    bool have_prev = false;
    double px0 = 0, py0 = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      double y = spec.log_y ? (s.y[i] > 0 ? std::log10(s.y[i]) : NAN) : s.y[i];
      if (!std::isfinite(s.x[i]) || !std::isfinite(y)) {
        have_prev = false;
        continue;
      }
      const double px = f.px(s.x[i]), py = f.py(y);
      if (have_prev) cv.line(px0, py0, px, py, c, 2);
      if (s.x.size() <= 40) cv.line(px - 2, py, px + 2, py, c, 3);  // markers on short series
      px0 = px, py0 = py, have_prev = true;
    }
    const int ly = f.top + 6 + int(k) * 12;  // legend
    cv.line(f.w - f.right - 150, ly + 3, f.w - f.right - 132, ly + 3, c, 3);
    cv.text(f.w - f.right - 126, ly, s.label, black);
  }
  const std::string tmp = temp_path_for(path);
  FILE* fp = std::fopen(tmp.c_str(), "wb");
  check(fp != nullptr, path, ": cannot open for writing (", std::strerror(errno), ")");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(fp);
    std::remove(tmp.c_str());
    throw Error(cat(path, ": PNG encoding failed"));
  }
  png_init_io(png, fp);
  png_set_IHDR(png, info, png_uint_32(spec.width), png_uint_32(spec.height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < spec.height; ++y)
    png_write_row(png, const_cast<png_bytep>(&cv.pixels()[size_t(y) * spec.width * 3]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(fp) != 0) {
    std::remove(tmp.c_str());
    throw Error(cat(path, ": write failed (disk full?)"));
  }
  commit_temp(tmp, path);
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

void write_svg(const std::string& path, const PlotSpec& spec) {
  const Frame f = make_frame(spec);
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << f.w << "\" height=\"" << f.h
     << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (int i = 0; i <= 5; ++i) {
    const double yv = f.y0 + (f.y1 - f.y0) * i / 5, xv = f.x0 + (f.x1 - f.x0) * i / 5;
    os << "<line x1=\"" << f.left << "\" y1=\"" << f.py(yv) << "\" x2=\"" << f.w - f.right << "\" y2=\"" << f.py(yv)
       << "\" stroke=\"#ddd\"/>\n<text x=\"" << f.left - 6 << "\" y=\"" << f.py(yv) + 4 << "\" text-anchor=\"end\">"
       << fmt(spec.log_y ? std::pow(10.0, yv) : yv) << "</text>\n<text x=\"" << f.px(xv) << "\" y=\""
       << f.h - f.bottom + 16 << "\" text-anchor=\"middle\">" << fmt(xv) << "</text>\n";
  }
  os << "<text x=\"" << f.w / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(spec.title)
     << "</text>\n<text x=\"" << f.w / 2 << "\" y=\"" << f.h - 12 << "\" text-anchor=\"middle\">"
     << xml_escape(spec.x_label) << "</text>\n<text x=\"6\" y=\"" << f.top - 8 << "\">" << xml_escape(spec.y_label)
     << (spec.log_y ? " (log)" : "") << "</text>\n";
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const Series& s = spec.series[k];
    const Rgb c = kPalette[k % 8];
    os << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"rgb(" << int(c.r) << "," << int(c.g) << "," << int(c.b)
       << ")\" points=\"";
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double y = spec.log_y ? (s.y[i] > 0 ? std::log10(s.y[i]) : NAN) : s.y[i];
      if (std::isfinite(s.x[i]) && std::isfinite(y)) os << f.px(s.x[i]) << "," << f.py(y) << " ";
    }
    os << "\"/>\n<text x=\"" << f.w - f.right - 120 << "\" y=\"" << f.top + 10 + 14 * k << "\" fill=\"rgb(" << int(c.r)
       << "," << int(c.g) << "," << int(c.b) << ")\">" << xml_escape(s.label) << "</text>\n";
  }
  os << "</svg>\n";
  write_file_atomic(path, os.str());
}

}  // namespace

void write_plot(const std::string& path, const PlotSpec& spec) {
  check(spec.width >= 200 && spec.height >= 150, "plot: ", spec.width, "x", spec.height, " is too small");
  if (path.ends_with(".png")) return write_png(path, spec);
  if (path.ends_with(".svg")) return write_svg(path, spec);
  throw Error(cat(path, ": plot files must end in .png or .svg"));
}

}  // namespace hm
