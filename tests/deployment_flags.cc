#include "tests/deployment_flags.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace smfg::deploy_check {

const YamlNode* YamlNode::Find(absl::string_view key) const {
  for (const auto& [k, v] : map) {
    if (k == key) return v.get();
  }
  return nullptr;
}

namespace {

using MutableNode = std::shared_ptr<YamlNode>;

MutableNode NewNode(YamlNode::Kind kind, int line, std::string scalar = "") {
  auto node = std::make_shared<YamlNode>();
  node->kind = kind;
  node->line = line;
  node->scalar = std::move(scalar);
  return node;
}

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

// ---- Scalars -------------------------------------------------------------

// Reads the quoted scalar starting at text[*pos] (a ' or "), unescaped;
// nullopt if it is not closed. *pos ends after the closing quote.
std::optional<std::string> ReadQuoted(absl::string_view text, size_t* pos) {
  const char quote = text[*pos];
  std::string out;
  for (size_t i = *pos + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quote == '\'' && c == '\'') {
      if (i + 1 < text.size() && text[i + 1] == '\'') {
        out += '\'';
        ++i;
        continue;
      }
      *pos = i + 1;
      return out;
    }
    if (quote == '"' && c == '"') {
      *pos = i + 1;
      return out;
    }
    if (quote == '"' && c == '\\' && i + 1 < text.size()) {
      const char e = text[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      continue;
    }
    out += c;
  }
  return std::nullopt;
}

// Where a YAML comment starts in `text` (a line without its indentation), or
// npos. A quote only opens a quoted scalar at the start of a value, as in
// YAML: `sh -c 'a # b'` as a plain scalar does contain a comment.
size_t CommentStart(absl::string_view text) {
  char previous = ' ';  // last non-space character outside quotes
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '"' || c == '\'') && absl::StrContains(" :-[{,", previous)) {
      size_t end = i;
      if (!ReadQuoted(text, &end)) return std::string::npos;
      i = end - 1;
      previous = c;
      continue;
    }
    if (c == '#' && (i == 0 || text[i - 1] == ' ')) return i;
    if (c != ' ') previous = c;
  }
  return std::string::npos;
}

bool IsListItem(absl::string_view text) { return text == "-" || absl::StartsWith(text, "- "); }

// Position of the colon ending a mapping key at the start of `text`, or npos.
size_t KeyColon(absl::string_view text) {
  if (text.empty() || absl::StrContains("[{|>*&!%@`", text[0])) return std::string::npos;
  size_t i = 0;
  if (text[0] == '"' || text[0] == '\'') {
    if (!ReadQuoted(text, &i)) return std::string::npos;
    while (i < text.size() && text[i] == ' ') ++i;
    const bool colon =
        i < text.size() && text[i] == ':' && (i + 1 == text.size() || text[i + 1] == ' ');
    return colon ? i : std::string::npos;
  }
  for (; i < text.size(); ++i) {
    if (text[i] == ':' && (i + 1 == text.size() || text[i + 1] == ' ')) return i;
  }
  return std::string::npos;
}

bool BracketsBalanced(absl::string_view text) {
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"' || c == '\'') {
      if (!ReadQuoted(text, &i)) return false;
      --i;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return depth <= 0;
}

// ---- Flow collections ------------------------------------------------------

class FlowParser {
 public:
  FlowParser(absl::string_view text, int line, const std::map<std::string, MutableNode>* anchors)
      : text_(text), line_(line), anchors_(anchors) {}

  absl::StatusOr<MutableNode> ParseAll() {
    absl::StatusOr<MutableNode> node = ParseNode();
    if (!node.ok()) return node;
    SkipSpaces();
    if (pos_ != text_.size()) return LineError(line_, "text after a flow collection");
    return node;
  }

