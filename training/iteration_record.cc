#include "training/iteration_record.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"

namespace smfg::training {
namespace {

namespace pb = ::google::protobuf;

std::string Scalar(const pb::Message& m, const pb::FieldDescriptor* f, int index) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return RoundTripDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return RoundTripDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "1" : "0";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnum(m, f, index)->name() : r->GetEnum(m, f)->name();
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return "";
}

// The element's label: its first field's value when that is a non-empty
// string, else its index.
std::string ElementLabel(const pb::Message& element, int index) {
  const pb::Descriptor* d = element.GetDescriptor();
  if (d->field_count() > 0 && d->field(0)->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING &&
      !d->field(0)->is_repeated()) {
    const std::string label = element.GetReflection()->GetString(element, d->field(0));
    if (!label.empty()) return label;
  }
  return absl::StrCat(index);
}

// Appends (column, value) for every leaf of `m` below `prefix`; `skip` is a
// field already used as the element's label.
void Flatten(const pb::Message& m, const std::string& prefix, const pb::FieldDescriptor* skip,
             std::vector<std::pair<std::string, std::string>>* out) {
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f == skip) continue;
    const std::string name = prefix + f->name();
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int k = 0; k < r->FieldSize(m, f); ++k) {
          const pb::Message& element = r->GetRepeatedMessage(m, f, k);
          const std::string label = ElementLabel(element, k);
          const bool labelled = label != absl::StrCat(k);
          Flatten(element, absl::StrCat(name, ".", label, "."),
                  labelled ? element.GetDescriptor()->field(0) : nullptr, out);
        }
      } else {
        Flatten(r->GetMessage(m, f), name + ".", nullptr, out);
      }
    } else if (f->is_repeated()) {
      for (int k = 0; k < r->FieldSize(m, f); ++k) {
        out->emplace_back(absl::StrCat(name, "[", k, "]"), Scalar(m, f, k));
      }
    } else {
      out->emplace_back(name, Scalar(m, f, -1));
    }
  }
}

}  // namespace

void CountEquilibriumEnd(const env::InnerResult& inner, v1::EquilibriumEnds* ends) {
  if (inner.converged) {
    ends->set_converged(ends->converged() + 1);
  } else if (inner.stalled) {
    ends->set_stalled(ends->stalled() + 1);
  } else {
    ends->set_out_of_iterations(ends->out_of_iterations() + 1);
  }
}

int NotConverged(const v1::EquilibriumEnds& ends) {
  return ends.stalled() + ends.out_of_iterations();
}

std::string DescribeNotConverged(const v1::EquilibriumEnds& ends) {
  const int not_converged = NotConverged(ends);
  if (not_converged == 0) return "";
  return absl::StrFormat(
      "%d of %d follower equilibria did not converge (%d stalled, %d out of iterations)",
      not_converged, not_converged + ends.converged(), ends.stalled(), ends.out_of_iterations());
}

v1::ObjectiveTerms TermsToProto(const env::ObjectiveTerms& t, const env::Scenario& scenario) {
  v1::ObjectiveTerms p;
  p.set_objective(t.objective);
  p.set_eei_spread(t.eei_spread);
  p.set_recovery_gap(t.recovery_gap);
  p.set_lmp_std(t.lmp_std);
  p.set_generation_cost_per_mwh(t.generation_cost_per_mwh);
  for (size_t g = 0; g < t.eei.size(); ++g) {
    v1::GroupValue* v = p.add_eei();
    v->set_group(g < scenario.income_groups.size() ? scenario.income_groups[g] : "");
    v->set_value(t.eei[g]);
  }
  return p;
}

std::string IterationJson(const v1::IterationRecord& record) {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a valid message cannot fail.
  (void)pb::util::MessageToJsonString(record, &json, options);
  return json;
}

std::string MetricsJsonl(const std::vector<v1::IterationRecord>& history) {
  std::string jsonl;
  for (const v1::IterationRecord& record : history)
    absl::StrAppend(&jsonl, IterationJson(record), "\n");
  return jsonl;
}

std::string MetricsCsv(const std::vector<v1::IterationRecord>& history) {
  if (history.empty()) return "";
  std::vector<std::pair<std::string, std::string>> first;
  Flatten(history.front(), "", nullptr, &first);
  std::vector<std::string> columns;
  for (const auto& [column, value] : first) columns.push_back(column);
  std::string csv = absl::StrCat(absl::StrJoin(columns, ","), "\n");
  for (const v1::IterationRecord& record : history) {
    std::vector<std::pair<std::string, std::string>> cells;
    Flatten(record, "", nullptr, &cells);
    const std::map<std::string, std::string> by_column(cells.begin(), cells.end());
    std::vector<std::string> row;
    for (const std::string& column : columns) {
      const auto it = by_column.find(column);
      row.push_back(it == by_column.end() ? "" : it->second);
    }
    absl::StrAppend(&csv, absl::StrJoin(row, ","), "\n");
  }
  return csv;
}

}  // namespace smfg::training
