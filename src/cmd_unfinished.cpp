// Weak placeholders for commands whose implementation lands in its own file;
// the real (strong) definition replaces each one at link time.
// This file is deleted once every command exists.
#include "mgr/commands.hpp"

namespace mgr {

namespace {
[[noreturn]] void unfinished(const char* name) {
  throw Failure(std::string("mgr ") + name + " is not available in this build");
}
}  // namespace

__attribute__((weak)) int run_apply(const GlobalOptions&, const ApplyOptions&) { unfinished("apply"); }
__attribute__((weak)) int run_status(const GlobalOptions&, const StatusOptions&) { unfinished("status"); }
__attribute__((weak)) int run_validate(const GlobalOptions&, const ValidateOptions&) { unfinished("validate"); }
__attribute__((weak)) int run_lint(const GlobalOptions&, const LintOptions&) { unfinished("lint"); }
__attribute__((weak)) int run_backup(const GlobalOptions&, const BackupOptions&) { unfinished("backup"); }
__attribute__((weak)) int run_backups(const GlobalOptions&, const BackupsOptions&) { unfinished("backups"); }
__attribute__((weak)) int run_restore(const GlobalOptions&, const RestoreOptions&) { unfinished("restore"); }
__attribute__((weak)) int run_baseline(const GlobalOptions&, const BaselineOptions&) { unfinished("baseline"); }
__attribute__((weak)) int run_repair(const GlobalOptions&, const RepairOptions&) { unfinished("repair"); }
__attribute__((weak)) int run_rollback(const GlobalOptions&, const RollbackOptions&) { unfinished("rollback"); }
__attribute__((weak)) int run_log(const GlobalOptions&, const LogOptions&) { unfinished("log"); }

}  // namespace mgr
