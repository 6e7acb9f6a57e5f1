// protoschema DESCRIPTOR_SET PROTO OUT_H OUT_CC: writes the JSON schemas (lib/lite_json_schema.h)
// of the messages of PROTO (a file in DESCRIPTOR_SET, protoc's --descriptor_set_out with
// --include_imports): OUT_H declares `JsonSchemaOf(const M&)` for each message M, next to
// M's class; OUT_CC holds the tables. Run by cc_proto(lite = True) (tools/bazel/proto.bzl).
// A field of a kind lib/lite_json does not read or write is an error here, at build time.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

[[noreturn]] void Fail(const std::string& why) {
  fprintf(stderr, "protoschema: %s\n", why.c_str());
  exit(1);
}

std::string Quote(const std::string& s) { return absl::StrCat("\"", absl::CEscape(s), "\""); }

const char* KindOf(const FieldDescriptor* f) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_INT32: return "kInt32";
    case FieldDescriptor::TYPE_INT64: return "kInt64";
    case FieldDescriptor::TYPE_UINT32: return "kUInt32";
    case FieldDescriptor::TYPE_UINT64: return "kUInt64";
    case FieldDescriptor::TYPE_BOOL: return "kBool";
    case FieldDescriptor::TYPE_ENUM: return "kEnum";
    case FieldDescriptor::TYPE_STRING: return "kString";
    case FieldDescriptor::TYPE_BYTES: return "kBytes";
    case FieldDescriptor::TYPE_DOUBLE: return "kDouble";
    case FieldDescriptor::TYPE_FLOAT: return "kFloat";
    case FieldDescriptor::TYPE_MESSAGE: return "kMessage";
    default:
      Fail(absl::StrCat(f->full_name(), " is a ", f->type_name(),
                        ", which lib/lite_json does not read or write"));
  }
}

// The messages of the file (nested ones and map entries too), each before its nested ones.
void Collect(const Descriptor* d, std::vector<const Descriptor*>* out) {
  out->push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) Collect(d->nested_type(i), out);
}

