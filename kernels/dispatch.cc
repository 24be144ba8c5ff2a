// The public kernel API: validates every argument, then dispatches to the device backend
// (only the CPU backend exists; other devices return Unimplemented).
#include <cmath>
#include <initializer_list>
#include <string>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/kernels.h"

namespace gf::kernels {
namespace {

std::string Describe(const char* name, const TensorView& v) {
  return std::string(name) + " " + v.ShapeString();
}

// Views that take part in a call; `optional` ones with data == nullptr are absent.
struct Arg {
  const char* name;
  const TensorView* view;
  bool optional = false;
};

bool Absent(const Arg& a) { return a.optional && a.view->data == nullptr; }

// All present views must be on one device, and that device must be implemented.
Status CheckDevices(const char* op, std::initializer_list<Arg> args) {
  const TensorView* first = nullptr;
  for (const Arg& a : args) {
    if (Absent(a)) continue;
    if (first == nullptr) {
      first = a.view;
    } else if (a.view->device != first->device) {
      return InvalidArgument(std::string(op) + ": views on different devices");
    }
  }
  if (first != nullptr && first->device != Device::kCpu) {
    return Unimplemented(std::string(op) + ": only the CPU backend is implemented");
  }
  return Status::Ok();
}

// A 1-D or 2-D view with non-negative shape, unit column stride, row stride >= cols (when it has
// more than one row) and non-null data when non-empty.
Status CheckLayout(const char* op, const char* name, const TensorView& v) {
  if (v.rank < 1 || v.rank > 2) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " must be 1-D or 2-D");
  }
  for (int d = 0; d < v.rank; ++d) {
    if (v.shape[d] < 0) {
      return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " has a negative size");
    }
  }
  if (v.cols() > 1 && v.stride[v.rank - 1] != 1) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) +
                           " must have unit column stride");
  }
  if (v.rank == 2 && v.rows() > 1 && v.ld() < v.cols()) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " has row stride < cols");
  }
  if (v.numel() > 0 && v.data == nullptr) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " has null data");
  }
  return Status::Ok();
}

Status CheckDType(const char* op, const char* name, const TensorView& v, DType dtype) {
  if (v.dtype != dtype) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " must be " +
                           DTypeName(dtype));
  }
  return Status::Ok();
}

Status CheckF32OrBf16(const char* op, const char* name, const TensorView& v) {
  if (v.dtype != DType::kF32 && v.dtype != DType::kBF16) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " must be f32 or bf16");
  }
  return Status::Ok();
}

// An F32 matrix (1-D counts as one row).
Status CheckF32Matrix(const char* op, const char* name, const TensorView& v) {
  GF_RETURN_IF_ERROR(CheckDType(op, name, v, DType::kF32));
  return CheckLayout(op, name, v);
}

Status CheckShape(const char* op, const char* name, const TensorView& v, int64_t rows,
                  int64_t cols) {
  if (v.rows() != rows || v.cols() != cols) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " must be [" +
                           std::to_string(rows) + ", " + std::to_string(cols) + "]");
  }
  return Status::Ok();
}

// A contiguous F32 vector of n elements (any rank whose elements are contiguous).
Status CheckF32Vector(const char* op, const char* name, const TensorView& v, int64_t n) {
  GF_RETURN_IF_ERROR(CheckDType(op, name, v, DType::kF32));
  if (v.rank < 1 || v.rank > TensorView::kMaxRank || v.numel() != n || !v.is_contiguous()) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) +
                           " must be a contiguous vector of " + std::to_string(n));
  }
  if (n > 0 && v.data == nullptr) {
    return InvalidArgument(std::string(op) + ": " + Describe(name, v) + " has null data");
  }
  return Status::Ok();
}

