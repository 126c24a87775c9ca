// dsv3 plot --metrics OUT/metrics.jsonl --out report.html [--title TEXT]
// A self-contained HTML report of a training run (train/train_metrics.h lines): inline SVG line
// charts of train/validation loss, learning rate, gradient norm, tokens/s and, per MoE layer,
// max/mean expert load, router entropy and bias spread, plus a summary table. No scripts, no
// external files: it opens in any browser and can be attached or committed as is.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "format/safetensors.h"

namespace dsv3::cli {

namespace {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (step, value)
};

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

// One chart: 640×300 px, axes with 5 ticks each, one polyline per series, legend on top.
std::string svg_chart(const std::string& title, const std::vector<Series>& series, bool log_y = false) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto ty = [&](double v) { return log_y ? std::log10(std::max(v, 1e-30)) : v; };
  for (const auto& s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(y) || (log_y && y <= 0)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, ty(y)), y1 = std::max(y1, ty(y));
    }
  std::ostringstream o;
  o << "<figure><figcaption>" << escape(title) << "</figcaption>\n";
  if (!std::isfinite(x0)) return o.str() + "<p>(no data)</p></figure>\n";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1, y0 -= 1;
  const double W = 640, H = 300, L = 60, R = 10, T = 30, B = 30;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (ty(y) - y0) / (y1 - y0) * (H - T - B); };
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' viewBox='0 0 " << W << " "
    << H << "'>\n<rect x='" << L << "' y='" << T << "' width='" << W - L - R << "' height='" << H - T - B
    << "' fill='none' stroke='#999'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double fx = x0 + (x1 - x0) * i / 4, fy = y0 + (y1 - y0) * i / 4;
    const double sx = L + (W - L - R) * i / 4, sy = H - B - (H - T - B) * i / 4;
    o << "<line x1='" << sx << "' y1='" << T << "' x2='" << sx << "' y2='" << H - B << "' stroke='#eee'/>"
      << "<text x='" << sx << "' y='" << H - B + 14 << "' font-size='11' text-anchor='middle'>" << fmt(fx) << "</text>\n"
      << "<line x1='" << L << "' y1='" << sy << "' x2='" << W - R << "' y2='" << sy << "' stroke='#eee'/>"
      << "<text x='" << L - 4 << "' y='" << sy + 4 << "' font-size='11' text-anchor='end'>"
      << fmt(log_y ? std::pow(10.0, fy) : fy) << "</text>\n";
  }
  double lx = L + 4;
  for (size_t k = 0; k < series.size(); ++k) {
    const char* color = kColors[k % std::size(kColors)];
    o << "<polyline fill='none' stroke='" << color << "' stroke-width='1.5' points='";
    for (auto [x, y] : series[k].points)
      if (std::isfinite(y) && !(log_y && y <= 0)) o << fmt(px(x)) << "," << fmt(py(y)) << " ";
    o << "'/>\n";
    if (series[k].points.size() == 1 || series[k].points.size() < 40)  // sparse series (eval): dots
      for (auto [x, y] : series[k].points)
        if (std::isfinite(y)) o << "<circle cx='" << fmt(px(x)) << "' cy='" << fmt(py(y)) << "' r='2.5' fill='" << color << "'/>";
    o << "<text x='" << lx << "' y='" << T - 10 << "' font-size='12' fill='" << color << "'>" << escape(series[k].name)
      << "</text>\n";
    lx += 9.0 * double(series[k].name.size()) + 18;
  }
  o << "</svg></figure>\n";
  return o.str();
}

struct PlotArgs {
  std::string metrics, out, title = "dsv3 training report";
};

