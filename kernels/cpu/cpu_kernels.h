// Private interface of the CPU backend: one function per public op of kernels.h.
//
// Contract: the caller (kernels/dispatch.cc) has already validated every argument (dtypes,
// ranks, shapes, aliasing, CPU device, non-null data), so these functions neither check nor
// fail. Views are 1-D or 2-D with unit column stride; rows() and ld() describe the layout.
// They may use the kernel thread pool and must not be called concurrently from two threads.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/kernels.h"
#include "kernels/tensor.h"

namespace gf::kernels::cpu {

// True when the CPU supports AVX2 and FMA (the fast paths) and the scalar paths are not forced.
bool HasAvx2Fma();
// Tests only: forces the plain scalar paths (the readable oracle) while `force` is set. Must not
// be called while an op is running.
void ForceScalarForTesting(bool force);

void Gemm(const TensorView& x, const TensorView& w, const TensorView& y, bool accumulate);

void LayerNorm(const TensorView& x, const TensorView& gamma, const TensorView& beta,
               const TensorView& y, float eps);
void RmsNorm(const TensorView& x, const TensorView& y, float eps);

// `prev` and `m` may have data == nullptr (meaning zeros).
void ShiftDelta(const TensorView& x, const TensorView& prev, const TensorView& delta);
void ShiftMix(const TensorView& x, const TensorView& delta, const TensorView& mu,
              const TensorView& m, const TensorView& out);

void Tanh(const TensorView& x);
void Sigmoid(const TensorView& x);
void ReluSquare(const TensorView& x);
void AddRowVector(const TensorView& x, const TensorView& v);
void Add(const TensorView& x, const TensorView& y);
void AddProduct(const TensorView& x, const TensorView& a, const TensorView& b);
void DecayKeyScale(const TensorView& k, const TensorView& w_hat);

// `state` is contiguous F32 with H * N * N elements.
void Wkv6Sequential(const TensorView& r, const TensorView& k, const TensorView& v,
                    const TensorView& w_hat, const TensorView& state, const TensorView& y,
                    int head_size);
void Wkv6Chunked(const TensorView& r, const TensorView& k, const TensorView& v,
                 const TensorView& w_hat, const TensorView& state, const TensorView& y,
                 int head_size);

void Rope(const TensorView& x, int64_t first_pos, int head_size, const RopeParams& params);
void CausalAttention(const TensorView& q, const TensorView& keys, const TensorView& values,
                     int64_t q_first_pos, const TensorView& out, int head_size);

// Ids are already known to lie in [0, table.rows()).
void EmbeddingGather(const TensorView& table, std::span<const int32_t> ids, const TensorView& out);
void Convert(const TensorView& src, const TensorView& dst);

}  // namespace gf::kernels::cpu
