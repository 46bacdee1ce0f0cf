#include "training/tariff_family.h"

#include <cmath>
#include <numeric>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smfg::training {
namespace {

using ::smfg::testing_util::IsOk;
using ::smfg::testing_util::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kHours = env::kHoursPerDay;

TariffFamilyParams Params(FamilyKind kind) {
  TariffFamilyParams p;
  p.kind = kind;
  p.min_rate_per_kwh = 0.05;
  p.max_rate_per_kwh = 0.30;
  return p;
}

double MaxStep(const std::array<double, kHours>& r) {
  double m = 0;
  for (int h = 0; h < kHours; ++h) m = std::max(m, std::fabs(r[(h + 1) % kHours] - r[h]));
  return m;
}

TEST(TariffFamilyTest, SizesAndBoundsPerFamilyRowsAndFixedCharges) {
  TariffFamilyParams p = Params(FamilyKind::kHourly);
  EXPECT_EQ(TariffFamily(p).size(), 24);
  p.kind = FamilyKind::kBlocks;
  EXPECT_EQ(TariffFamily(p).size(), 4);  // default blocks 0, 7, 17, 21
  p.kind = FamilyKind::kSmooth;
  p.harmonics = 2;
  const TariffFamily smooth(p);
  EXPECT_EQ(smooth.size(), 5);
  // Level in the rate bounds; amplitudes within +-(max - min) / 2.
  EXPECT_THAT(smooth.lower(), ElementsAre(0.05, -0.125, -0.125, -0.125, -0.125));
  EXPECT_THAT(smooth.upper(), ElementsAre(0.30, 0.125, 0.125, 0.125, 0.125));
  p.rows = 3;
  p.learn_fixed_charges = true;
  p.groups = 4;
  p.min_fixed_charge_per_day = -1;
  p.max_fixed_charge_per_day = 1;
  const TariffFamily nodal(p);
  EXPECT_EQ(nodal.size(), 3 * 5 + 4);
  EXPECT_EQ(nodal.lower().back(), -1);
  EXPECT_EQ(nodal.upper().back(), 1);
}

TEST(TariffFamilyTest, HourlyAndBlocksPostTheirParameters) {
  TariffFamilyParams p = Params(FamilyKind::kHourly);
  std::vector<double> x(24);
  for (int h = 0; h < kHours; ++h) x[h] = 0.05 + 0.01 * h;
  DayPrices day = TariffFamily(p).Map(x);
  ASSERT_EQ(day.rates.size(), 1u);
  for (int h = 0; h < kHours; ++h) EXPECT_DOUBLE_EQ(day.rates[0][h], x[h]) << h;
  EXPECT_TRUE(day.fixed_charges.empty());

  p.kind = FamilyKind::kBlocks;
  p.block_start_hours = {0, 6, 18};
  day = TariffFamily(p).Map({0.08, 0.12, 0.25});
  for (int h = 0; h < kHours; ++h) {
    EXPECT_DOUBLE_EQ(day.rates[0][h], h < 6 ? 0.08 : h < 18 ? 0.12 : 0.25) << h;
  }
}

TEST(TariffFamilyTest, SmoothIsTheFourierSeriesAtHalfHours) {
  TariffFamilyParams p = Params(FamilyKind::kSmooth);
  p.harmonics = 2;
  // rate_h = 0.15 + 0.04 cos(2 pi (h + 1/2) / 24) - 0.02 sin(4 pi (h + 1/2) / 24)
  const DayPrices day = TariffFamily(p).Map({0.15, 0.04, 0.0, 0.0, -0.02});
  for (int h = 0; h < kHours; ++h) {
    const double t = h + 0.5;
    const double expected =
        0.15 + 0.04 * std::cos(2 * M_PI * t / 24) - 0.02 * std::sin(4 * M_PI * t / 24);
    EXPECT_NEAR(day.rates[0][h], expected, 5e-7) << h;  // micro-dollar rounding
  }
  // Hand-computed: hour 0 is t = 0.5, cos(pi/24) = 0.991445, sin(pi/12) = 0.258819.
  EXPECT_NEAR(day.rates[0][0], 0.15 + 0.04 * 0.991445 - 0.02 * 0.258819, 1e-6);
  // Flat parameters post a flat tariff.
  const DayPrices flat = TariffFamily(p).Map(TariffFamily(p).Flat(0.17, 0.0));
  for (double r : flat.rates[0]) EXPECT_DOUBLE_EQ(r, 0.17);
}

TEST(TariffFamilyTest, PostedRatesAreClippedToBoundsAndWholeMicroDollars) {
  TariffFamilyParams p = Params(FamilyKind::kSmooth);
  p.harmonics = 1;
  const DayPrices day = TariffFamily(p).Map({0.25, 0.125, 0.0});
  double hi = 0, lo = 1;
  for (double r : day.rates[0]) {
    hi = std::max(hi, r);
    lo = std::min(lo, r);
    EXPECT_EQ(r, std::round(r * 1e6) / 1e6);
  }
  EXPECT_EQ(hi, 0.30);                    // 0.25 + 0.125 clipped
  EXPECT_NEAR(lo, 0.125 + 0.001, 0.002);  // 0.25 - 0.125 cos(pi/24) ~ 0.1261
}

TEST(TariffFamilyTest, StepLimitShrinksTowardsTheDaysMean) {
  TariffFamilyParams p = Params(FamilyKind::kHourly);
  p.max_hourly_step_per_kwh = 0.01;
  std::vector<double> x(24, 0.10);
  for (int h = 17; h < 21; ++h) x[h] = 0.25;  // steps of 0.15 at 17 and 21
  const DayPrices day = TariffFamily(p).Map(x);
  const auto& r = day.rates[0];
  EXPECT_LE(MaxStep(r), 0.01 + 1e-6);
  // Shrinking keeps the mean: 20 h at 0.10 and 4 h at 0.25 average 0.125.
  EXPECT_NEAR(std::accumulate(r.begin(), r.end(), 0.0) / kHours, 0.125, 1e-6);
  // s = 0.01 / 0.15: peak 0.125 + (0.25 - 0.125) / 15, off-peak 0.125 - 0.025 / 15.
  EXPECT_NEAR(r[18], 0.125 + 0.125 / 15, 1e-6);
  EXPECT_NEAR(r[3], 0.125 - 0.025 / 15, 1e-6);
  // The wrap-around step (23 -> 0) counts: a ramp that jumps back is shrunk too.
  std::vector<double> ramp(24);
  for (int h = 0; h < kHours; ++h) ramp[h] = 0.05 + 0.005 * h;  // 0.005 per hour, 0.115 back
  EXPECT_LE(MaxStep(TariffFamily(p).Map(ramp).rates[0]), 0.01 + 1e-6);
}

TEST(TariffFamilyTest, PeakToOffPeakRatioLimit) {
  TariffFamilyParams p = Params(FamilyKind::kBlocks);
  p.block_start_hours = {0, 12};
  p.max_peak_to_offpeak_ratio = 2.0;
  const DayPrices day = TariffFamily(p).Map({0.05, 0.30});  // ratio 6
  const auto& r = day.rates[0];
  const double lo = *std::min_element(r.begin(), r.end());
  const double hi = *std::max_element(r.begin(), r.end());
  EXPECT_NEAR(hi / lo, 2.0, 1e-5);
  // Mean 0.175 kept: 0.175 -+ d with (0.175 + d) / (0.175 - d) = 2, d = 0.175 / 3.
  EXPECT_NEAR(lo, 0.175 - 0.175 / 3, 1e-6);
  EXPECT_NEAR(hi, 0.175 + 0.175 / 3, 1e-6);
  // A tariff within the limit is untouched.
  EXPECT_DOUBLE_EQ(TariffFamily(p).Map({0.10, 0.15}).rates[0][13], 0.15);
}

TEST(TariffFamilyTest, NodalRowsAndFixedChargesMapIndependently) {
  TariffFamilyParams p = Params(FamilyKind::kBlocks);
  p.block_start_hours = {0, 12};
  p.rows = 2;
  p.learn_fixed_charges = true;
  p.groups = 2;
  p.min_fixed_charge_per_day = -1;
  p.max_fixed_charge_per_day = 1;
  const DayPrices day = TariffFamily(p).Map({0.10, 0.20, 0.06, 0.07, -0.5, 0.25});
  ASSERT_EQ(day.rates.size(), 2u);
  EXPECT_EQ(day.rates[0][0], 0.10);
  EXPECT_EQ(day.rates[0][12], 0.20);
  EXPECT_EQ(day.rates[1][0], 0.06);
  EXPECT_EQ(day.rates[1][23], 0.07);
  EXPECT_THAT(day.fixed_charges, ElementsAre(-0.5, 0.25));

  env::Tariff base;
  base.fixed_charge_per_day = {0, 0};
  const env::Tariff t = TariffFamily(p).StaticTariff({0.10, 0.20, 0.06, 0.07, -0.5, 0.25}, base);
  ASSERT_EQ(t.import_rate_per_kwh.size(), 2u);
  EXPECT_EQ(t.Rates(/*bus=*/1, /*day=*/0)[5], 0.06);
  EXPECT_THAT(t.fixed_charge_per_day, ElementsAre(-0.5, 0.25));
}

TEST(TariffFamilyTest, MeanHourlyStepIsTheMeanAbsoluteChangeWithinADay) {
  env::Tariff t;
  t.import_rate_per_kwh = {std::vector<double>(24, 0.10)};
  EXPECT_EQ(MeanHourlyStep(t), 0.0);
  for (int h = 12; h < 24; ++h) t.import_rate_per_kwh[0][h] = 0.33;
  // One step of 0.23 among 23 (23 -> 0 is not a step within the day).
  EXPECT_NEAR(MeanHourlyStep(t), 0.23 / 23, 1e-15);
  // Daily rows take precedence.
  t.daily_import_rate_per_kwh = {std::vector<double>(24, 0.1), std::vector<double>(24, 0.2)};
  t.daily_import_rate_per_kwh[1][5] = 0.3;
  EXPECT_NEAR(MeanHourlyStep(t), 0.2 / 46, 1e-15);
}

TEST(TariffFamilyTest, ValidateNamesTheField) {
  TariffFamilyParams p = Params(FamilyKind::kBlocks);
  EXPECT_THAT(p.Validate(), IsOk());
  p.block_start_hours = {0, 7, 7};
  EXPECT_THAT(p.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("tariff.block_start_hours[2]: must be after")));
  p.block_start_hours = {3, 7};
  EXPECT_THAT(p.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("tariff.block_start_hours[0]: must be 0")));
  p.block_start_hours = {0, 24};
  EXPECT_THAT(p.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("tariff.block_start_hours[1]: must be in [0, 23]")));
  p = Params(FamilyKind::kSmooth);
  p.harmonics = 12;
  EXPECT_THAT(p.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tariff.smooth_harmonics")));
  p.harmonics = 2;
  p.max_peak_to_offpeak_ratio = 0.5;
  EXPECT_THAT(p.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("tariff.max_peak_to_offpeak_ratio: must be >= 1")));
  p.max_peak_to_offpeak_ratio = 0;
  p.max_hourly_step_per_kwh = -0.01;
  EXPECT_THAT(p.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("tariff.max_hourly_step_per_kwh")));
}

}  // namespace
}  // namespace smfg::training