// Byte range [begin, end) touched by a validated 1-D/2-D view.
struct Extent {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

Extent ExtentOf(const TensorView& v) {
  Extent e;
  if (v.data == nullptr || v.numel() == 0) return e;
  const int64_t elements = (v.rows() - 1) * v.ld() + v.cols();
  e.begin = reinterpret_cast<uintptr_t>(v.data);
  e.end = e.begin + static_cast<uintptr_t>(elements) * DTypeSize(v.dtype);
  return e;
}

bool Overlap(const TensorView& a, const TensorView& b) {
  const Extent ea = ExtentOf(a);
  const Extent eb = ExtentOf(b);
  if (ea.begin == ea.end || eb.begin == eb.end) return false;
  return ea.begin < eb.end && eb.begin < ea.end;
}

// The output must not share memory with the input at all.
Status CheckDisjoint(const char* op, const char* out_name, const TensorView& out,
                     const char* in_name, const TensorView& in) {
  if (Overlap(out, in)) {
    return InvalidArgument(std::string(op) + ": " + out_name + " must not alias " + in_name);
  }
  return Status::Ok();
}

// Elementwise ops may work in place: the output is either exactly the input (same pointer,
// dtype and row stride) or disjoint from it.
Status CheckSameOrDisjoint(const char* op, const char* out_name, const TensorView& out,
                           const char* in_name, const TensorView& in) {
  if (out.data == in.data && out.dtype == in.dtype && out.ld() == in.ld()) return Status::Ok();
  return CheckDisjoint(op, out_name, out, in_name, in);
}

Status CheckHeads(const char* op, int64_t width, int head_size) {
  if (head_size <= 0 || width % head_size != 0) {
    return InvalidArgument(std::string(op) + ": width " + std::to_string(width) +
                           " is not a multiple of head_size " + std::to_string(head_size));
  }
  return Status::Ok();
}

// Shared validation of the two WKV entry points.
Status CheckWkv(const char* op, const TensorView& r, const TensorView& k, const TensorView& v,
                const TensorView& w_hat, const TensorView& state, const TensorView& y,
                int head_size) {
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"r", &r}, {"k", &k}, {"v", &v}, {"w_hat", &w_hat},
                                       {"state", &state}, {"y", &y}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "r", r));
  const int64_t T = r.rows();
  const int64_t A = r.cols();
  GF_RETURN_IF_ERROR(CheckHeads(op, A, head_size));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "k", k));
  GF_RETURN_IF_ERROR(CheckShape(op, "k", k, T, A));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "v", v));
  GF_RETURN_IF_ERROR(CheckShape(op, "v", v, T, A));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "w_hat", w_hat));
  GF_RETURN_IF_ERROR(CheckShape(op, "w_hat", w_hat, T, A));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "y", y));
  GF_RETURN_IF_ERROR(CheckShape(op, "y", y, T, A));
  GF_RETURN_IF_ERROR(CheckF32Vector(op, "state", state, A * head_size));
  const TensorView state_flat = Vec(state.data, DType::kF32, A * head_size);
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "r", r));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "k", k));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "v", v));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "w_hat", w_hat));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "state", state_flat));
  for (const TensorView* in : {&r, &k, &v, &w_hat}) {
    GF_RETURN_IF_ERROR(CheckDisjoint(op, "state", state_flat, "an input", *in));
  }
  return Status::Ok();
}

// Validation shared by the in-place elementwise ops on one F32 matrix.
Status CheckInPlaceMatrix(const char* op, const TensorView& x) {
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}}));
  return CheckF32Matrix(op, "x", x);
}

}  // namespace

Status Gemm(const TensorView& x, const TensorView& w, const TensorView& y, bool accumulate) {
  constexpr const char* op = "Gemm";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}, {"w", &w}, {"y", &y}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32OrBf16(op, "w", w));
  GF_RETURN_IF_ERROR(CheckLayout(op, "w", w));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "y", y));
  const int64_t M = x.rows();
  const int64_t K = x.cols();
  const int64_t N = w.rows();
  if (w.cols() != K) {
    return InvalidArgument(std::string(op) + ": " + Describe("x", x) + " and " +
                           Describe("w", w) + " disagree on K");
  }
  GF_RETURN_IF_ERROR(CheckShape(op, "y", y, M, N));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "x", x));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "w", w));
  if (M == 0 || N == 0) return Status::Ok();
  cpu::Gemm(x, w, y, accumulate);
  return Status::Ok();
}

