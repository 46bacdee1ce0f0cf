#include "training/tariff_family.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smfg::training {
namespace {

constexpr int kHours = env::kHoursPerDay;

// Posted prices have finite precision: whole micro-dollars (MODEL.md §9).
double Posted(double value) { return std::round(value * 1e6) / 1e6; }

absl::Status Invalid(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// The largest s in [0, 1] such that shrinking `r` towards its mean by s meets
// both limits (0 means no limit). Steps scale linearly with s; the ratio
// (m + s d_max) / (m + s d_min) grows with s, so it is met for
// s <= m (R - 1) / (d_max - R d_min) when the denominator is positive.
double ShrinkFactor(const std::array<double, kHours>& r, double mean, double step_max,
                    double ratio_max) {
  double s = 1.0;
  if (step_max > 0) {
    double step = 0;
    for (int h = 0; h < kHours; ++h) step = std::max(step, std::fabs(r[(h + 1) % kHours] - r[h]));
    if (step > step_max) s = std::min(s, step_max / step);
  }
  if (ratio_max > 0) {
    double d_min = 0, d_max = 0;
    for (double x : r) {
      d_min = std::min(d_min, x - mean);
      d_max = std::max(d_max, x - mean);
    }
    const double denominator = d_max - ratio_max * d_min;
    if (denominator > 0 && mean > 0) {
      s = std::min(s, mean * (ratio_max - 1) / denominator);
    } else if (mean <= 0) {
      s = 0;  // no spread can keep a ratio of non-positive rates bounded
    }
  }
  return std::max(0.0, s);
}

}  // namespace

absl::Status TariffFamilyParams::Validate() const {
  if (kind == FamilyKind::kBlocks) {
    if (block_start_hours.empty() || block_start_hours.size() > static_cast<size_t>(kHours)) {
      return Invalid("tariff.block_start_hours",
                     absl::StrCat("must have 1 to 24 entries, got ", block_start_hours.size()));
    }
    for (size_t k = 0; k < block_start_hours.size(); ++k) {
      const int h = block_start_hours[k];
      const std::string path = absl::StrCat("tariff.block_start_hours[", k, "]");
      if (k == 0 && h != 0) return Invalid(path, absl::StrCat("must be 0, got ", h));
      if (h < 0 || h >= kHours) return Invalid(path, absl::StrCat("must be in [0, 23], got ", h));
      if (k > 0 && h <= block_start_hours[k - 1]) {
        return Invalid(path, absl::StrCat("must be after the previous start (",
                                          block_start_hours[k - 1], "), got ", h));
      }
    }
  }
  if (kind == FamilyKind::kSmooth && (harmonics < 1 || harmonics > 11)) {
    return Invalid("tariff.smooth_harmonics", absl::StrCat("must be in [1, 11], got ", harmonics));
  }
  if (rows < 1) return Invalid("tariff.rate_structure", "needs at least one rate row");
  if (!(max_peak_to_offpeak_ratio == 0 ||
        (std::isfinite(max_peak_to_offpeak_ratio) && max_peak_to_offpeak_ratio >= 1))) {
    return Invalid("tariff.max_peak_to_offpeak_ratio",
                   absl::StrCat("must be >= 1, got ", max_peak_to_offpeak_ratio));
  }
  if (!(max_hourly_step_per_kwh == 0 ||
        (std::isfinite(max_hourly_step_per_kwh) && max_hourly_step_per_kwh > 0))) {
    return Invalid("tariff.max_hourly_step_per_kwh",
                   absl::StrCat("must be > 0, got ", max_hourly_step_per_kwh));
  }
  return absl::OkStatus();
}

TariffFamily::TariffFamily(TariffFamilyParams params) : params_(std::move(params)) {
  const double lo = params_.min_rate_per_kwh, hi = params_.max_rate_per_kwh;
  for (int row = 0; row < params_.rows; ++row) {
    switch (params_.kind) {
      case FamilyKind::kHourly:
        lower_.insert(lower_.end(), kHours, lo);
        upper_.insert(upper_.end(), kHours, hi);
        break;
      case FamilyKind::kBlocks:
        lower_.insert(lower_.end(), params_.block_start_hours.size(), lo);
        upper_.insert(upper_.end(), params_.block_start_hours.size(), hi);
        break;
      case FamilyKind::kSmooth: {
        const double amplitude = (hi - lo) / 2;
        lower_.push_back(lo);
        upper_.push_back(hi);
        lower_.insert(lower_.end(), 2 * params_.harmonics, -amplitude);
        upper_.insert(upper_.end(), 2 * params_.harmonics, amplitude);
        break;
      }
    }
  }
  if (params_.learn_fixed_charges) {
    lower_.insert(lower_.end(), params_.groups, params_.min_fixed_charge_per_day);
    upper_.insert(upper_.end(), params_.groups, params_.max_fixed_charge_per_day);
  }
}

int TariffFamily::RateParameters() const {
  switch (params_.kind) {
    case FamilyKind::kHourly:
      return kHours;
    case FamilyKind::kBlocks:
      return static_cast<int>(params_.block_start_hours.size());
    case FamilyKind::kSmooth:
      return 1 + 2 * params_.harmonics;
  }
  return 0;
}

int TariffFamily::size() const { return static_cast<int>(lower_.size()); }

int TariffFamily::BlockOf(int hour) const {
  int block = 0;
  for (size_t k = 0; k < params_.block_start_hours.size(); ++k) {
    if (params_.block_start_hours[k] <= hour) block = static_cast<int>(k);
  }
  return block;
}

std::vector<double> TariffFamily::Flat(double rate, double fixed_charge) const {
  std::vector<double> x(lower_.size(), 0.0);
  const int per_row = RateParameters();
  for (int row = 0; row < params_.rows; ++row) {
    for (int i = 0; i < per_row; ++i) {
      const bool level = params_.kind != FamilyKind::kSmooth || i == 0;
      x[row * per_row + i] = level ? rate : 0.0;
    }
  }
  for (int g = 0; params_.learn_fixed_charges && g < params_.groups; ++g) {
    x[params_.rows * per_row + g] = fixed_charge;
  }
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::clamp(x[i], lower_[i], upper_[i]);
  return x;
}

DayPrices TariffFamily::Map(const std::vector<double>& x) const {
  DayPrices out;
  const int per_row = RateParameters();
  const double lo = params_.min_rate_per_kwh, hi = params_.max_rate_per_kwh;
  out.rates.resize(params_.rows);
  for (int row = 0; row < params_.rows; ++row) {
    const double* p = x.data() + row * per_row;
    std::array<double, kHours>& r = out.rates[row];
    for (int h = 0; h < kHours; ++h) {
      switch (params_.kind) {
        case FamilyKind::kHourly:
          r[h] = p[h];
          break;
        case FamilyKind::kBlocks:
          r[h] = p[BlockOf(h)];
          break;
        case FamilyKind::kSmooth: {
          const double t = h + 0.5;
          double v = p[0];
          for (int j = 1; j <= params_.harmonics; ++j) {
            const double angle = 2 * M_PI * j * t / kHours;
            v += p[2 * j - 1] * std::cos(angle) + p[2 * j] * std::sin(angle);
          }
          r[h] = v;
          break;
        }
      }
    }
    double mean = 0;
    for (double v : r) mean += v / kHours;
    const double s =
        ShrinkFactor(r, mean, params_.max_hourly_step_per_kwh, params_.max_peak_to_offpeak_ratio);
    for (double& v : r) {
      // s == 1 leaves the rate as computed (mean + (v - mean) may round).
      const double shrunk = s == 1.0 ? v : mean + s * (v - mean);
      v = Posted(std::clamp(shrunk, lo, hi));
    }
  }
  if (params_.learn_fixed_charges) {
    for (int g = 0; g < params_.groups; ++g) {
      out.fixed_charges.push_back(
          Posted(std::clamp(x[params_.rows * per_row + g], params_.min_fixed_charge_per_day,
                            params_.max_fixed_charge_per_day)));
    }
  }
  return out;
}

env::Tariff TariffFamily::StaticTariff(const std::vector<double>& x,
                                       const env::Tariff& base) const {
  const DayPrices day = Map(x);
  env::Tariff t = base;
  t.daily_import_rate_per_kwh.clear();
  t.daily_fixed_charge_per_day.clear();
  t.daily_rate_rows = 1;
  t.import_rate_per_kwh.clear();
  for (const auto& row : day.rates) t.import_rate_per_kwh.emplace_back(row.begin(), row.end());
  if (params_.learn_fixed_charges) t.fixed_charge_per_day = day.fixed_charges;
  return t;
}

double MeanHourlyStep(const env::Tariff& tariff) {
  const auto& rows = tariff.daily_import_rate_per_kwh.empty() ? tariff.import_rate_per_kwh
                                                              : tariff.daily_import_rate_per_kwh;
  double sum = 0;
  int64_t steps = 0;
  for (const auto& row : rows) {
    for (size_t h = 0; h + 1 < row.size(); ++h) {
      sum += std::fabs(row[h + 1] - row[h]);
      ++steps;
    }
  }
  return steps == 0 ? 0.0 : sum / steps;
}

}  // namespace smfg::training
