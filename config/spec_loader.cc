#include "config/spec_loader.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/files.h"
#include "common/status.h"
#include "config/bounds.h"
#include "config/spec_convert.h"
#include "environment/scenario.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "smfg/v1/spec.pb.h"

namespace smfg::config {
namespace {

namespace pb = ::google::protobuf;

// Parser messages can quote arbitrary file content; keep errors one readable line.
constexpr size_t kMaxQuotedChars = 300;
// Bounds recursion in the JSON locator; protobuf's own JSON parser stops at 100.
constexpr int kMaxJsonDepth = 128;

absl::Status Error(absl::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// Printable ASCII stays, everything else is escaped, and long text is cut.
std::string Sanitize(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxQuotedChars) {
      out += "...";
      break;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      out += absl::CHexEscape(absl::string_view(&c, 1));
    }
  }
  return out;
}

std::string LowerFirst(std::string s) {
  if (!s.empty()) s[0] = absl::ascii_tolower(static_cast<unsigned char>(s[0]));
  return s;
}

std::string StripPeriod(std::string s) {
  if (absl::EndsWith(s, ".")) s.pop_back();
  return s;
}

// Finds a field by proto name or JSON (lowerCamel) name.
const pb::FieldDescriptor* FindField(const pb::Descriptor* d, absl::string_view name) {
  if (d == nullptr) return nullptr;
  const std::string key(name);
  if (const pb::FieldDescriptor* f = d->FindFieldByName(key)) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == key) return d->field(i);
  }
  return nullptr;
}

struct PathComponent {
  std::string name;
  int index = -1;  // -1: no [index]
};