Status LayerNorm(const TensorView& x, const TensorView& gamma, const TensorView& beta,
                 const TensorView& y, float eps) {
  constexpr const char* op = "LayerNorm";
  GF_RETURN_IF_ERROR(
      CheckDevices(op, {{"x", &x}, {"gamma", &gamma}, {"beta", &beta}, {"y", &y}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "y", y));
  GF_RETURN_IF_ERROR(CheckShape(op, "y", y, x.rows(), x.cols()));
  GF_RETURN_IF_ERROR(CheckF32Vector(op, "gamma", gamma, x.cols()));
  GF_RETURN_IF_ERROR(CheckF32Vector(op, "beta", beta, x.cols()));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "y", y, "x", x));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "gamma", gamma));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "y", y, "beta", beta));
  if (!(eps >= 0.0f)) return InvalidArgument("LayerNorm: eps must be >= 0");
  if (x.numel() == 0) return Status::Ok();
  cpu::LayerNorm(x, gamma, beta, y, eps);
  return Status::Ok();
}

Status RmsNorm(const TensorView& x, const TensorView& y, float eps) {
  constexpr const char* op = "RmsNorm";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}, {"y", &y}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "y", y));
  GF_RETURN_IF_ERROR(CheckShape(op, "y", y, x.rows(), x.cols()));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "y", y, "x", x));
  if (!(eps >= 0.0f)) return InvalidArgument("RmsNorm: eps must be >= 0");
  if (x.numel() == 0) return Status::Ok();
  cpu::RmsNorm(x, y, eps);
  return Status::Ok();
}

Status ShiftDelta(const TensorView& x, const TensorView& prev, const TensorView& delta) {
  constexpr const char* op = "ShiftDelta";
  GF_RETURN_IF_ERROR(
      CheckDevices(op, {{"x", &x}, {"prev", &prev, true}, {"delta", &delta}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "delta", delta));
  GF_RETURN_IF_ERROR(CheckShape(op, "delta", delta, x.rows(), x.cols()));
  if (prev.data != nullptr) {
    GF_RETURN_IF_ERROR(CheckF32Vector(op, "prev", prev, x.cols()));
    GF_RETURN_IF_ERROR(CheckDisjoint(op, "delta", delta, "prev", prev));
  }
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "delta", delta, "x", x));
  if (x.numel() == 0) return Status::Ok();
  cpu::ShiftDelta(x, prev, delta);
  return Status::Ok();
}

Status ShiftMix(const TensorView& x, const TensorView& delta, const TensorView& mu,
                const TensorView& m, const TensorView& out) {
  constexpr const char* op = "ShiftMix";
  GF_RETURN_IF_ERROR(CheckDevices(
      op, {{"x", &x}, {"delta", &delta}, {"mu", &mu}, {"m", &m, true}, {"out", &out}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  const int64_t T = x.rows();
  const int64_t C = x.cols();
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "delta", delta));
  GF_RETURN_IF_ERROR(CheckShape(op, "delta", delta, T, C));
  GF_RETURN_IF_ERROR(CheckF32Vector(op, "mu", mu, C));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "out", out));
  GF_RETURN_IF_ERROR(CheckShape(op, "out", out, T, C));
  if (m.data != nullptr) {
    GF_RETURN_IF_ERROR(CheckF32Matrix(op, "m", m));
    GF_RETURN_IF_ERROR(CheckShape(op, "m", m, T, C));
    GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "out", out, "m", m));
  }
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "out", out, "x", x));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "out", out, "delta", delta));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "out", out, "mu", mu));
  if (x.numel() == 0) return Status::Ok();
  cpu::ShiftMix(x, delta, mu, m, out);
  return Status::Ok();
}

Status Tanh(const TensorView& x) {
  GF_RETURN_IF_ERROR(CheckInPlaceMatrix("Tanh", x));
  if (x.numel() > 0) cpu::Tanh(x);
  return Status::Ok();
}

