// Summary statistics of the bench commands' timing samples (seconds). Pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace gf::cli {

// The median (the mean of the middle two for an even count); 0 for no samples.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace gf::cli
