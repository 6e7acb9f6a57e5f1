#include "lib/cli.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/status.h"

namespace gdn {

std::string ParsedFlags::Get(absl::string_view name, absl::string_view fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end() || it->second.empty()) return std::string(fallback);
  return it->second.back();
}

std::vector<std::string> ParsedFlags::All(absl::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

bool ParsedFlags::Bool(absl::string_view name) const {
  std::string v = Get(name, "");
  return Has(name) && (v.empty() || v == "true" || v == "1");
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs,
                                       bool stop_at_positional) {
  ParsedFlags out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.positional.insert(out.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (stop_at_positional) {
        out.positional.insert(out.positional.end(), args.begin() + i, args.end());
        break;
      }
      out.positional.push_back(arg);
      continue;
    }
    absl::string_view body = arg;
    body.remove_prefix(body[1] == '-' ? 2 : 1);
    std::string name(body.substr(0, body.find('=')));
    bool has_inline = body.find('=') != absl::string_view::npos;
    std::string inline_value = has_inline ? std::string(body.substr(body.find('=') + 1)) : "";
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (s.name == name || (name.size() == 1 && s.short_name == name[0])) {
        spec = &s;
        break;
      }
    }
    if (spec == nullptr) return UsageError(absl::StrCat("unknown flag ", arg.substr(0, arg.find('='))));
    std::string value;
    if (has_inline) {
      value = inline_value;
      if (!spec->takes_value && value != "true" && value != "false" && value != "1" &&
          value != "0") {
        return UsageError(absl::StrCat("--", spec->name, " is a switch: true or false, not \"",
                                       value, "\""));
      }
    } else if (spec->takes_value) {
      if (i + 1 >= args.size()) return UsageError(absl::StrCat("--", spec->name, " needs a value"));
      value = args[++i];
    }
    out.values_[spec->name].push_back(value);
  }
  return out;
}

}  // namespace gdn