 private:
  void SkipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool At(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  absl::StatusOr<MutableNode> ParseNode() {
    SkipSpaces();
    if (At('[')) return ParseList();
    if (At('{')) return ParseMap();
    if (At('*')) {
      const std::string name = ReadPlain(",]} ").substr(1);
      auto it = anchors_->find(name);
      if (it == anchors_->end()) return LineError(line_, "unknown alias *" + name);
      return it->second;
    }
    absl::StatusOr<std::string> scalar = ReadScalar(",]}");
    if (!scalar.ok()) return scalar.status();
    return NewNode(YamlNode::Kind::kScalar, line_, *scalar);
  }

  absl::StatusOr<std::string> ReadScalar(absl::string_view stops) {
    if (At('"') || At('\'')) {
      std::optional<std::string> quoted = ReadQuoted(text_, &pos_);
      if (!quoted) return LineError(line_, "unclosed quote");
      return *quoted;
    }
    return std::string(absl::StripTrailingAsciiWhitespace(ReadPlain(stops)));
  }

  std::string ReadPlain(absl::string_view stops) {
    const size_t start = pos_;
    while (pos_ < text_.size() && !absl::StrContains(stops, text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  absl::StatusOr<MutableNode> ParseList() {
    MutableNode list = NewNode(YamlNode::Kind::kList, line_);
    ++pos_;  // '['
    while (true) {
      SkipSpaces();
      if (At(']')) break;
      absl::StatusOr<MutableNode> item = ParseNode();
      if (!item.ok()) return item;
      list->list.push_back(*item);
      SkipSpaces();
      if (At(',')) {
        ++pos_;
      } else if (!At(']')) {
        return LineError(line_, "expected ',' or ']' in a flow sequence");
      }
    }
    ++pos_;  // ']'
    return list;
  }

  absl::StatusOr<MutableNode> ParseMap() {
    MutableNode map = NewNode(YamlNode::Kind::kMap, line_);
    ++pos_;  // '{'
    while (true) {
      SkipSpaces();
      if (At('}')) break;
      absl::StatusOr<std::string> key = ReadScalar(":,}");
      if (!key.ok()) return key.status();
      SkipSpaces();
      if (!At(':')) return LineError(line_, "expected ':' in a flow mapping");
      ++pos_;
      SkipSpaces();
      MutableNode value = NewNode(YamlNode::Kind::kScalar, line_);
      if (!At(',') && !At('}')) {
        absl::StatusOr<MutableNode> parsed = ParseNode();
        if (!parsed.ok()) return parsed;
        value = *parsed;
      }
      map->map.emplace_back(*key, value);
      SkipSpaces();
      if (At(',')) {
        ++pos_;
      } else if (!At('}')) {
        return LineError(line_, "expected ',' or '}' in a flow mapping");
      }
    }
    ++pos_;  // '}'
    return map;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  int line_;
  const std::map<std::string, MutableNode>* anchors_;
};

// ---- Block structure ---------------------------------------------------------

// Recursive descent over lines; each Parse* starts at the current line and
// consumes the lines that belong to its node.
class BlockParser {
 public:
  explicit BlockParser(absl::string_view text) : raw_(absl::StrSplit(text, '\n')) {
    for (std::string& line : raw_) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
    }
  }

  absl::StatusOr<std::vector<YamlNodePtr>> Documents() {
    for (size_t i = 0; i < raw_.size(); ++i) {
      const size_t indent = raw_[i].find_first_not_of(' ');
      if (indent != std::string::npos && raw_[i][indent] == '\t') {
        return LineError(static_cast<int>(i + 1), "tab in indentation");
      }
    }
    std::vector<YamlNodePtr> documents;
    while (next_ < raw_.size()) {
      const std::optional<Line> first = Peek();
      if (!first) {
        ++next_;  // a document marker, or the end
        continue;
      }
      absl::StatusOr<MutableNode> document = ParseBlock(first->indent);
      if (!document.ok()) return document.status();
      documents.push_back(*document);
      if (const std::optional<Line> rest = Peek()) {
        return LineError(rest->number, "unexpected indentation or structure");
      }
    }
    return documents;
  }

 private:
  struct Line {
    int number;  // 1-based
    int indent;
    std::string text;  // without indentation, comment and trailing spaces
  };

  // The current line, skipping blank and comment lines; nullopt at the end
  // and at a document marker (`---`, `...`).
  std::optional<Line> Peek() {
    if (replaced_) return replaced_;
    for (; next_ < raw_.size(); ++next_) {
      const std::string& raw = raw_[next_];
      const size_t indent = raw.find_first_not_of(' ');
      if (indent == std::string::npos) continue;
      std::string text = raw.substr(indent);
      text = text.substr(0, CommentStart(text));
      absl::StripTrailingAsciiWhitespace(&text);
      if (text.empty()) continue;
      if (indent == 0 && (text == "---" || absl::StartsWith(text, "--- ") || text == "...")) {
        return std::nullopt;
      }
      return Line{static_cast<int>(next_ + 1), static_cast<int>(indent), text};
    }
    return std::nullopt;
  }

  void Advance() {
    replaced_.reset();
    ++next_;
  }

  // From now on the current line reads as `text` at `indent` (the rest of a
  // `- key: value` line, parsed as a mapping).
  void Replace(int indent, std::string text) {
    replaced_ = Line{Peek()->number, indent, std::move(text)};
  }

  absl::StatusOr<MutableNode> ParseBlock(int indent) {
    const Line line = *Peek();
    if (IsListItem(line.text)) return ParseList(indent);
    if (KeyColon(line.text) != std::string::npos) return ParseMap(indent);
    Advance();
    return ParseValue(line.text, indent - 1, line.number, false);
  }

  absl::StatusOr<MutableNode> ParseMap(int indent) {
    MutableNode map = NewNode(YamlNode::Kind::kMap, Peek()->number);
    for (std::optional<Line> line = Peek(); line && line->indent >= indent; line = Peek()) {
      if (line->indent > indent) return LineError(line->number, "unexpected indentation");
      if (IsListItem(line->text)) {
        return LineError(line->number, "a sequence item where a mapping key was expected");
      }
      const size_t colon = KeyColon(line->text);
      if (colon == std::string::npos) return LineError(line->number, "expected 'key: value'");
      std::string key = std::string(absl::StripAsciiWhitespace(line->text.substr(0, colon)));
      if (key.empty()) return LineError(line->number, "empty mapping key");
      size_t quote_end = 0;
      if (key[0] == '"' || key[0] == '\'') key = ReadQuoted(key, &quote_end).value_or(key);
      const std::string rest(absl::StripAsciiWhitespace(line->text.substr(colon + 1)));
      Advance();
      absl::StatusOr<MutableNode> value = ParseValue(rest, indent, line->number, true);
      if (!value.ok()) return value;
      map->map.emplace_back(key, *value);
    }
    absl::Status merged = ApplyMergeKeys(map.get());
    if (!merged.ok()) return merged;
    return map;
  }

  absl::StatusOr<MutableNode> ParseList(int indent) {
    MutableNode list = NewNode(YamlNode::Kind::kList, Peek()->number);
    for (std::optional<Line> line = Peek(); line && line->indent >= indent; line = Peek()) {
      if (line->indent > indent) return LineError(line->number, "unexpected indentation");
      if (!IsListItem(line->text)) break;  // the parent mapping's next key
      const size_t offset = std::min(line->text.find_first_not_of(' ', 1), line->text.size());
      const std::string rest = line->text.substr(offset);
      absl::StatusOr<MutableNode> item;
      if (IsListItem(rest) || KeyColon(rest) != std::string::npos) {
        Replace(indent + static_cast<int>(offset), rest);
        item = ParseBlock(indent + static_cast<int>(offset));
      } else {
        Advance();
        item = ParseValue(rest, indent, line->number, false);
      }
      if (!item.ok()) return item;
      list->list.push_back(*item);
    }
    return list;
  }

  // The value whose inline text is `rest`, of a key or item at
  // `parent_indent`; deeper lines that follow belong to it.
  absl::StatusOr<MutableNode> ParseValue(std::string rest, int parent_indent, int line,
                                         bool in_map) {
    std::string anchor;
    while (!rest.empty() && (rest[0] == '!' || rest[0] == '&')) {
      const size_t space = std::min(rest.find(' '), rest.size());
      if (rest[0] == '&') anchor = rest.substr(1, space - 1);
      rest = std::string(absl::StripLeadingAsciiWhitespace(rest.substr(space)));
    }
    absl::StatusOr<MutableNode> value;
    if (rest.empty()) {
      value = ParseNestedBlock(parent_indent, line, in_map);
    } else if (rest[0] == '*') {
      auto it = anchors_.find(rest.substr(1));
      if (it == anchors_.end()) return LineError(line, "unknown alias " + rest);
      value = it->second;
    } else if (rest[0] == '|' || rest[0] == '>') {
      value = ParseBlockScalar(rest, parent_indent, line);
    } else if (rest[0] == '[' || rest[0] == '{') {
      value = ParseFlow(rest, line);
    } else {
      value = ParseInlineScalar(rest, parent_indent, line);
    }
    if (value.ok() && !anchor.empty()) anchors_[anchor] = *value;
    return value;
  }

  absl::StatusOr<MutableNode> ParseNestedBlock(int parent_indent, int line, bool in_map) {
    const std::optional<Line> next = Peek();
    if (next && next->indent > parent_indent) return ParseBlock(next->indent);
    // `key:` followed by `- item` at the key's own indentation.
    if (in_map && next && next->indent == parent_indent && IsListItem(next->text)) {
      return ParseList(parent_indent);
    }
    return NewNode(YamlNode::Kind::kScalar, line);
  }

  absl::StatusOr<MutableNode> ParseInlineScalar(std::string text, int parent_indent, int line) {
    for (std::optional<Line> next = Peek(); next && next->indent > parent_indent; next = Peek()) {
      if (KeyColon(next->text) != std::string::npos) {
        return LineError(next->number, "a mapping key inside a scalar (bad indentation?)");
      }
      absl::StrAppend(&text, " ", next->text);  // a multi-line scalar folds with spaces
      Advance();
    }
    if (text[0] != '"' && text[0] != '\'') {
      return NewNode(YamlNode::Kind::kScalar, line, text);
    }
    size_t end = 0;
    std::optional<std::string> quoted = ReadQuoted(text, &end);
    if (!quoted) return LineError(line, "unclosed quote");
    if (!absl::StripAsciiWhitespace(text.substr(end)).empty()) {
      return LineError(line, "text after a quoted scalar");
    }
    return NewNode(YamlNode::Kind::kScalar, line, *quoted);
  }

  absl::StatusOr<MutableNode> ParseFlow(std::string text, int line) {
    while (!BracketsBalanced(text)) {
      const std::optional<Line> next = Peek();
      if (!next) return LineError(line, "unclosed flow collection");
      absl::StrAppend(&text, " ", next->text);
      Advance();
    }
    return FlowParser(text, line, &anchors_).ParseAll();
  }

  // `|` keeps the line breaks, `>` folds lines into one; the lines are the
  // raw ones (a '#' is content here) indented deeper than the parent.
  absl::StatusOr<MutableNode> ParseBlockScalar(absl::string_view header, int parent_indent,
                                               int line) {
    if (header.find_first_not_of("+-0123456789", 1) != absl::string_view::npos) {
      return LineError(line, absl::StrCat("unsupported block scalar header '", header, "'"));
    }
    std::vector<std::string> lines;
    size_t content_indent = std::string::npos;
    for (; next_ < raw_.size(); ++next_) {
      const std::string& raw = raw_[next_];
      const size_t indent = raw.find_first_not_of(' ');
      if (indent == std::string::npos) {
        lines.emplace_back();
        continue;
      }
      if (static_cast<int>(indent) <= parent_indent) break;
      if (content_indent == std::string::npos) content_indent = indent;
      if (indent < content_indent) return LineError(static_cast<int>(next_ + 1), "bad indentation");
      lines.push_back(raw.substr(content_indent));
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return NewNode(YamlNode::Kind::kScalar, line,
                   header[0] == '|' ? absl::StrJoin(lines, "\n") : Fold(lines));
  }

  // Lines of a `>` scalar: joined with spaces, except that each empty line
  // stands for one line break.
  static std::string Fold(const std::vector<std::string>& lines) {
    std::string text;
    bool previous_empty = true;  // no space before the first line
    for (const std::string& l : lines) {
      if (l.empty()) {
        text += '\n';
      } else {
        absl::StrAppend(&text, previous_empty ? "" : " ", l);
      }
      previous_empty = l.empty();
    }
    return text;
  }

  // `<<: *base` (or a list of aliases): keys of the merged mappings that the
  // mapping does not set itself.
  static absl::Status ApplyMergeKeys(YamlNode* map) {
    std::vector<YamlNodePtr> sources;
    auto& entries = map->map;
    for (auto it = entries.begin(); it != entries.end();) {
      if (it->first != "<<") {
        ++it;
        continue;
      }
      if (it->second->kind == YamlNode::Kind::kList) {
        sources.insert(sources.end(), it->second->list.begin(), it->second->list.end());
      } else {
        sources.push_back(it->second);
      }
      it = entries.erase(it);
    }
    for (const YamlNodePtr& source : sources) {
      if (source->kind != YamlNode::Kind::kMap) {
        return LineError(map->line, "merge key '<<' of something that is not a mapping");
      }
      for (const auto& [key, value] : source->map) {
        if (map->Find(key) == nullptr) entries.emplace_back(key, value);
      }
    }
    return absl::OkStatus();
  }

  std::vector<std::string> raw_;
  size_t next_ = 0;  // index in raw_ of the current line
  std::optional<Line> replaced_;
  std::map<std::string, MutableNode> anchors_;
};

// ---- Shell words -----------------------------------------------------------

// Appends the substitution `$(...)`, `${...}` or backquoted text starting at
// s[*i] to *word as written; *i ends on its last character.
void CopySubstitution(absl::string_view s, size_t* i, std::string* word) {
  const char open = s[*i] == '`' ? '`' : s[*i + 1];
  const char close = open == '(' ? ')' : open == '{' ? '}' : '`';
  size_t j = open == '`' ? *i + 1 : *i + 2;
  int depth = 1;
  for (; j < s.size(); ++j) {
    if (s[j] == close && --depth == 0) break;
    if (s[j] == open && open != '`') ++depth;
  }
  j = std::min(j, s.size() - 1);
  absl::StrAppend(word, s.substr(*i, j - *i + 1));
  *i = j;
}

bool StartsSubstitution(absl::string_view s, size_t i) {
  return s[i] == '`' || (s[i] == '$' && i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == '{'));
}

// Appends the double-quoted text starting at s[*i] (quotes removed);
// *i ends on the closing quote.
void CopyDoubleQuoted(absl::string_view s, size_t* i, std::string* word) {
  for (++*i; *i < s.size() && s[*i] != '"'; ++*i) {
    if (s[*i] == '\\' && *i + 1 < s.size() && absl::StrContains("\"\\$`\n", s[*i + 1])) {
      if (s[++*i] != '\n') *word += s[*i];
    } else if (StartsSubstitution(s, *i)) {
      CopySubstitution(s, i, word);
    } else {
      *word += s[*i];
    }
  }
}

}  // namespace

std::vector<std::string> SplitShellWords(absl::string_view s) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  auto end_word = [&] {
    if (in_word) words.push_back(word);
    word.clear();
    in_word = false;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      if (s[++i] != '\n') {
        word += s[i];
        in_word = true;
      }
    } else if (c == '\'') {
      const size_t close = std::min(s.find('\'', i + 1), s.size());
      absl::StrAppend(&word, s.substr(i + 1, close - i - 1));
      i = close;
      in_word = true;
    } else if (c == '"') {
      CopyDoubleQuoted(s, &i, &word);
      in_word = true;
    } else if (StartsSubstitution(s, i)) {
      CopySubstitution(s, &i, &word);
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      end_word();
    } else if (c == '#' && !in_word) {
      i = std::min(s.find('\n', i), s.size()) - 1;  // a comment, up to the newline
    } else if (c == '\n' || c == '(' || c == ')') {
      end_word();
      words.push_back(c == '\n' ? ";" : std::string(1, c));
    } else if ((c == ';' || c == '|' || c == '&') &&
               !(c == '&' && in_word && (word.back() == '>' || word.back() == '<'))) {
      end_word();
      const bool doubled = i + 1 < s.size() && s[i + 1] == c;
      words.push_back(std::string(doubled ? 2 : 1, c));
      if (doubled) ++i;
    } else {
      word += c;
      in_word = true;
    }
  }
  end_word();
  return words;
}

namespace {

// ---- Extraction ----------------------------------------------------------------

bool IsShellOperator(const std::string& word) {
  static const std::set<std::string> kOperators = {";", ";;", "&", "&&", "|", "||", "(", ")"};
  return kOperators.count(word) > 0;
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// NAME=value, as a shell command prefix.
bool IsAssignment(absl::string_view word) {
  const size_t eq = word.find('=');
  return eq != absl::string_view::npos && IsIdentifier(word.substr(0, eq));
}

std::string BaseName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

void FindInvocations(const std::vector<std::string>& words, int line, std::vector<Invocation>* out);

// `sh -c SCRIPT ...`: the index of SCRIPT, or nullopt.
std::optional<size_t> ShellScriptIndex(const std::vector<std::string>& command) {
  static const std::set<std::string> kShells = {"sh", "bash", "ash", "dash", "zsh"};
  if (command.empty() || kShells.count(BaseName(command[0])) == 0) return std::nullopt;
  for (size_t i = 1; i + 1 < command.size(); ++i) {
    const std::string& w = command[i];
    if (w.size() > 1 && w[0] == '-' && w[1] != '-' && absl::StrContains(w, 'c')) return i + 1;
  }
  return std::nullopt;
}

// One simple command (no operators): an Invocation if it runs one of ours.
void FindInvocation(std::vector<std::string> command, int line, std::vector<Invocation>* out) {
  static const std::set<std::string> kPrefixes = {"exec", "env", "!",     "then",  "do",    "else",
                                                  "time", "if",  "while", "until", "nohup", "CMD"};
  size_t start = 0;
  while (start < command.size() &&
         (kPrefixes.count(command[start]) > 0 || IsAssignment(command[start]))) {
    ++start;
  }
  command.erase(command.begin(), command.begin() + static_cast<std::ptrdiff_t>(start));
  if (command.empty()) return;
  if (std::optional<size_t> script = ShellScriptIndex(command)) {
    FindInvocations(SplitShellWords(command[*script]), line, out);
    return;
  }
  Invocation invocation;
  invocation.binary = BaseName(command[0]);
  invocation.line = line;
  if (!absl::StartsWith(invocation.binary, "smfg")) return;
  bool previous_wants_value = false;  // `--flag value`: the next word is the value
  for (size_t i = 1; i < command.size(); ++i) {
    const std::string& word = command[i];
    if (word == "--") break;
    // `--metrics_port -1`: a value; a `--` word is always a flag (bool flags
    // take no value word).
    const bool is_value = previous_wants_value && !absl::StartsWith(word, "--");
    if (!is_value && absl::StartsWith(word, "-") && word.size() > 1) {
      const size_t eq = word.find('=');
      invocation.flags.push_back(word.substr(0, eq));
      previous_wants_value = absl::StartsWith(word, "--") && eq == std::string::npos;
      continue;
    }
    if (invocation.binary == "smfg" && invocation.subcommand.empty() && !previous_wants_value) {
      invocation.subcommand = word;
    }
    previous_wants_value = false;
  }
  out->push_back(std::move(invocation));
}

void FindInvocations(const std::vector<std::string>& words, int line,
                     std::vector<Invocation>* out) {
  std::vector<std::string> command;
  for (const std::string& word : words) {
    if (IsShellOperator(word)) {
      FindInvocation(std::move(command), line, out);
      command.clear();
    } else {
      command.push_back(word);
    }
  }
  FindInvocation(std::move(command), line, out);
}

// Appends the words of a command-like value: a list word for word, a string
// split like a shell script.
void AppendWords(const YamlNode& value, std::vector<std::string>* words) {
  if (value.kind == YamlNode::Kind::kScalar) {
    for (std::string& w : SplitShellWords(value.scalar)) words->push_back(std::move(w));
  } else if (value.kind == YamlNode::Kind::kList) {
    for (const YamlNodePtr& item : value.list) {
      if (item->kind == YamlNode::Kind::kScalar) words->push_back(item->scalar);
    }
  }
}

// The commands one mapping itself runs (not its children).
void InvocationsOfMap(const YamlNode& map, absl::string_view key_in_parent,
                      std::vector<Invocation>* out) {
  std::vector<std::string> words;
  int line = 0;
  for (const char* key : {"entrypoint", "command", "args"}) {
    const YamlNode* value = map.Find(key);
    if (value == nullptr || value->kind == YamlNode::Kind::kMap) continue;  // build: args: {}
    if (line == 0) line = value->line;
    AppendWords(*value, &words);
  }
  const YamlNode* test = key_in_parent == "healthcheck" ? map.Find("test") : nullptr;
  if (test != nullptr) {
    line = test->line;
    AppendWords(*test, &words);
    if (!words.empty() && words[0] == "CMD-SHELL") {
      words = SplitShellWords(absl::StrJoin(words.begin() + 1, words.end(), " "));
    } else if (!words.empty() && words[0] == "NONE") {
      words.clear();
    }
  }
  if (!words.empty()) FindInvocations(words, line, out);
}

void CollectInvocations(const YamlNode& node, absl::string_view key_in_parent,
                        std::vector<Invocation>* out) {
  if (node.kind == YamlNode::Kind::kMap) {
    InvocationsOfMap(node, key_in_parent, out);
    for (const auto& [key, value] : node.map) CollectInvocations(*value, key, out);
  } else if (node.kind == YamlNode::Kind::kList) {
    for (const YamlNodePtr& item : node.list) CollectInvocations(*item, key_in_parent, out);
  }
}

// (name, line) of every variable an `env`/`environment` value sets.
std::vector<std::pair<std::string, int>> EnvNames(const YamlNode& env) {
  std::vector<std::pair<std::string, int>> names;
  if (env.kind == YamlNode::Kind::kMap) {
    for (const auto& [key, value] : env.map) names.emplace_back(key, value->line);
  } else if (env.kind == YamlNode::Kind::kList) {
    for (const YamlNodePtr& item : env.list) {
      if (item->kind == YamlNode::Kind::kScalar) {
        names.emplace_back(item->scalar.substr(0, item->scalar.find('=')), item->line);
      } else if (const YamlNode* name = item->Find("name")) {
        names.emplace_back(name->scalar, item->line);
      }
    }
  }
  return names;
}

// The identifiers NAME of the `$(NAME)` in `word` (not `$$(NAME)`, which
// Kubernetes passes on as the literal `$(NAME)`).
std::vector<std::string> DependentVariables(const std::string& word) {
  std::vector<std::string> names;
  for (size_t at = word.find("$("); at != std::string::npos; at = word.find("$(", at + 2)) {
    const size_t close = word.find(')', at);
    if (close == std::string::npos || (at > 0 && word[at - 1] == '$')) continue;
    std::string name = word.substr(at + 2, close - at - 2);
    if (IsIdentifier(name)) names.push_back(std::move(name));
  }
  return names;
}

// Kubernetes `$(NAME)` references in the command/args lists of `map` that
// its env does not define. A `sh -c` script is skipped: there `$(name)` is
// the shell's command substitution when no such variable is set.
void CheckDependentVariables(const YamlNode& map, const std::set<std::string>& defined,
                             std::vector<std::string>* problems) {
  std::vector<const YamlNode*> words;
  std::vector<std::string> texts;
  for (const char* key : {"entrypoint", "command", "args"}) {
    const YamlNode* value = map.Find(key);
    if (value == nullptr || value->kind != YamlNode::Kind::kList) continue;
    for (const YamlNodePtr& word : value->list) {
      words.push_back(word.get());
      texts.push_back(word->scalar);
    }
  }
  const std::optional<size_t> script = ShellScriptIndex(texts);
  for (size_t i = 0; i < words.size(); ++i) {
    if (script == i) continue;
    for (const std::string& name : DependentVariables(texts[i])) {
      if (defined.count(name) > 0) continue;
      problems->push_back(absl::StrCat("line ", words[i]->line, ": $(", name,
                                       ") is not set in the container's env"));
    }
  }
}

void CollectEnv(const YamlNode& node, absl::string_view key_in_parent, DeploymentRefs* refs) {
  if (node.kind == YamlNode::Kind::kList) {
    for (const YamlNodePtr& item : node.list) CollectEnv(*item, key_in_parent, refs);
    return;
  }
  if (node.kind != YamlNode::Kind::kMap) return;
  const YamlNode* env = node.Find("environment");
  if (env == nullptr) env = node.Find("env");
  std::set<std::string> defined;
  if (env != nullptr) {
    std::vector<Invocation> invocations;
    CollectInvocations(node, key_in_parent, &invocations);
    std::set<std::string> binaries;
    for (const Invocation& invocation : invocations) binaries.insert(invocation.binary);
    for (const auto& [name, line] : EnvNames(*env)) {
      defined.insert(name);
      if (!absl::StartsWith(name, "SMFG_")) continue;
      refs->env.push_back({name, {binaries.begin(), binaries.end()}, line});
      if (binaries.empty()) {
        refs->problems.push_back(absl::StrCat("line ", line, ": ", name,
                                              " is set where no command runs one of smfg's "
                                              "binaries (name the binary in command:)"));
      }
    }
  }
  CheckDependentVariables(node, defined, &refs->problems);
  for (const auto& [key, value] : node.map) {
    // A compose extension field (`x-common: &common`) is checked where it is
    // merged into a service, together with that service's command.
    if (value.get() != env && !absl::StartsWith(key, "x-")) CollectEnv(*value, key, refs);
  }
}

// ---- Help texts ----------------------------------------------------------------

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// `token` occurs in `help` as a whole word (e.g. "--listen" but not inside
// "--listen_x" or "---listen").
bool Mentions(absl::string_view help, absl::string_view token) {
  for (size_t at = help.find(token); at != absl::string_view::npos; at = help.find(token, at + 1)) {
    const size_t end = at + token.size();
    if ((at == 0 || !IsTokenChar(help[at - 1])) &&
        (end == help.size() || !IsTokenChar(help[end]))) {
      return true;
    }
  }
  return false;
}

// Some line of `help` starts with `word` (how commands are listed).
bool StartsALine(absl::string_view help, absl::string_view word) {
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(line, word) && (line.size() == word.size() || line[word.size()] == ' ')) {
      return true;
    }
  }
  return false;
}

void CheckInvocation(const std::string& where, const Invocation& invocation,
                     const std::map<std::string, std::string>& help_by_binary,
                     std::vector<std::string>* problems) {
  auto help = help_by_binary.find(invocation.binary);
  if (help == help_by_binary.end()) {
    problems->push_back(absl::StrCat(where, ": unknown binary '", invocation.binary,
                                     "' (not one of smfg's binaries)"));
    return;
  }
  for (const std::string& flag : invocation.flags) {
    if (!Mentions(help->second, flag)) {
      problems->push_back(absl::StrCat(where, ": ", invocation.binary, ": flag ", flag,
                                       " is not in `", invocation.binary, " --help`"));
    }
  }
  if (!invocation.subcommand.empty() && !StartsALine(help->second, invocation.subcommand)) {
    problems->push_back(absl::StrCat(where, ": ", invocation.binary, ": subcommand '",
                                     invocation.subcommand, "' is not in `", invocation.binary,
                                     " --help`"));
  }
}

}  // namespace