void run(const PlotArgs& a) {
  std::ifstream in(a.metrics);
  DSV3_CHECK(in.good(), "cannot read ", a.metrics);
  Series loss{"loss", {}}, ce{"ce", {}}, mtp{"mtp", {}}, val{"val_loss", {}}, lr{"lr", {}}, gnorm{"grad_norm", {}},
      tps{"tokens/s", {}}, balance{"balance", {}};
  std::map<int64_t, Series> load_ratio, entropy, bias_std, util;
  std::string line;
  int64_t n_train = 0, n_eval = 0, lineno = 0, tokens = 0;
  double last_val = NAN, last_ppl = NAN, last_loss = NAN, tps_sum = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      fail(a.metrics, ":", lineno, ": not a JSON line");
    }
    const double step = j.value("step", 0.0);
    if (j.value("type", "") == "eval") {
      ++n_eval;
      last_val = j.value("val_loss", NAN);
      last_ppl = j.value("val_ppl", NAN);
      val.points.push_back({step, last_val});
      continue;
    }
    ++n_train;
    last_loss = j.value("loss", NAN);
    loss.points.push_back({step, last_loss});
    ce.points.push_back({step, j.value("ce", NAN)});
    mtp.points.push_back({step, j.value("mtp", NAN)});
    balance.points.push_back({step, j.value("balance", NAN)});
    lr.points.push_back({step, j.value("lr", NAN)});
    gnorm.points.push_back({step, j.value("grad_norm", NAN)});
    tps.points.push_back({step, j.value("tokens_per_s", NAN)});
    tps_sum += j.value("tokens_per_s", 0.0);
    tokens = j.value("tokens", tokens);
    if (j.contains("moe"))
      for (const auto& m : j["moe"]) {
        const int64_t l = m.value("layer", int64_t(-1));
        const std::string name = "layer " + std::to_string(l);
        const double mean = m.value("mean_load", 0.0);
        load_ratio[l].name = entropy[l].name = bias_std[l].name = util[l].name = name;
        load_ratio[l].points.push_back({step, mean > 0 ? m.value("max_load", 0.0) / mean : NAN});
        entropy[l].points.push_back({step, m.value("entropy", NAN)});
        bias_std[l].points.push_back({step, m.value("bias_std", NAN)});
        util[l].points.push_back({step, m.value("utilization", NAN)});
      }
  }
  DSV3_CHECK(n_train + n_eval > 0, a.metrics, ": no metrics lines");
  auto values = [](const std::map<int64_t, Series>& m) {
    std::vector<Series> v;
    for (const auto& [l, s] : m) v.push_back(s);
    return v;
  };
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" << escape(a.title)
       << "</title>\n<style>body{font-family:sans-serif;margin:20px;max-width:1340px}figure{display:inline-block;"
          "margin:8px}figcaption{font-weight:bold}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
          "padding:3px 8px;text-align:right}</style></head><body>\n<h1>"
       << escape(a.title) << "</h1>\n<table><tr><th>train steps</th><th>tokens</th><th>final train loss</th>"
       << "<th>final val loss</th><th>final val ppl</th><th>mean tokens/s</th></tr><tr><td>" << n_train << "</td><td>"
       << tokens << "</td><td>" << fmt(last_loss) << "</td><td>" << fmt(last_val) << "</td><td>" << fmt(last_ppl)
       << "</td><td>" << fmt(n_train ? tps_sum / double(n_train) : 0) << "</td></tr></table>\n";
  html << svg_chart("Loss (train: total, next-token CE, MTP CE; validation CE)", {loss, ce, mtp, val})
       << svg_chart("Learning rate", {lr}) << svg_chart("Gradient norm (before clipping)", {gnorm}, true)
       << svg_chart("Sequence-wise balance loss", {balance}) << svg_chart("Training tokens/s", {tps})
       << svg_chart("Max / mean expert load per MoE layer (1 = balanced)", values(load_ratio))
       << svg_chart("Router entropy per MoE layer (nats)", values(entropy))
       << svg_chart("Expert utilisation per MoE layer (fraction with load > 0)", values(util))
       << svg_chart("e_score_correction_bias std per MoE layer", values(bias_std));
  html << "<p>Source: " << escape(a.metrics) << " (" << n_train << " train lines, " << n_eval
       << " eval lines)</p></body></html>\n";
  write_file_atomic(a.out, html.str());
  std::cout << nlohmann::json{{"out", a.out}, {"train_lines", n_train}, {"eval_lines", n_eval}}.dump() << "\n";
}

}  // namespace

void add_plot(CLI::App& app) {
  auto* cmd = app.add_subcommand("plot", "HTML report (inline SVG charts) of a training run's metrics.jsonl");
  auto a = std::make_shared<PlotArgs>();
  cmd->add_option("--metrics", a->metrics, "metrics.jsonl written by dsv3 train")->required();
  cmd->add_option("--out", a->out, "Output .html file")->required();
  cmd->add_option("--title", a->title, "Report title");
  cmd->callback([a] { run(*a); });
}

DSV3_COMMAND(37, add_plot);

}  // namespace dsv3::cli
