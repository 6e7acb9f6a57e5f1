// `setup` and `setup --undo`: checks first, then acts, then writes the record; undo replays
// the record backwards. See main.cc for the whole picture.
#ifndef GDN_SETUP_SETUP_H_
#define GDN_SETUP_SETUP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "setup/setup.pb.h"
#include "setup/setup_flags.h"

namespace gdn::setup {

// Prepares the host for options.uid, or with options.undo reverts what its record lists.
// Writes one line per item to stdout ("<kind> <name>: <state>"), or with options.json one
// Summary. The text is the same for a run that changed things and one that found them done.
absl::Status RunSetup(const SetupOptions& options);

// Adds `fresh` to `existing`, skipping actions that are already there (the oldest one knows
// the state before any setup).
void MergeActions(const std::vector<Action>& fresh,
                  google::protobuf::RepeatedPtrField<Action>* existing);

}  // namespace gdn::setup

#endif  // GDN_SETUP_SETUP_H_