Status Sigmoid(const TensorView& x) {
  GF_RETURN_IF_ERROR(CheckInPlaceMatrix("Sigmoid", x));
  if (x.numel() > 0) cpu::Sigmoid(x);
  return Status::Ok();
}

Status ReluSquare(const TensorView& x) {
  GF_RETURN_IF_ERROR(CheckInPlaceMatrix("ReluSquare", x));
  if (x.numel() > 0) cpu::ReluSquare(x);
  return Status::Ok();
}

Status AddRowVector(const TensorView& x, const TensorView& v) {
  constexpr const char* op = "AddRowVector";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}, {"v", &v}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32Vector(op, "v", v, x.cols()));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "x", x, "v", v));
  if (x.numel() > 0) cpu::AddRowVector(x, v);
  return Status::Ok();
}

Status Add(const TensorView& x, const TensorView& y) {
  constexpr const char* op = "Add";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}, {"y", &y}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "y", y));
  GF_RETURN_IF_ERROR(CheckShape(op, "y", y, x.rows(), x.cols()));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "x", x, "y", y));
  if (x.numel() > 0) cpu::Add(x, y);
  return Status::Ok();
}

Status AddProduct(const TensorView& x, const TensorView& a, const TensorView& b) {
  constexpr const char* op = "AddProduct";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}, {"a", &a}, {"b", &b}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "a", a));
  GF_RETURN_IF_ERROR(CheckShape(op, "a", a, x.rows(), x.cols()));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "b", b));
  GF_RETURN_IF_ERROR(CheckShape(op, "b", b, x.rows(), x.cols()));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "x", x, "a", a));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "x", x, "b", b));
  if (x.numel() > 0) cpu::AddProduct(x, a, b);
  return Status::Ok();
}

Status DecayKeyScale(const TensorView& k, const TensorView& w_hat) {
  constexpr const char* op = "DecayKeyScale";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"k", &k}, {"w_hat", &w_hat}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "k", k));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "w_hat", w_hat));
  GF_RETURN_IF_ERROR(CheckShape(op, "w_hat", w_hat, k.rows(), k.cols()));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "k", k, "w_hat", w_hat));
  if (k.numel() > 0) cpu::DecayKeyScale(k, w_hat);
  return Status::Ok();
}

Status Wkv6Sequential(const TensorView& r, const TensorView& k, const TensorView& v,
                      const TensorView& w_hat, const TensorView& state, const TensorView& y,
                      int head_size) {
  GF_RETURN_IF_ERROR(CheckWkv("Wkv6Sequential", r, k, v, w_hat, state, y, head_size));
  if (r.numel() == 0) return Status::Ok();
  cpu::Wkv6Sequential(r, k, v, w_hat, state, y, head_size);
  return Status::Ok();
}

Status Wkv6Chunked(const TensorView& r, const TensorView& k, const TensorView& v,
                   const TensorView& w_hat, const TensorView& state, const TensorView& y,
                   int head_size) {
  GF_RETURN_IF_ERROR(CheckWkv("Wkv6Chunked", r, k, v, w_hat, state, y, head_size));
  if (r.numel() == 0) return Status::Ok();
  cpu::Wkv6Chunked(r, k, v, w_hat, state, y, head_size);
  return Status::Ok();
}

Status Rope(const TensorView& x, int64_t first_pos, int head_size, const RopeParams& params) {
  constexpr const char* op = "Rope";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"x", &x}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "x", x));
  GF_RETURN_IF_ERROR(CheckHeads(op, x.cols(), head_size));
  if (head_size % 2 != 0) return InvalidArgument("Rope: head_size must be even");
  if (first_pos < 0) return InvalidArgument("Rope: first_pos must be >= 0");
  if (!params.enabled) return Status::Ok();
  if (!(params.base > 0.0) || !(params.rescale > 0.0) || !(params.rebase > 0.0) ||
      !std::isfinite(params.base * params.rebase) || !std::isfinite(params.rescale)) {
    return InvalidArgument("Rope: base, rescale and rebase must be positive and finite");
  }
  if (x.numel() > 0) cpu::Rope(x, first_pos, head_size, params);
  return Status::Ok();
}