// The C++ class of a message: its name within the package, dots made underscores.
std::string ClassName(const Descriptor* d) {
  std::string name = d->full_name();
  if (!d->file()->package().empty()) name = name.substr(d->file()->package().size() + 1);
  return absl::StrReplaceAll(name, {{".", "_"}});
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) Fail(absl::StrCat("cannot write ", path));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) Fail("usage: protoschema DESCRIPTOR_SET PROTO OUT_H OUT_CC");
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromString(ReadAll(argv[1]))) Fail(absl::StrCat(argv[1], " is no descriptor set"));
  google::protobuf::DescriptorPool pool;
  for (const auto& file : set.file()) {
    if (pool.BuildFile(file) == nullptr) Fail(absl::StrCat("cannot build ", file.name()));
  }
  const std::string proto = argv[2];
  const FileDescriptor* file = pool.FindFileByName(proto);
  if (file == nullptr) Fail(absl::StrCat(proto, " is not in ", argv[1]));

  std::vector<const Descriptor*> messages;
  for (int i = 0; i < file->message_type_count(); ++i) Collect(file->message_type(i), &messages);
  std::map<const Descriptor*, int> message_index;
  for (size_t i = 0; i < messages.size(); ++i) message_index[messages[i]] = static_cast<int>(i);
  std::map<const EnumDescriptor*, int> enum_index;
  std::vector<const EnumDescriptor*> enums;

  std::string tables;
  for (size_t m = 0; m < messages.size(); ++m) {
    const Descriptor* d = messages[m];
    std::vector<std::string> rows;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      std::string message = "nullptr", enum_type = "nullptr";
      const char* kind = KindOf(f);
      if (f->message_type() != nullptr) {
        auto it = message_index.find(f->message_type());
        if (it == message_index.end()) {
          Fail(absl::StrCat(f->full_name(), " is a message of another file, which protoschema "
                            "does not handle yet"));
        }
        message = absl::StrCat("&kMessage", it->second);
      }
      if (f->is_map() && f->message_type()->map_key()->type() != FieldDescriptor::TYPE_STRING) {
        Fail(absl::StrCat(f->full_name(), " is a map with keys other than strings"));
      }
      if (const EnumDescriptor* e = f->enum_type()) {
        if (e->file() != file) Fail(absl::StrCat(f->full_name(), " is an enum of another file"));
        if (!enum_index.count(e)) {
          enum_index[e] = static_cast<int>(enums.size());
          enums.push_back(e);
        }
        enum_type = absl::StrCat("&kEnum", enum_index[e]);
      }
      rows.push_back(absl::StrCat(
          "    {", Quote(f->name()), ", ", Quote(f->json_name()), ", ", f->number(),
          ", Kind::", kind, ", ", f->is_repeated() ? "true" : "false", ", ",
          !f->is_repeated() && f->has_presence() ? "true" : "false", ", ",
          f->is_map() ? "true" : "false", ", ", message, ", ", enum_type, "},"));
    }
    std::string fields = "nullptr";
    if (!rows.empty()) {
      absl::StrAppend(&tables, "const FieldSchema kFields", m, "[] = {\n",
                      absl::StrJoin(rows, "\n"), "\n};\n");
      fields = absl::StrCat("kFields", m);
    }
    absl::StrAppend(&tables, "const MessageSchema kMessage", m, " = {", Quote(d->name()), ", ",
                    fields, ", ", d->field_count(), "};\n\n");
  }

  std::string base = proto.substr(0, proto.size() - std::string(".proto").size());
  std::string guard = absl::AsciiStrToUpper(absl::StrReplaceAll(
      base + "_schema_h_", {{"/", "_"}, {".", "_"}, {"-", "_"}}));
  std::vector<std::string> ns = absl::StrSplit(file->package(), '.', absl::SkipEmpty());
  std::string open_ns, close_ns;
  for (const std::string& n : ns) absl::StrAppend(&open_ns, "namespace ", n, " {\n");
  for (auto it = ns.rbegin(); it != ns.rend(); ++it) absl::StrAppend(&close_ns, "}  // namespace ", *it, "\n");

  std::string header = absl::StrCat(
      "// Generated by tools/protoschema from ", proto,
      ": the JSON schemas of its messages, for lib/lite_json.h. Do not edit.\n#ifndef ", guard,
      "\n#define ", guard, "\n\n#include \"", base, ".pb.h\"\n#include \"lib/lite_json_schema.h\"\n\n",
      open_ns);
  std::string accessors;
  for (size_t m = 0; m < messages.size(); ++m) {
    if (messages[m]->options().map_entry()) continue;
    std::string signature = absl::StrCat("const ::gdn::lite_json::MessageSchema& JsonSchemaOf(const ",
                                         ClassName(messages[m]), "&)");
    absl::StrAppend(&header, signature, ";\n");
    absl::StrAppend(&accessors, signature, " { return kMessage", m, "; }\n");
  }
  absl::StrAppend(&header, close_ns, "\n#endif  // ", guard, "\n");

  std::string source = absl::StrCat(
      "// Generated by tools/protoschema from ", proto, ". Do not edit.\n#include \"", base,
      ".schema.h\"\n\nnamespace {\n\nusing ::gdn::lite_json::EnumSchema;\nusing "
      "::gdn::lite_json::EnumValue;\nusing ::gdn::lite_json::FieldSchema;\nusing "
      "::gdn::lite_json::Kind;\nusing ::gdn::lite_json::MessageSchema;\n\n");
  for (size_t m = 0; m < messages.size(); ++m) {
    absl::StrAppend(&source, "extern const MessageSchema kMessage", m, ";  // ",
                    messages[m]->full_name(), "\n");
  }
  source += "\n";
  for (size_t e = 0; e < enums.size(); ++e) {
    std::vector<std::string> values;
    for (int i = 0; i < enums[e]->value_count(); ++i) {
      values.push_back(absl::StrCat("{", Quote(enums[e]->value(i)->name()), ", ",
                                    enums[e]->value(i)->number(), "}"));
    }
    absl::StrAppend(&source, "const EnumValue kEnumValues", e, "[] = {", absl::StrJoin(values, ", "),
                    "};\nconst EnumSchema kEnum", e, " = {", Quote(enums[e]->name()),
                    ", kEnumValues", e, ", ", enums[e]->value_count(), "};\n\n");
  }
  absl::StrAppend(&source, tables, "}  // namespace\n\n", open_ns, accessors, close_ns);
  WriteAll(argv[3], header);
  WriteAll(argv[4], source);
  return 0;
}