absl::StatusOr<std::vector<YamlNodePtr>> ParseYamlSubset(absl::string_view text) {
  return BlockParser(text).Documents();
}

absl::StatusOr<DeploymentRefs> ExtractDeploymentRefs(absl::string_view yaml) {
  absl::StatusOr<std::vector<YamlNodePtr>> documents = ParseYamlSubset(yaml);
  if (!documents.ok()) return documents.status();
  DeploymentRefs refs;
  for (const YamlNodePtr& document : *documents) {
    CollectInvocations(*document, "", &refs.invocations);
    CollectEnv(*document, "", &refs);
  }
  return refs;
}

std::vector<std::string> CheckAgainstHelp(
    const std::string& file, const DeploymentRefs& refs,
    const std::map<std::string, std::string>& help_by_binary) {
  std::vector<std::string> problems;
  for (const Invocation& invocation : refs.invocations) {
    CheckInvocation(absl::StrCat(file, ":", invocation.line), invocation, help_by_binary,
                    &problems);
  }
  for (const EnvVar& var : refs.env) {
    const bool documented =
        std::any_of(var.binaries.begin(), var.binaries.end(), [&](const std::string& binary) {
          auto help = help_by_binary.find(binary);
          return help != help_by_binary.end() && Mentions(help->second, var.name);
        });
    if (!documented && !var.binaries.empty()) {
      problems.push_back(absl::StrCat(file, ":", var.line, ": ", var.name, " is set for ",
                                      absl::StrJoin(var.binaries, ", "),
                                      " but is not in the --help of any of them"));
    }
  }
  for (const std::string& problem : refs.problems) {
    problems.push_back(absl::StrCat(file, ": ", problem));
  }
  return problems;
}

}  // namespace smfg::deploy_check
