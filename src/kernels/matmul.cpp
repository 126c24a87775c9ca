// matmul driver: validates the weight, picks the SIMD level and the path (rows for
// decode, tiles for prefill), and splits the work over the thread pool.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"
#include "kernels/vec_ops.h"

namespace dsv3 {

namespace matmul_detail {

float* scratch(int slot, size_t n) {
  struct Buf {
    float* p = nullptr;
    size_t cap = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[4];
  Buf& b = bufs[slot];
  if (b.cap < n) {
    std::free(b.p);
    b.p = nullptr;
    b.cap = 0;
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.p) throw std::bad_alloc();
    b.cap = n;
  }
  return b.p;
}

}  // namespace matmul_detail

namespace {

using matmul_detail::KernelSet;

const KernelSet& kernels_for(Isa isa) {
  DSV3_CHECK(isa <= cpu_isa(), "matmul: SIMD level ", isa_name(isa), " is not supported by this CPU");
  switch (isa) {
    case Isa::kAvx512Vbmi: return matmul_detail::kernels_avx512vbmi();
    case Isa::kAvx512: return matmul_detail::kernels_avx512();
    case Isa::kAvx2: return matmul_detail::kernels_avx2();
    case Isa::kScalar: break;
  }
  return matmul_detail::kernels_scalar();
}

void validate(const WeightMatrix& w) {
  DSV3_CHECK(w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16 ||
                 w.dtype == DType::F8_E4M3 || is_int_weight(w.dtype),
             "matmul: weight ", w.name, " has dtype ", dtype_name(w.dtype),
             "; supported are F32, F16, BF16, F8_E4M3, I8, I4");
  DSV3_CHECK(w.rows >= 0 && w.cols >= 0, "matmul: weight ", w.name, " has negative shape");
  DSV3_CHECK(w.data || w.rows == 0 || w.cols == 0, "matmul: weight ", w.name, " has no data");
  if (w.dtype == DType::F8_E4M3) {
    DSV3_CHECK(w.block_rows > 0 && w.block_cols > 0, "matmul: F8_E4M3 weight ", w.name,
               " has non-positive block size ", w.block_rows, "x", w.block_cols);
    DSV3_CHECK(w.scale_inv || w.rows == 0 || w.cols == 0, "matmul: F8_E4M3 weight ", w.name,
               " has no scale_inv");
  }
  if (is_int_weight(w.dtype)) {
    DSV3_CHECK(w.block_rows > 0 && w.block_cols > 0 && w.block_cols % kIntGroupMultiple == 0, "matmul: ",
               dtype_name(w.dtype), " weight ", w.name, " has block size ", w.block_rows, "x", w.block_cols,
               "; groups must be positive multiples of ", kIntGroupMultiple, " weights");
    DSV3_CHECK(w.scale_inv || w.rows == 0 || w.cols == 0, "matmul: ", dtype_name(w.dtype), " weight ",
               w.name, " has no scales");
  }
}

// The AVX2 int8-activation rows and tiles paths both run matmul_int8_activations_ref's exact
// operations, so from kInt8GemmMinT tokens on (batched decode, speculative verification)
// a rows product can take the GEMM without changing a bit: 4608×2048 int4 on 2 threads,
// 16 tokens 1.95 -> 1.44 ms, 32 tokens 3.76 -> 2.66 ms (crossover ~8; README "Speed").
// Not with VNNI, whose rows split their sums over lanes (its tiles would then change a
// token's bits with the batch size).
constexpr int64_t kInt8GemmMinT = 8;
bool rows_may_take_int8_gemm(Isa isa, const WeightMatrix& w) {
  return isa >= Isa::kAvx2 && is_int_weight(w.dtype) && matmul_detail::use_int8_activations(w) &&
         !matmul_detail::int8_act_vnni(isa);
}

struct Job {
  const KernelSet* ks;
  const float* x;
  int64_t T;
  const WeightMatrix* w;
  float* y;
};

}  // namespace

void matmul_with(Isa isa, MatmulPath path, const float* x, int64_t T, const WeightMatrix& w,
                 float* y, ThreadPool& pool) {
  validate(w);
  const KernelSet& ks = kernels_for(isa);
  const int64_t N = w.rows, K = w.cols;
  if (T <= 0 || N == 0) return;
  if (K == 0) {
    std::memset(y, 0, size_t(T * N) * sizeof(float));
    return;
  }
  const Job job{&ks, x, T, &w, y};
  const int64_t threads = pool.size();
  // Small products are not worth waking the pool: a parallel_for round trip costs ~10 µs
  // on a loaded 2-core machine, about what one core needs for 2^17 bf16 multiply-adds.
  const bool serial = threads == 1 || T * N * K < (int64_t(1) << 17);
  const bool tiles = path == MatmulPath::kTiles || (path == MatmulPath::kAuto && T >= ks.tiles_min_T);

  if (!tiles) {
    if (T >= kInt8GemmMinT && rows_may_take_int8_gemm(isa, w))
      return matmul_detail::tiles_int_avx2_pooled(x, T, w, y, pool, serial, ks.panel_rows);
    // Rows of W are split evenly; with FP8 whole scale blocks go to one thread when there
    // are enough of them (each block rescales x once).
    int64_t grain = 16;
    if (w.dtype == DType::F8_E4M3 && N >= 4 * threads * w.block_rows) grain = w.block_rows;
    auto fn = [p = &job](int64_t b, int64_t e) { p->ks->rows(p->x, p->T, *p->w, p->y, b, e); };
    if (serial) fn(0, N);
    else pool.parallel_for(N, fn, grain);
    return;
  }
  const int64_t panel = ks.panel_rows;
  if (isa >= Isa::kAvx2 && is_int_weight(w.dtype) && matmul_detail::use_int8_activations(w)) {
    if (matmul_detail::int8_act_vnni(isa)) return matmul_detail::tiles_int_vnni_pooled(x, T, w, y, pool, serial, panel);
    return matmul_detail::tiles_int_avx2_pooled(x, T, w, y, pool, serial, panel);
  }
  if (serial) {
    ks.tiles(x, T, w, y, 0, T, 0, N);
  } else if (N >= threads * panel) {
    // Split over output rows: every thread decodes a disjoint part of W exactly once.
    auto fn = [p = &job](int64_t b, int64_t e) { p->ks->tiles(p->x, p->T, *p->w, p->y, 0, p->T, b, e); };
    pool.parallel_for(N, fn, panel);
  } else {
    // Few rows, many tokens: split over tokens (each thread decodes all of W).
    auto fn = [p = &job](int64_t b, int64_t e) { p->ks->tiles(p->x, p->T, *p->w, p->y, b, e, 0, p->w->rows); };
    pool.parallel_for(T, fn, 8);
  }
}

void matmul(const float* x, int64_t T, const WeightMatrix& w, float* y, ThreadPool& pool) {
  matmul_with(active_isa(), MatmulPath::kAuto, x, T, w, y, pool);
}

void matmul_split(const float* x, int64_t T, int64_t n_tiled, const WeightMatrix& w, float* y, ThreadPool& pool) {
  if (n_tiled < 0) return matmul(x, T, w, y, pool);
  DSV3_CHECK(n_tiled <= T, "matmul_split: ", n_tiled, " tiled rows of ", T);
  const Isa isa = active_isa();
  if (n_tiled > 0) matmul_with(isa, MatmulPath::kTiles, x, n_tiled, w, y, pool);
  if (T > n_tiled) matmul_with(isa, MatmulPath::kRows, x + n_tiled * w.cols, T - n_tiled, w, y + n_tiled * w.rows, pool);
}

void matmul_rows_serial(const float* x, int64_t T, const WeightMatrix& w, float* y) {
  validate(w);
  if (T <= 0 || w.rows == 0) return;
  if (w.cols == 0) return void(std::memset(y, 0, size_t(T * w.rows) * sizeof(float)));
  kernels_for(active_isa()).rows(x, T, w, y, 0, w.rows);
}

namespace {
// A valid weight with rows [r0, r0 + n) inside it; `what` names the caller in the error.
void check_rows(const char* what, const WeightMatrix& w, int64_t r0, int64_t n) {
  validate(w);
  DSV3_CHECK(r0 >= 0 && n >= 0 && r0 + n <= w.rows, what, ": rows [", r0, ", ", r0 + n, ") of ", w.rows, " in ",
             w.name);
}

// The two-pass weighted row sum (weighted_row_sum_ref), on checked arguments.
void row_sum_two_pass(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  float* row = matmul_detail::scratch(0, size_t(w.cols));
  for (int64_t i = 0; i < n; ++i) {
    dequantize_row(w, r0 + i, row);
    axpy_f32(a[i], row, y, w.cols);
  }
}
}  // namespace

void weighted_row_sum(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  weighted_row_sum_with(active_isa(), w, r0, n, a, y);
}

void weighted_row_sum_with(Isa isa, const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  check_rows("weighted_row_sum", w, r0, n);
  const KernelSet& ks = kernels_for(isa);
  if (ks.row_sum) ks.row_sum(w, r0, n, a, y);
  else row_sum_two_pass(w, r0, n, a, y);
}

void weighted_row_sum_ref(const WeightMatrix& w, int64_t r0, int64_t n, const float* a, float* y) {
  check_rows("weighted_row_sum", w, r0, n);
  row_sum_two_pass(w, r0, n, a, y);
}

bool weight_row_slice(const WeightMatrix& w, int64_t r0, int64_t n, WeightMatrix* out) {
  check_rows("weight_row_slice", w, r0, n);
  const bool scaled = w.dtype == DType::F8_E4M3 || is_int_weight(w.dtype);
  if (scaled && r0 % w.block_rows != 0) return false;
  *out = w;
  out->rows = n;
  out->data = static_cast<const uint8_t*>(w.data) + r0 * weight_row_bytes(w.dtype, w.cols);
  if (scaled) out->scale_inv = w.scale_inv + (r0 / w.block_rows) * matmul_detail::ceil_div(w.cols, w.block_cols);
  return true;
}

void matmul_rows_grouped(const MatmulProduct* products, size_t n, ThreadPool& pool) {
  const Isa isa = active_isa();
  const KernelSet& ks = kernels_for(isa);
  // Products that take the int8 GEMM (above) run on their own, as matmul_with would run them.
  std::vector<MatmulProduct> rest;
  for (size_t i = 0; i < n; ++i) {
    const MatmulProduct& p = products[i];
    DSV3_CHECK(p.w, "matmul_rows_grouped: product ", i, " has no weight");
    if (p.T >= kInt8GemmMinT && p.w->rows > 0 && p.w->cols > 0 && rows_may_take_int8_gemm(isa, *p.w))
      matmul_with(isa, MatmulPath::kRows, p.x, p.T, *p.w, p.y, pool);
    else
      rest.push_back(p);
  }
  if (rest.size() < n) {
    products = rest.data();
    n = rest.size();
  }
  // Row offsets of each product in the concatenation; empty products take no rows.
  std::vector<int64_t> first(n + 1, 0);
  int64_t cost = 0;
  for (size_t i = 0; i < n; ++i) {
    const MatmulProduct& p = products[i];
    DSV3_CHECK(p.w && p.T >= 0, "matmul_rows_grouped: product ", i, " has no weight or negative T");
    validate(*p.w);
    const bool empty = p.T == 0 || p.w->rows == 0;
    if (!empty && p.w->cols == 0) std::memset(p.y, 0, size_t(p.T * p.w->rows) * sizeof(float));
    const int64_t rows = empty || p.w->cols == 0 ? 0 : p.w->rows;
    first[i + 1] = first[i] + rows;
    cost += rows * p.w->cols * p.T;
  }
  const int64_t total = first[n];
  auto fn = [&](int64_t b, int64_t e) {
    // Products overlapping [b, e): the first one by binary search, then in order.
    size_t i = size_t(std::upper_bound(first.begin(), first.end(), b) - first.begin()) - 1;
    for (; i < n && first[i] < e; ++i) {
      const int64_t lo = std::max(b, first[i]), hi = std::min(e, first[i + 1]);
      if (lo >= hi) continue;
      const MatmulProduct& p = products[i];
      ks.rows(p.x, p.T, *p.w, p.y, lo - first[i], hi - first[i]);
    }
  };
  if (total == 0) return;
  if (pool.size() == 1 || cost < (int64_t(1) << 17)) fn(0, total);
  else pool.parallel_for(total, fn, 16);
}

void dequantize_row_with(Isa isa, const WeightMatrix& w, int64_t r, float* out) {
  validate(w);
  DSV3_CHECK(r >= 0 && r < w.rows, "dequantize_row: row ", r, " out of range [0, ", w.rows,
             ") of ", w.name);
  kernels_for(isa).decode(w, r, 0, w.cols, out);
}

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) {
  dequantize_row_with(active_isa(), w, r, out);
}