std::vector<PathComponent> ParsePath(absl::string_view path) {
  std::vector<PathComponent> out;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    PathComponent c;
    const size_t open = part.find('[');
    c.name = std::string(part.substr(0, open));
    if (open != absl::string_view::npos) {
      int value = 0;
      bool ok = false;
      for (size_t i = open + 1; i < part.size() && part[i] != ']'; ++i) {
        if (!absl::ascii_isdigit(static_cast<unsigned char>(part[i])) || value > 100000000) {
          ok = false;
          break;
        }
        value = value * 10 + (part[i] - '0');
        ok = true;
      }
      if (ok) c.index = value;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string JoinFieldPath(const std::string& parent, absl::string_view child) {
  return parent.empty() ? std::string(child) : absl::StrCat(parent, ".", child);
}

// ---------------------------------------------------------------------------
// Locators: the 1-based line where a field path is spelled out, 0 if unknown.

class Locator {
 public:
  virtual ~Locator() = default;
  virtual int LineOf(absl::string_view path) const = 0;
};

// Text format: the parser's ParseInfoTree.
class TextLocator : public Locator {
 public:
  explicit TextLocator(const pb::Descriptor* root) : root_(root) {}
  pb::TextFormat::ParseInfoTree* tree() { return &tree_; }

  int LineOf(absl::string_view path) const override {
    const pb::Descriptor* d = root_;
    const pb::TextFormat::ParseInfoTree* tree = &tree_;
    int best = 0;
    for (const PathComponent& c : ParsePath(path)) {
      const pb::FieldDescriptor* field = FindField(d, c.name);
      if (field == nullptr || tree == nullptr) break;
      // The tree wants -1 for singular fields and a valid index for repeated ones.
      const int index = field->is_repeated() ? (c.index < 0 ? 0 : c.index) : -1;
      int line = -1;
      if (index < 0) {
        line = tree->GetLocation(field, -1).line;
      } else {
        // A list "[a, b, c]" records one location, and a broadcast count has
        // fewer entries than buses: use the nearest earlier value.
        for (int k = index; k >= 0 && line < 0; --k) {
          line = tree->GetLocation(field, k).line;
          if (index - k > 10000) break;
        }
      }
      if (line < 0) break;
      best = line + 1;
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) break;
      tree = tree->GetTreeForNested(field, index);
      d = field->message_type();
    }
    return best;
  }

 private:
  const pb::Descriptor* root_;
  pb::TextFormat::ParseInfoTree tree_;
};

// JSON: a small scanner that records the line of every value by field path
// (proto names, [index] for array elements). It runs on text the protobuf parser
// has seen, but must not trust it: it stops quietly on anything unexpected.
class JsonLocator : public Locator {
 public:
  JsonLocator(absl::string_view content, const pb::Descriptor* root) : text_(content), root_(root) {
    Value("", nullptr, 0);
  }

  int LineOf(absl::string_view path) const override {
    std::string p(path);
    while (!p.empty()) {
      auto it = lines_.find(p);
      if (it != lines_.end()) return it->second;
      if (absl::EndsWith(p, "]")) {
        p.erase(p.rfind('['));
      } else {
        const size_t dot = p.rfind('.');
        p.erase(dot == std::string::npos ? 0 : dot);
      }
    }
    return 0;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }

  void SkipSpace() {
    while (!AtEnd() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
  }

  bool String(std::string* out) {
    if (AtEnd() || text_[pos_] != '"') return false;
    ++pos_;
    while (!AtEnd()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\n') ++line_;
      if (c == '\\') {
        if (AtEnd()) return false;
        // Field names are ASCII; an escape only needs to be skipped, not decoded.
        if (out != nullptr) out->push_back('?');
        ++pos_;
        continue;
      }
      if (out != nullptr) out->push_back(c);
    }
    return false;
  }

  // Scans the value for `path`; `field` is the field it belongs to (nullptr at
  // the root), which gives the message type of nested objects.
  bool Value(const std::string& path, const pb::FieldDescriptor* field, int depth) {
    if (depth > kMaxJsonDepth) return false;
    SkipSpace();
    if (AtEnd()) return false;
    if (!path.empty()) lines_.emplace(path, line_);
    const char c = text_[pos_];
    if (c == '{') {
      const pb::Descriptor* d =
          field == nullptr
              ? root_
              : (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE ? field->message_type()
                                                                           : nullptr);
      ++pos_;
      SkipSpace();
      if (!AtEnd() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      while (true) {
        SkipSpace();
        std::string key;
        if (!String(&key)) return false;
        SkipSpace();
        if (AtEnd() || text_[pos_] != ':') return false;
        ++pos_;
        const pb::FieldDescriptor* f = FindField(d, key);
        if (!Value(JoinFieldPath(path, f != nullptr ? f->name() : key), f, depth + 1)) {
          return false;
        }
        SkipSpace();
        if (AtEnd()) return false;
        if (text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (text_[pos_] == '}') {
          ++pos_;
          return true;
        }
        return false;
      }
    }
    if (c == '[') {
      ++pos_;
      SkipSpace();
      if (!AtEnd() && text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      for (int i = 0;; ++i) {
        if (!Value(absl::StrCat(path, "[", i, "]"), field, depth + 1)) return false;
        SkipSpace();
        if (AtEnd()) return false;
        if (text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (text_[pos_] == ']') {
          ++pos_;
          return true;
        }
        return false;
      }
    }
    if (c == '"') return String(nullptr);
    const size_t start = pos_;
    while (!AtEnd() && !absl::ascii_isspace(static_cast<unsigned char>(text_[pos_])) &&
           text_[pos_] != ',' && text_[pos_] != '}' && text_[pos_] != ']') {
      ++pos_;
    }
    return pos_ > start;
  }

  absl::string_view text_;
  const pb::Descriptor* root_;
  size_t pos_ = 0;
  int line_ = 1;
  std::map<std::string, int> lines_;  // first occurrence wins
};

// Prefixes `status` with "source:line: " (or "source: ") using the field path
// its message starts with.
absl::Status AtSource(const absl::Status& status, absl::string_view source,
                      const Locator& locator) {
  if (status.ok()) return status;
  absl::string_view path, rest;
  int line = 0;
  if (SplitFieldPath(status.message(), &path, &rest)) line = locator.LineOf(path);
  return absl::Status(status.code(), line > 0
                                         ? absl::StrCat(source, ":", line, ": ", status.message())
                                         : absl::StrCat(source, ": ", status.message()));
}

// ---------------------------------------------------------------------------
// Text format parsing.

class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (has_error_) return;
    has_error_ = true;
    line_ = line;
    column_ = column;
    message_ = message;
  }
  bool has_error() const { return has_error_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& message() const { return message_; }

 private:
  bool has_error_ = false;
  int line_ = 0;
  int column_ = 0;
  std::string message_;
};

class NullErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int, pb::io::ColumnNumber, const std::string&) override {}
};

// Where in the message tree a text-format position is: the path of the
// enclosing message and, when the position is a field's value, that field.
struct TextContext {
  std::string enclosing;  // path of the enclosing message ("" at the root)
  std::string name;       // the last field name read, and its descriptor
  const pb::FieldDescriptor* field = nullptr;
  bool at_value = false;  // the position is within `name`'s value
  int name_line = -1;     // 0-based position of `name`
  int name_column = -1;
  int value_line = -1;  // 0-based position of the first token of its value
  int value_column = -1;
};

// Re-tokenises `content` up to (line, column) (0-based, as the parser reports
// them) to find the field the parser was reading, since its messages name at
// most the field's short name.
TextContext TextContextAt(absl::string_view content, int line, int column,
                          const pb::Descriptor* root) {
  struct Frame {
    const pb::Descriptor* descriptor;
    std::string path;
    std::map<std::string, int> counts;  // occurrences of repeated message fields
    bool list_element;
    std::string field_name;
    const pb::FieldDescriptor* field;
  };
  enum class State { kName, kAfterName, kValue, kList };

  std::vector<Frame> stack;
  stack.push_back({root, "", {}, false, "", nullptr});
  State state = State::kName;
  std::string name;
  const pb::FieldDescriptor* field = nullptr;
  int name_line = -1, name_column = -1, value_line = -1, value_column = -1;

  auto push = [&]() {
    Frame& parent = stack.back();
    const pb::Descriptor* child =
        field != nullptr && field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE
            ? field->message_type()
            : nullptr;
    std::string path = JoinFieldPath(parent.path, name);
    if (field != nullptr && field->is_repeated()) {
      absl::StrAppend(&path, "[", parent.counts[name]++, "]");
    }
    stack.push_back({child, std::move(path), {}, state == State::kList, name, field});
    state = State::kName;
  };

  pb::io::ArrayInputStream input(content.data(), static_cast<int>(content.size()));
  NullErrorCollector ignore;
  pb::io::Tokenizer tokenizer(&input, &ignore);
  tokenizer.set_comment_style(pb::io::Tokenizer::SH_COMMENT_STYLE);
  tokenizer.set_require_space_after_number(false);
  tokenizer.set_allow_f_after_float(true);
  tokenizer.set_allow_multiline_strings(true);
  while (tokenizer.Next()) {
    const pb::io::Tokenizer::Token& token = tokenizer.current();
    if (token.line > line || (token.line == line && token.column >= column)) break;
    const std::string& text = token.text;
    switch (state) {
      case State::kName:
        if (token.type == pb::io::Tokenizer::TYPE_IDENTIFIER) {
          name = text;
          field = FindField(stack.back().descriptor, text);
          name_line = token.line;
          name_column = token.column;
          value_line = value_column = -1;
          state = State::kAfterName;
        } else if ((text == "}" || text == ">") && stack.size() > 1) {
          const bool in_list = stack.back().list_element;
          name = stack.back().field_name;
          field = stack.back().field;
          stack.pop_back();
          if (in_list) state = State::kList;
        }
        break;
      case State::kAfterName:
        if (text == ":") {
          state = State::kValue;
        } else if (text == "{" || text == "<") {
          push();
        } else {
          state = State::kName;
        }
        break;
      case State::kValue:
        if (value_line < 0) {
          value_line = token.line;
          value_column = token.column;
        }
        if (text == "{" || text == "<") {
          push();
        } else if (text == "[") {
          state = State::kList;
        } else if (text != "-") {
          state = State::kName;
        }
        break;
      case State::kList:
        if (text == "{" || text == "<") {
          push();
        } else if (text == "]") {
          state = State::kName;
        }
        break;
    }
  }
  TextContext context;
  context.enclosing = stack.back().path;
  context.name = name;
  context.field = field;
  context.at_value = state != State::kName;
  context.name_line = name_line;
  context.name_column = name_column;
  context.value_line = value_line;
  context.value_column = value_column;
  return context;
}

std::string Position(absl::string_view source, int line, int column) {
  return absl::StrCat(source, ":", line + 1, ":", column + 1, ": ");
}

// Rewrites the parser's first error as "source:line:col: <path>: ...". The
// parser reports type errors at the offending value but semantic ones (unknown
// field or enum value, repeated singular field) at the token after it, so those
// are pointed back at the field name or value they are about.
absl::Status TextParseError(const FirstErrorCollector& error, absl::string_view content,
                            absl::string_view source, const pb::Descriptor* root) {
  const TextContext context = TextContextAt(content, error.line(), error.column(), root);
  const std::string& message = error.message();
  std::string where = Position(source, error.line(), error.column());

  // 'Message type "smfg.v1.Scenario" has no field named "foo".'
  constexpr absl::string_view kType = "Message type \"";
  constexpr absl::string_view kNoField = "\" has no field named \"";
  const size_t no_field = absl::string_view(message).find(kNoField);
  if (absl::StartsWith(message, kType) && no_field != std::string::npos) {
    const std::string type = message.substr(kType.size(), no_field - kType.size());
    std::string unknown = message.substr(no_field + kNoField.size());
    unknown = unknown.substr(0, unknown.find('"'));
    if (unknown == context.name && context.name_line >= 0) {
      where = Position(source, context.name_line, context.name_column);
    }
    const std::string at =
        context.enclosing.empty() ? "" : absl::StrCat(" (at ", context.enclosing, ")");
    return absl::InvalidArgumentError(
        absl::StrCat(where, "unknown field '", Sanitize(unknown), "' in ", type, at));
  }

  std::string path = context.enclosing;
  const pb::FieldDescriptor* field = nullptr;
  const bool names_field = !context.name.empty() &&
                           absl::StrContains(message, absl::StrCat("field \"", context.name, "\""));
  if (context.at_value || names_field) {
    path = JoinFieldPath(path, context.name);
    field = context.field;
  }
  if (names_field && !context.at_value && context.value_line >= 0) {
    where = Position(source, context.value_line, context.value_column);
  }
  std::string text = StripPeriod(LowerFirst(Sanitize(message)));
  if (absl::EndsWith(text, "got: ")) text += "end of input";
  if (field != nullptr && field->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM &&
      absl::StrContains(message, "enumeration value")) {
    std::vector<std::string> names;
    const pb::EnumDescriptor* e = field->enum_type();
    for (int i = 0; i < e->value_count(); ++i) names.push_back(e->value(i)->name());
    absl::StrAppend(&text, " (expected one of ", absl::StrJoin(names, ", "), ")");
  }
  if (path.empty()) return absl::InvalidArgumentError(where + text);
  return absl::InvalidArgumentError(absl::StrCat(where, path, ": ", text));
}

absl::Status ParseText(absl::string_view content, absl::string_view source, pb::Message* message,
                       std::unique_ptr<Locator>* locator) {
  auto text_locator = std::make_unique<TextLocator>(message->GetDescriptor());
  FirstErrorCollector errors;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(text_locator->tree());
  if (!parser.ParseFromString(std::string(content), message)) {
    if (errors.has_error()) {
      return TextParseError(errors, content, source, message->GetDescriptor());
    }
    return absl::InvalidArgumentError(absl::StrCat(source, ": cannot parse as text-format ",
                                                   message->GetDescriptor()->full_name()));
  }
  *locator = std::move(text_locator);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// JSON parsing.

// 1-based line and column of byte `offset` in `content`.
std::pair<int, int> LineColumn(absl::string_view content, size_t offset) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < content.size(); ++i) {
    if (content[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(offset - line_start) + 1};
}

absl::Status JsonParseError(absl::string_view parser_message, absl::string_view content,
                            absl::string_view source, const pb::Descriptor* root) {
  const std::string message(parser_message);
  // Field errors: "(scenario.days): invalid value ..." or
  // "(scenario.network.generators[1]) fooBar: Cannot find field."
  if (absl::StartsWith(message, "(")) {
    const size_t close = message.find(')');
    if (close != std::string::npos) {
      const std::string path = message.substr(1, close - 1);
      std::string rest(
          absl::StripLeadingAsciiWhitespace(absl::string_view(message).substr(close + 1)));
      const JsonLocator locator(content, root);
      constexpr absl::string_view kCannotFind = ": Cannot find field.";
      if (absl::EndsWith(rest, kCannotFind)) {
        const std::string key = rest.substr(0, rest.size() - kCannotFind.size());
        // Resolve the message type at `path` for a message like the text one.
        const pb::Descriptor* d = root;
        if (!path.empty()) {
          for (const PathComponent& c : ParsePath(path)) {
            const pb::FieldDescriptor* f = FindField(d, c.name);
            d = f != nullptr ? f->message_type() : nullptr;
          }
        }
        const std::string full = JoinFieldPath(path, key);
        const int line = locator.LineOf(full);
        return absl::InvalidArgumentError(
            absl::StrCat(source, line > 0 ? absl::StrCat(":", line) : "", ": unknown field '",
                         Sanitize(key), "' in ", d != nullptr ? d->full_name() : "message",
                         path.empty() ? "" : absl::StrCat(" (at ", path, ")")));
      }
      if (absl::StartsWith(rest, ":")) rest = rest.substr(1);
      rest = std::string(absl::StripLeadingAsciiWhitespace(rest));
      const int line = path.empty() ? 0 : locator.LineOf(path);
      return absl::InvalidArgumentError(
          absl::StrCat(source, line > 0 ? absl::StrCat(":", line) : "", ": ",
                       path.empty() ? "" : absl::StrCat(path, ": "), StripPeriod(Sanitize(rest))));
    }
  }
  // Syntax errors: "<what>\n<up to 20 chars either side>\n<spaces>^". Locate the
  // snippet in the content to turn the caret into line:column.
  const size_t first_newline = message.find('\n');
  const size_t last_newline = message.rfind('\n');
  if (first_newline != std::string::npos && last_newline > first_newline) {
    const std::string what = message.substr(0, first_newline);
    const std::string segment = message.substr(first_newline + 1, last_newline - first_newline - 1);
    const size_t caret = message.find('^', last_newline);
    size_t offset = std::string::npos;
    if (caret != std::string::npos) {
      const size_t caret_column = caret - last_newline - 1;
      const size_t found = content.find(segment);
      if (segment.empty()) {
        // Only the final flush parses an empty chunk: the error is at the end.
        offset = content.size();
      } else if (found != absl::string_view::npos &&
                 content.find(segment, found + 1) == absl::string_view::npos) {
        offset = found + caret_column;
      }
    }
    if (offset != std::string::npos) {
      const auto [line, column] = LineColumn(content, offset);
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line, ":", column, ": ", Sanitize(what)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", Sanitize(what), " (near '", Sanitize(segment), "')"));
  }
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", Sanitize(message)));
}

absl::Status ParseJson(absl::string_view content, absl::string_view source, pb::Message* message,
                       std::unique_ptr<Locator>* locator) {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = pb::util::JsonStringToMessage(pb::StringPiece(content.data(), content.size()),
                                                    message, options);
  if (!status.ok()) {
    return JsonParseError(absl::string_view(status.message().data(), status.message().size()),
                          content, source, message->GetDescriptor());
  }
  *locator = std::make_unique<JsonLocator>(content, message->GetDescriptor());
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Checks shared by both formats.

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF.
    if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
        (extra == 3 && code < 0x10000) || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// proto3 strings must be UTF-8; a spec that parses but cannot be serialised
// (e.g. to submit it to the coordinator) would fail far from the file.
absl::Status CheckStringsAreUtf8(const pb::Message& message, const std::string& path) {
  const pb::Descriptor* d = message.GetDescriptor();
  const pb::Reflection* r = message.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    const std::string field_path = JoinFieldPath(path, f->name());
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int k = 0; k < r->FieldSize(message, f); ++k) {
          if (!IsValidUtf8(r->GetRepeatedString(message, f, k))) {
            return Error(absl::StrCat(field_path, "[", k, "]"), "is not valid UTF-8");
          }
        }
      } else if (!IsValidUtf8(r->GetString(message, f))) {
        return Error(field_path, "is not valid UTF-8");
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int k = 0; k < r->FieldSize(message, f); ++k) {
          SMFG_RETURN_IF_ERROR(CheckStringsAreUtf8(r->GetRepeatedMessage(message, f, k),
                                                   absl::StrCat(field_path, "[", k, "]")));
        }
      } else if (r->HasField(message, f)) {
        SMFG_RETURN_IF_ERROR(CheckStringsAreUtf8(r->GetMessage(message, f), field_path));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMessage(absl::string_view content, absl::string_view source, Format format,
                          pb::Message* message, std::unique_ptr<Locator>* locator) {
  switch (format) {
    case Format::kText:
      SMFG_RETURN_IF_ERROR(ParseText(content, source, message, locator));
      break;
    case Format::kJson:
      SMFG_RETURN_IF_ERROR(ParseJson(content, source, message, locator));
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(source, ": unknown format"));
  }
  return AtSource(CheckStringsAreUtf8(*message, ""), source, **locator);
}

}  // namespace

absl::StatusOr<Format> FormatFromPath(absl::string_view path) {
  const size_t slash = path.rfind('/');
  const absl::string_view base = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.rfind('.');
  const std::string extension =
      dot == absl::string_view::npos ? "" : absl::AsciiStrToLower(base.substr(dot));
  if (extension == ".textproto" || extension == ".txtpb" || extension == ".pbtxt") {
    return Format::kText;
  }
  if (extension == ".json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unsupported file extension '", extension,
                   "'; use .textproto, .txtpb or .pbtxt (text format) or .json"));
}

absl::Status ValidateSpec(const v1::ExperimentSpec& spec, const env::Scenario& scenario) {
  if (spec.name().empty()) return Error("name", "must not be empty");
  return ScenarioErrorInSpec(env::ValidateScenario(scenario), spec);
}

absl::StatusOr<env::Scenario> CheckSpecMessage(const v1::ExperimentSpec& spec,
                                               const ConvertOptions& convert,
                                               const SpecRules& extra_rules) {
  SMFG_RETURN_IF_ERROR(CheckSizeBounds(spec));
  SMFG_ASSIGN_OR_RETURN(ConvertedScenario converted, ConvertScenario(spec, "", convert));
  SMFG_RETURN_IF_ERROR(ValidateSpec(spec, converted.scenario));
  if (extra_rules) SMFG_RETURN_IF_ERROR(extra_rules(spec, converted.scenario));
  return std::move(converted.scenario);
}

absl::StatusOr<LoadedSpec> ParseExperiment(absl::string_view content, absl::string_view source_name,
                                           Format format, const LoadOptions& options) {
  LoadedSpec loaded;
  std::unique_ptr<Locator> locator;
  SMFG_RETURN_IF_ERROR(ParseMessage(content, source_name, format, &loaded.spec, &locator));
  if (options.edit) options.edit(&loaded.spec);
  SMFG_RETURN_IF_ERROR(AtSource(CheckSizeBounds(loaded.spec), source_name, *locator));
  absl::StatusOr<ConvertedScenario> converted = ConvertScenario(loaded.spec, DirName(source_name));
  if (!converted.ok()) return AtSource(converted.status(), source_name, *locator);
  loaded.scenario = std::move(converted->scenario);
  loaded.matpower_path = std::move(converted->matpower_path);
  SMFG_RETURN_IF_ERROR(AtSource(ValidateSpec(loaded.spec, loaded.scenario), source_name, *locator));
  if (options.extra_rules) {
    SMFG_RETURN_IF_ERROR(
        AtSource(options.extra_rules(loaded.spec, loaded.scenario), source_name, *locator));
  }
  return loaded;
}

absl::StatusOr<LoadedSpec> LoadExperimentFile(const std::string& path, const LoadOptions& options) {
  SMFG_ASSIGN_OR_RETURN(const Format format, FormatFromPath(path));
  SMFG_ASSIGN_OR_RETURN(const std::string content, ReadFile(path, kMaxSpecFileBytes));
  return ParseExperiment(content, path, format, options);
}

absl::StatusOr<env::Tariff> ParseTariffText(absl::string_view content,
                                            absl::string_view source_name, Format format,
                                            const env::Scenario& scenario) {
  v1::TariffFile file;
  std::unique_ptr<Locator> locator;
  SMFG_RETURN_IF_ERROR(ParseMessage(content, source_name, format, &file, &locator));
  absl::StatusOr<env::Tariff> tariff = ToTariff(file, scenario);
  if (!tariff.ok()) return AtSource(tariff.status(), source_name, *locator);
  SMFG_RETURN_IF_ERROR(AtSource(TariffErrorInFile(env::ValidateTariff(*tariff, scenario), file),
                                source_name, *locator));
  return tariff;
}

absl::StatusOr<env::Tariff> LoadTariffFile(const std::string& path, const env::Scenario& scenario) {
  SMFG_ASSIGN_OR_RETURN(const Format format, FormatFromPath(path));
  SMFG_ASSIGN_OR_RETURN(const std::string content, ReadFile(path, kMaxSpecFileBytes));
  return ParseTariffText(content, path, format, scenario);
}

}  // namespace smfg::config
