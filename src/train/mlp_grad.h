// Dense SwiGLU MLP for training (report section 2.1.2 experts; dense layers < first_k_dense_replace):
//   y[N, D] = down(silu(gate(x)) · up(x)),  gate/up: W[I, D], down: W[D, I] (nn.Linear layout).
// mlp_forward fills MlpSaved; mlp_backward ADDS into the weight gradients and into d_x (the
// caller zeroes them), as llm.c does. Templated over F ∈ {float, double}.
#pragma once
#include <cstdint>
#include <vector>

namespace dsv3 {

template <class F>
struct MlpParams {  // gate_proj, up_proj [I, D]; down_proj [D, I]
  const F* gate_proj = nullptr;
  const F* up_proj = nullptr;
  const F* down_proj = nullptr;
  int64_t D = 0, I = 0;
  // FP8 GEMM operands for all three projections (precision fp8; the scheme: grad_ops.h
  // linear_dgrad/linear_wgrad): x and h are quantised in 1×128 tiles before their GEMMs and
  // saved so. Off: the plain f32 path, bit for bit.
  bool fp8 = false;
};

template <class F>
struct MlpGrads {  // same shapes as MlpParams
  F* gate_proj = nullptr;
  F* up_proj = nullptr;
  F* down_proj = nullptr;
};

template <class F>
struct MlpSaved {
  int64_t N = 0;
  std::vector<F> x;     // [N, D] input (fp8: quantised in 1×128 tiles, as the GEMMs read it)
  std::vector<F> g, u;  // [N, I] gate(x), up(x) before the activation
  std::vector<F> h;     // [N, I] silu(g) · u, the input of down_proj (fp8: quantised likewise)
};

// y[N, D] = down(silu(gate(x)) · up(x)) (overwrites y); saves what backward needs.
template <class F>
void mlp_forward(const MlpParams<F>& w, const F* x, int64_t N, F* y, MlpSaved<F>& saved);

// Adds dL/dW into d (every pointer non-null) and dL/dx into d_x[N, D] given d_y[N, D].
template <class F>
void mlp_backward(const MlpParams<F>& w, const MlpSaved<F>& saved, const F* d_y, const MlpGrads<F>& d, F* d_x);

}  // namespace dsv3