const char* matmul_isa() { return isa_name(active_isa()); }

namespace {
std::atomic<Int8Activations>& int8_act_mode() {
  static std::atomic<Int8Activations> mode{[] {
    const char* env = std::getenv("DSV3_INT8_ACT");
    if (env && std::strcmp(env, "0") == 0) return Int8Activations::kOff;
    if (env && std::strcmp(env, "all") == 0) return Int8Activations::kAll;
    return Int8Activations::kInt4;
  }()};
  return mode;
}
}  // namespace

void set_int8_activations(Int8Activations mode) { int8_act_mode().store(mode, std::memory_order_relaxed); }

Int8Activations int8_activations() {
  // Every SIMD level from AVX2 up has int8-activation kernels; the scalar level has none.
  return cpu_isa() >= Isa::kAvx2 ? int8_act_mode().load(std::memory_order_relaxed) : Int8Activations::kOff;
}

namespace {
std::atomic<bool>& int16_act_on() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("DSV3_INT16_ACT");
    return !(env && std::strcmp(env, "0") == 0);
  }()};
  return on;
}
}  // namespace

void set_int16_activations(bool on) { int16_act_on().store(on, std::memory_order_relaxed); }

bool int16_activations() { return cpu_isa() >= Isa::kAvx2 && int16_act_on().load(std::memory_order_relaxed); }

bool matmul_detail::use_int16_activations(const WeightMatrix& w) {
  return is_int_weight(w.dtype) && w.block_cols % 32 == 0 && w.block_cols <= 256 && int16_activations() &&
         !use_int8_activations(w);
}

bool matmul_detail::use_int8_activations(const WeightMatrix& w) {
  const Int8Activations m = int8_activations();
  return w.block_cols % 64 == 0 && (m == Int8Activations::kAll || (m == Int8Activations::kInt4 && w.dtype == DType::I4));
}

}  // namespace dsv3