Status CausalAttention(const TensorView& q, const TensorView& keys, const TensorView& values,
                       int64_t q_first_pos, const TensorView& out, int head_size) {
  constexpr const char* op = "CausalAttention";
  GF_RETURN_IF_ERROR(
      CheckDevices(op, {{"q", &q}, {"keys", &keys}, {"values", &values}, {"out", &out}}));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "q", q));
  const int64_t Tq = q.rows();
  const int64_t A = q.cols();
  GF_RETURN_IF_ERROR(CheckHeads(op, A, head_size));
  GF_RETURN_IF_ERROR(CheckF32OrBf16(op, "keys", keys));
  GF_RETURN_IF_ERROR(CheckLayout(op, "keys", keys));
  GF_RETURN_IF_ERROR(CheckF32OrBf16(op, "values", values));
  GF_RETURN_IF_ERROR(CheckLayout(op, "values", values));
  const int64_t S = keys.rows();
  GF_RETURN_IF_ERROR(CheckShape(op, "keys", keys, S, A));
  GF_RETURN_IF_ERROR(CheckShape(op, "values", values, S, A));
  if (q_first_pos < 0 || S < q_first_pos + Tq) {
    return InvalidArgument(std::string(op) + ": " + std::to_string(S) +
                           " keys do not cover query positions " + std::to_string(q_first_pos) +
                           ".." + std::to_string(q_first_pos + Tq - 1));
  }
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "out", out));
  GF_RETURN_IF_ERROR(CheckShape(op, "out", out, Tq, A));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "out", out, "q", q));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "out", out, "keys", keys));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "out", out, "values", values));
  if (Tq == 0 || A == 0) return Status::Ok();
  cpu::CausalAttention(q, keys, values, q_first_pos, out, head_size);
  return Status::Ok();
}

Status EmbeddingGather(const TensorView& table, std::span<const int32_t> ids,
                       const TensorView& out) {
  constexpr const char* op = "EmbeddingGather";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"table", &table}, {"out", &out}}));
  GF_RETURN_IF_ERROR(CheckF32OrBf16(op, "table", table));
  GF_RETURN_IF_ERROR(CheckLayout(op, "table", table));
  GF_RETURN_IF_ERROR(CheckF32Matrix(op, "out", out));
  GF_RETURN_IF_ERROR(
      CheckShape(op, "out", out, static_cast<int64_t>(ids.size()), table.cols()));
  GF_RETURN_IF_ERROR(CheckDisjoint(op, "out", out, "table", table));
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= table.rows()) {
      return InvalidArgument(std::string(op) + ": id " + std::to_string(ids[t]) + " at " +
                             std::to_string(t) + " is outside [0, " +
                             std::to_string(table.rows()) + ")");
    }
  }
  if (out.numel() > 0) cpu::EmbeddingGather(table, ids, out);
  return Status::Ok();
}

Status Convert(const TensorView& src, const TensorView& dst) {
  constexpr const char* op = "Convert";
  GF_RETURN_IF_ERROR(CheckDevices(op, {{"src", &src}, {"dst", &dst}}));
  for (const Arg& a : {Arg{"src", &src}, Arg{"dst", &dst}}) {
    const DType d = a.view->dtype;
    if (d != DType::kF32 && d != DType::kBF16 && d != DType::kF16) {
      return InvalidArgument(std::string(op) + ": " + Describe(a.name, *a.view) +
                             " must be f32, bf16 or f16");
    }
    GF_RETURN_IF_ERROR(CheckLayout(op, a.name, *a.view));
  }
  GF_RETURN_IF_ERROR(CheckShape(op, "dst", dst, src.rows(), src.cols()));
  GF_RETURN_IF_ERROR(CheckSameOrDisjoint(op, "dst", dst, "src", src));
  if (src.numel() > 0) cpu::Convert(src, dst);
  return Status::Ok();
}

}  // namespace gf::kernels
