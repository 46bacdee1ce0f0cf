#include "environment/matpower.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/charconv.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/files.h"
#include "common/status.h"
#include "environment/network.h"

namespace smfg::env {
namespace {

// Column layout of MATPOWER's caseformat (0-based here). A DC model reads only
// these; the minimum widths are those of the version-2 format without OPF
// result columns (gen may omit the ramp/capability columns, as MATPOWER's own
// loader allows).
constexpr int kBusI = 0, kPd = 2, kGs = 4;
constexpr int kGenBus = 0, kGenStatus = 7, kPmax = 8, kPmin = 9;
constexpr int kFBus = 0, kTBus = 1, kBrX = 3, kRateA = 5, kRatio = 8, kShift = 9, kBrStatus = 10;
constexpr int kModel = 0, kNcost = 3, kFirstCoefficient = 4;
constexpr int kMinBusCols = 13, kMinGenCols = 10, kMinBranchCols = 11, kMinGencostCols = 4;
constexpr int kPolynomialModel = 2, kPiecewiseLinearModel = 1;
// Quadratic is the highest degree our QP (and a convex cost) can take.
constexpr int kMaxNcost = 3;
// Keeps error messages short when the offending token is garbage.
constexpr size_t kMaxTokenShown = 24;
// Larger bus numbers are not integers we can represent exactly and usefully.
constexpr double kMaxInteger = 1e9;

struct MatrixRow {
  int line = 0;
  std::vector<double> values;
};

struct Matrix {
  std::string name;  // as written, e.g. "mpc.bus"
  int line = 0;      // line of the opening bracket
  std::vector<MatrixRow> rows;
};

bool IsIdentStart(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(int c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(int c) { return c >= '0' && c <= '9'; }

// A single forward pass over the text. Everything outside the few fields a DC
// model needs is recognised only well enough to skip it.
class Parser {
 public:
  Parser(absl::string_view text, absl::string_view source) : text_(text), source_(source) {}

  absl::Status Parse();

  // Filled by Parse().
  std::map<std::string, Matrix> matrices;  // keyed by field: "bus", "gen", ...
  std::string version;
  int version_line = 0;
  bool have_version = false;
  double base_mva = 0.0;
  int base_mva_line = 0;
  bool have_base_mva = false;
  // The last line of the text, for errors about something missing.
  int end_line() const {
    return !text_.empty() && text_.back() == '\n' && line_ > 1 ? line_ - 1 : line_;
  }

  absl::Status Error(int line, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ": ", message));
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  // -1 past the end, so a NUL byte in the text is just another bad character.
  int Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? static_cast<unsigned char>(text_[pos_ + ahead]) : -1;
  }
  bool AtContinuation() const { return Peek() == '.' && Peek(1) == '.' && Peek(2) == '.'; }
  void SkipToEndOfLine() {
    while (!AtEnd() && Peek() != '\n') ++pos_;
  }
  // Skips spaces, tabs, CRs and MATLAB "..." continuations (which join the
  // next line), but not newlines.
  void SkipBlanks() {
    while (!AtEnd()) {
      const int c = Peek();
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (AtContinuation()) {
        SkipToEndOfLine();
        if (!AtEnd()) {
          ++pos_;
          ++line_;
        }
      } else {
        return;
      }
    }
  }
  bool AtDelimiter() const {
    const int c = Peek();
    return c == -1 || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' ||
           c == ']' || c == '%' || AtContinuation();
  }
  std::string TokenAt(size_t start) const {
    size_t end = start;
    while (end < text_.size() && end - start < kMaxTokenShown) {
      const char c = text_[end];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' || c == ']' ||
          c == '%') {
        break;
      }
      ++end;
    }
    if (end == start) end = start + 1;  // show at least the offending byte
    return absl::CHexEscape(text_.substr(start, end - start));
  }
  absl::string_view ReadIdent() {
    const size_t start = pos_;
    while (!AtEnd() && IsIdentChar(Peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  absl::Status ReadNumber(absl::string_view context, double* value);
  absl::Status ReadString(absl::string_view name, std::string* value);
  absl::Status ParseMatrix(absl::string_view name, Matrix* matrix);
  absl::Status SkipCellArray(absl::string_view name);
  absl::Status ParseAssignment(absl::string_view object);

  absl::string_view text_;
  absl::string_view source_;
  size_t pos_ = 0;
  int line_ = 1;
};

absl::Status Parser::ReadNumber(absl::string_view context, double* value) {
  const size_t start = pos_;
  const int line = line_;
  auto bad_token = [&]() {
    return Error(line, absl::StrCat(context, ": non-numeric token '", TokenAt(start), "'"));
  };
  bool negative = false;
  if (Peek() == '+' || Peek() == '-') {
    negative = Peek() == '-';
    ++pos_;
  }
  auto matches_word = [&](absl::string_view word) {
    for (size_t i = 0; i < word.size(); ++i) {
      const int c = Peek(i);
      if (c == -1 || (c | 0x20) != word[i]) return false;
    }
    return !IsIdentChar(Peek(word.size()));
  };
  if (matches_word("inf")) {
    pos_ += 3;
    *value = negative ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity();
  } else if (matches_word("nan")) {
    pos_ += 3;
    *value = std::numeric_limits<double>::quiet_NaN();
  } else {
    const size_t digits_start = pos_;
    int digits = 0;
    while (IsDigit(Peek())) {
      ++pos_;
      ++digits;
    }
    if (Peek() == '.' && !AtContinuation()) {
      ++pos_;
      while (IsDigit(Peek())) {
        ++pos_;
        ++digits;
      }
    }
    if (digits == 0) return bad_token();
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!IsDigit(Peek())) return bad_token();
      while (IsDigit(Peek())) ++pos_;
    }
    double parsed = 0.0;
    const char* first = text_.data() + digits_start;
    const char* last = text_.data() + pos_;
    const absl::from_chars_result result = absl::from_chars(first, last, parsed);
    if (result.ptr != last) return bad_token();
    if (result.ec == std::errc::result_out_of_range) {
      return Error(line, absl::StrCat(context, ": number '", TokenAt(start), "' is out of range"));
    }
    if (result.ec != std::errc()) return bad_token();
    *value = negative ? -parsed : parsed;
  }
  if (!AtDelimiter()) return bad_token();
  return absl::OkStatus();
}

absl::Status Parser::ReadString(absl::string_view name, std::string* value) {
  const char quote = text_[pos_];
  const int line = line_;
  ++pos_;
  value->clear();
  while (true) {
    if (AtEnd() || Peek() == '\n') {
      return Error(line, absl::StrCat(name, ": unterminated string"));
    }
    const char c = text_[pos_++];
    if (c == quote) {
      // MATLAB escapes a quote by doubling it.
      if (Peek() == quote) {
        ++pos_;
      } else {
        return absl::OkStatus();
      }
    }
    value->push_back(c);
  }
}

absl::Status Parser::ParseMatrix(absl::string_view name, Matrix* matrix) {
  matrix->name = std::string(name);
  matrix->line = line_;
  ++pos_;  // '['
  MatrixRow row;
  auto end_row = [&]() {
    if (!row.values.empty()) matrix->rows.push_back(std::move(row));
    row = MatrixRow();
  };
  while (true) {
    SkipBlanks();
    if (AtEnd()) {
      return Error(line_, absl::StrCat(name, ": unterminated matrix (no ']' for the '[' ",
                                       "on line ", matrix->line, ")"));
    }
    const int c = Peek();
    if (c == '%') {
      SkipToEndOfLine();
    } else if (c == '\n') {
      end_row();
      ++pos_;
      ++line_;
    } else if (c == ';') {
      end_row();
      ++pos_;
    } else if (c == ',') {
      ++pos_;
    } else if (c == ']') {
      end_row();
      ++pos_;
      return absl::OkStatus();
    } else {
      if (row.values.empty()) row.line = line_;
      double value = 0.0;
      SMFG_RETURN_IF_ERROR(
          ReadNumber(absl::StrCat(name, " row ", matrix->rows.size() + 1), &value));
      row.values.push_back(value);
    }
  }
}

absl::Status Parser::SkipCellArray(absl::string_view name) {
  const int start_line = line_;
  int depth = 0;
  while (true) {
    if (AtEnd()) {
      return Error(line_, absl::StrCat(name, ": unterminated cell array (no '}' for the ",
                                       "'{' on line ", start_line, ")"));
    }
    const int c = Peek();
    if (c == '\'' || c == '"') {
      std::string ignored;
      SMFG_RETURN_IF_ERROR(ReadString(name, &ignored));
      continue;
    }
    if (c == '%') {
      SkipToEndOfLine();
      continue;
    }
    ++pos_;
    if (c == '\n') {
      ++line_;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return absl::OkStatus();
    }
  }
}

// `object` has been read; expects ".field = value" and the statement's end.
absl::Status Parser::ParseAssignment(absl::string_view object) {
  const int line = line_;
  SkipBlanks();
  if (Peek() != '.') {
    return Error(line, absl::StrCat("unexpected '", TokenAt(pos_), "' after '", object, "': only '",
                                    object, ".<field> = <value>;' statements are supported"));
  }
  ++pos_;
  const absl::string_view field = ReadIdent();
  if (field.empty()) {
    return Error(line, absl::StrCat("expected a field name after '", object, ".'"));
  }
  const std::string name = absl::StrCat(object, ".", field);
  SkipBlanks();
  if (Peek() != '=') {
    return Error(line, absl::StrCat("expected '=' after '", name, "', got '", TokenAt(pos_),
                                    "' (only whole-field assignments "
                                    "are supported)"));
  }
  ++pos_;
  SkipBlanks();
  const int c = Peek();
  const bool wanted_matrix =
      field == "bus" || field == "gen" || field == "branch" || field == "gencost";
  if (c == '[') {
    Matrix matrix;
    SMFG_RETURN_IF_ERROR(ParseMatrix(name, &matrix));
    if (wanted_matrix) {
      if (matrices.count(std::string(field)) > 0) {
        return Error(line, absl::StrCat(name, " is assigned twice (first on line ",
                                        matrices[std::string(field)].line, ")"));
      }
      matrices[std::string(field)] = std::move(matrix);
    }
  } else if (wanted_matrix) {
    return Error(line, absl::StrCat(name, ": expected a matrix '[ ... ]'"));
  } else if (c == '{') {
    SMFG_RETURN_IF_ERROR(SkipCellArray(name));
  } else if (c == '\'' || c == '"') {
    std::string value;
    SMFG_RETURN_IF_ERROR(ReadString(name, &value));
    if (field == "version") {
      version = value;
      version_line = line;
      have_version = true;
    } else if (field == "baseMVA") {
      return Error(line, absl::StrCat(name, ": expected a number, got a string"));
    }
  } else if (c != -1 && (IsDigit(c) || c == '.' || c == '+' || c == '-' || c == 'I' || c == 'i' ||
                         c == 'N' || c == 'n')) {
    double value = 0.0;
    SMFG_RETURN_IF_ERROR(ReadNumber(name, &value));
    if (field == "baseMVA") {
      base_mva = value;
      base_mva_line = line;
      have_base_mva = true;
    } else if (field == "version") {
      version = absl::StrCat(value);
      version_line = line;
      have_version = true;
    }
  } else {
    return Error(line,
                 absl::StrCat("expected a value after '", name, " =', got '", TokenAt(pos_), "'"));
  }
  SkipBlanks();
  if (Peek() == '%') SkipToEndOfLine();
  const int end = Peek();
  if (end == ';' || end == ',') {
    ++pos_;
  } else if (end != '\n' && end != -1) {
    return Error(line_, absl::StrCat("unexpected '", TokenAt(pos_), "' after the value of ", name));
  }
  return absl::OkStatus();
}

absl::Status Parser::Parse() {
  while (true) {
    SkipBlanks();
    if (AtEnd()) return absl::OkStatus();
    const int c = Peek();
    if (c == '\n') {
      ++pos_;
      ++line_;
    } else if (c == '%') {
      SkipToEndOfLine();
    } else if (c == ';' || c == ',') {
      ++pos_;
    } else if (IsIdentStart(c)) {
      const absl::string_view ident = ReadIdent();
      if (ident == "function") {
        SkipToEndOfLine();  // "function mpc = caseN"
      } else if (ident == "end" || ident == "endfunction" || ident == "return") {
        continue;
      } else {
        SMFG_RETURN_IF_ERROR(ParseAssignment(ident));
      }
    } else {
      return Error(line_, absl::StrCat("unexpected '", TokenAt(pos_), "'"));
    }
  }
}

// ---------------------------------------------------------------------------
// From parsed matrices to a network.

bool AsInteger(double value, int* out) {
  if (!(std::abs(value) <= kMaxInteger) || value != std::floor(value)) return false;
  *out = static_cast<int>(value);
  return true;
}

class Builder {
 public:
  Builder(const Parser& parser, absl::string_view source) : parser_(parser), source_(source) {}

  absl::StatusOr<MatpowerCase> Build();

 private:
  absl::Status RowError(const Matrix& m, size_t r, absl::string_view message) const {
    return parser_.Error(m.rows[r].line, absl::StrCat(m.name, " row ", r + 1, ": ", message));
  }
  absl::StatusOr<const Matrix*> Require(const std::string& field, int min_cols) const;
  absl::StatusOr<int> BusIndex(const Matrix& m, size_t r, int col,
                               absl::string_view column_name) const;

  const Parser& parser_;
  absl::string_view source_;
  std::map<int, int> bus_index_;  // MATPOWER bus number -> dense index
};

absl::StatusOr<const Matrix*> Builder::Require(const std::string& field, int min_cols) const {
  auto it = parser_.matrices.find(field);
  if (it == parser_.matrices.end()) {
    return parser_.Error(parser_.end_line(), absl::StrCat("missing required matrix mpc.", field));
  }
  const Matrix& m = it->second;
  for (size_t r = 0; r < m.rows.size(); ++r) {
    const size_t cols = m.rows[r].values.size();
    if (cols < static_cast<size_t>(min_cols)) {
      return RowError(m, r, absl::StrCat("expected at least ", min_cols, " columns, got ", cols));
    }
    // MATLAB itself rejects ragged matrices.
    if (cols != m.rows[0].values.size()) {
      return RowError(
          m, r, absl::StrCat("has ", cols, " columns but row 1 has ", m.rows[0].values.size()));
    }
  }
  return &m;
}

absl::StatusOr<int> Builder::BusIndex(const Matrix& m, size_t r, int col,
                                      absl::string_view column_name) const {
  const double value = m.rows[r].values[col];
  int number = 0;
  auto it = bus_index_.end();
  if (AsInteger(value, &number)) it = bus_index_.find(number);
  if (it == bus_index_.end()) {
    return RowError(m, r, absl::StrCat(column_name, " ", value, " is not a bus number in mpc.bus"));
  }
  return it->second;
}

absl::StatusOr<MatpowerCase> Builder::Build() {
  if (!parser_.have_version) {
    return parser_.Error(parser_.end_line(),
                         "missing mpc.version (only MATPOWER case format version '2' "
                         "is supported)");
  }
  if (parser_.version != "2") {
    return parser_.Error(parser_.version_line,
                         absl::StrCat("mpc.version is '", absl::CHexEscape(parser_.version),
                                      "'; only MATPOWER case format version '2' is "
                                      "supported"));
  }
  if (!parser_.have_base_mva) {
    return parser_.Error(parser_.end_line(), "missing mpc.baseMVA");
  }
  SMFG_ASSIGN_OR_RETURN(const Matrix* bus, Require("bus", kMinBusCols));
  SMFG_ASSIGN_OR_RETURN(const Matrix* gen, Require("gen", kMinGenCols));
  SMFG_ASSIGN_OR_RETURN(const Matrix* branch, Require("branch", kMinBranchCols));
  SMFG_ASSIGN_OR_RETURN(const Matrix* gencost, Require("gencost", kMinGencostCols));

  MatpowerCase result;
  Network& net = result.network;
  net.base_mva = parser_.base_mva;

  for (size_t r = 0; r < bus->rows.size(); ++r) {
    const std::vector<double>& v = bus->rows[r].values;
    int number = 0;
    if (!AsInteger(v[kBusI], &number) || number <= 0) {
      return RowError(*bus, r, absl::StrCat("BUS_I must be a positive integer, got ", v[kBusI]));
    }
    const auto [it, inserted] = bus_index_.emplace(number, static_cast<int>(net.buses.size()));
    if (!inserted) {
      return RowError(*bus, r, absl::StrCat("duplicate BUS_I ", number));
    }
    if (!std::isfinite(v[kPd])) {
      return RowError(*bus, r, absl::StrCat("PD must be finite, got ", v[kPd]));
    }
    if (!std::isfinite(v[kGs])) {
      return RowError(*bus, r, absl::StrCat("GS must be finite, got ", v[kGs]));
    }
    net.buses.push_back({absl::StrCat(number)});
    result.bus_numbers.push_back(number);
    result.bus_demand_mw.push_back(v[kPd]);
    result.bus_shunt_mw.push_back(v[kGs]);
    // MATPOWER's DC OPF balances against PD + GS (opf_setup: bmis).
    result.bus_load_mw.push_back(v[kPd] + v[kGs]);
  }

  if (gencost->rows.size() < gen->rows.size()) {
    return parser_.Error(
        gencost->line,
        absl::StrCat(gencost->name, " has ", gencost->rows.size(), " rows but ", gen->name, " has ",
                     gen->rows.size(), " (one cost row per generator is required)"));
  }
  for (size_t r = 0; r < gen->rows.size(); ++r) {
    const std::vector<double>& v = gen->rows[r].values;
    SMFG_ASSIGN_OR_RETURN(const int bus_index, BusIndex(*gen, r, kGenBus, "GEN_BUS"));
    if (!(v[kPmax] >= 0.0)) {
      return RowError(*gen, r, absl::StrCat("PMAX must be >= 0, got ", v[kPmax]));
    }
    // Cost rows are checked for every generator (as MATPOWER does), even ones
    // that are out of service and dropped below.
    const std::vector<double>& c = gencost->rows[r].values;
    int model = 0;
    if (!AsInteger(c[kModel], &model) ||
        (model != kPolynomialModel && model != kPiecewiseLinearModel)) {
      return RowError(*gencost, r, absl::StrCat("MODEL must be 2 (polynomial), got ", c[kModel]));
    }
    if (model == kPiecewiseLinearModel) {
      return RowError(*gencost, r,
                      "MODEL 1 (piecewise-linear cost) is unsupported; use MODEL 2 "
                      "(polynomial)");
    }
    int ncost = 0;
    if (!AsInteger(c[kNcost], &ncost) || ncost < 0) {
      return RowError(*gencost, r,
                      absl::StrCat("NCOST must be a non-negative integer, got ", c[kNcost]));
    }
    if (ncost > kMaxNcost) {
      return RowError(*gencost, r,
                      absl::StrCat("NCOST ", ncost, " is unsupported: at most ", kMaxNcost,
                                   " coefficients (quadratic cost)"));
    }
    if (c.size() < static_cast<size_t>(kFirstCoefficient + ncost)) {
      return RowError(*gencost, r,
                      absl::StrCat("NCOST ", ncost, " needs ", kFirstCoefficient + ncost,
                                   " columns, got ", c.size()));
    }
    // Coefficients run from the highest power down to the constant.
    double coefficient[kMaxNcost] = {0.0, 0.0, 0.0};  // constant, linear, quadratic
    for (int k = 0; k < ncost; ++k) {
      const double value = c[kFirstCoefficient + k];
      if (!std::isfinite(value)) {
        return RowError(*gencost, r,
                        absl::StrCat("cost coefficient ", k + 1, " must be finite, got ", value));
      }
      coefficient[ncost - 1 - k] = value;
    }
    if (coefficient[2] < 0.0) {
      return RowError(*gencost, r,
                      absl::StrCat("quadratic coefficient must be >= 0 (convex cost), ", "got ",
                                   coefficient[2]));
    }
    if (!(v[kGenStatus] > 0.0)) continue;
    if (!std::isfinite(v[kPmax]) || !std::isfinite(v[kPmin])) {
      return RowError(
          *gen, r, absl::StrCat("PMAX and PMIN must be finite, got ", v[kPmax], " and ", v[kPmin]));
    }
    if (v[kPmin] > v[kPmax]) {
      return RowError(*gen, r, absl::StrCat("PMIN ", v[kPmin], " exceeds PMAX ", v[kPmax]));
    }
    Generator g;
    g.name = absl::StrCat("gen", r + 1);
    g.bus = bus_index;
    g.pmin_mw = v[kPmin];
    g.pmax_mw = v[kPmax];
    g.cost_quadratic = coefficient[2];
    g.cost_linear = coefficient[1];
    g.cost_fixed = coefficient[0];
    net.generators.push_back(std::move(g));
  }

  for (size_t r = 0; r < branch->rows.size(); ++r) {
    const std::vector<double>& v = branch->rows[r].values;
    SMFG_ASSIGN_OR_RETURN(const int from, BusIndex(*branch, r, kFBus, "F_BUS"));
    SMFG_ASSIGN_OR_RETURN(const int to, BusIndex(*branch, r, kTBus, "T_BUS"));
    if (!(v[kBrStatus] > 0.0)) continue;
    if (from == to) {
      return RowError(*branch, r, absl::StrCat("F_BUS and T_BUS are both ", v[kFBus]));
    }
    // MATPOWER's makeBdc: b = 1 / (x * tap), with tap = RATIO or 1 if RATIO is
    // 0, and a phase shifter's SHIFT (degrees) injects -b * shift at the from
    // end. A negative product (series compensation) is valid; zero has no flow
    // equation.
    const double tap = v[kRatio] == 0.0 ? 1.0 : v[kRatio];
    const double reactance = v[kBrX] * tap;
    if (reactance == 0.0 || !std::isfinite(reactance)) {
      return RowError(*branch, r,
                      absl::StrCat("BR_X * RATIO must be nonzero and finite for a DC model, "
                                   "got ",
                                   v[kBrX], " * ", tap));
    }
    if (!std::isfinite(v[kShift])) {
      return RowError(*branch, r, absl::StrCat("SHIFT must be finite, got ", v[kShift]));
    }
    const double rate = v[kRateA];
    if (!(rate >= 0.0)) {
      return RowError(*branch, r, absl::StrCat("RATE_A must be >= 0, got ", rate));
    }
    Line line;
    line.name = absl::StrCat("branch", r + 1);
    line.from_bus = from;
    line.to_bus = to;
    line.reactance_pu = reactance;
    line.phase_shift_rad = v[kShift] * M_PI / 180.0;
    // RATE_A = 0 means unlimited in MATPOWER.
    line.limit_mw = rate == 0.0 ? std::numeric_limits<double>::infinity() : rate;
    net.lines.push_back(std::move(line));
  }

  SMFG_RETURN_IF_ERROR(smfg::Annotate(ValidateNetwork(net), source_));
  return result;
}

}  // namespace

absl::StatusOr<MatpowerCase> ParseMatpowerCase(absl::string_view text,
                                               absl::string_view source_name) {
  Parser parser(text, source_name);
  SMFG_RETURN_IF_ERROR(parser.Parse());
  return Builder(parser, source_name).Build();
}

absl::StatusOr<MatpowerCase> LoadMatpowerFile(const std::string& path) {
  SMFG_ASSIGN_OR_RETURN(const std::string contents, ReadFile(path, kMaxSpecFileBytes));
  return ParseMatpowerCase(contents, path);
}

}  // namespace smfg::env
