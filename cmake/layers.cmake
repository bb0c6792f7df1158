# The layers of mgr, bottom to top (docs/ARCHITECTURE.md, "Layers").
#
# Plain data plus two lookup functions, so that both the build (CMakeLists.txt:
# one OBJECT library per layer, a link check per layer) and the include check
# (cmake/check_layers.cmake, run in script mode) read the same lists.
#
# A new file in src/ or include/mgr/ goes into exactly one MODULES list below:
# that is the whole change (configure fails naming a file that is in none). A
# module name covers src/<name>.cpp, src/<name>.hpp and include/mgr/<name>.hpp;
# a trailing `*` matches every name with that prefix (cmd_*: every command).
# Names of files that do not exist yet are allowed (they are announced by work
# in progress on other branches).
#
#   MODULES  the files of the layer
#   USES     the layers directly below it that its files may include and call
#            (and, through them, theirs)
#   LINKS    the libraries its own files include and call (keys of the
#            MGR_PACKAGE_* table below); a file may include only the headers
#            of its own layer's LINKS

set(MGR_LAYERS core lint proc db commands cli)

# Plain data and pure functions: no database, no child process, no terminal.
# `sql` is here because the promotion policy's file rules (plan) must parse
# SQL; the linter, which judges statements, is a layer of its own above it.
set(MGR_LAYER_core_MODULES
    build_info catalog config db_url diagnostic drift error fd fleet history_row host interrupt plan provenance
    server_identity sha256 sql status style text validate)
set(MGR_LAYER_core_USES)
set(MGR_LAYER_core_LINKS libpq yaml openssl pg_query json fmt spdlog threads)

# The lint rules (and validate's lint findings).
set(MGR_LAYER_lint_MODULES lint lint_*)
set(MGR_LAYER_lint_USES core)
set(MGR_LAYER_lint_LINKS json fmt)

# Child processes and the backups made with them.
set(MGR_LAYER_proc_MODULES process backup git_provenance)
set(MGR_LAYER_proc_USES core)
set(MGR_LAYER_proc_LINKS boost_process libpq openssl json fmt spdlog)

# One environment's database: the session, the history store, the runner,
# schema snapshots (taken with pg_dump, hence `proc`).
set(MGR_LAYER_db_MODULES session history runner schema_snapshot)
set(MGR_LAYER_db_USES core proc)
set(MGR_LAYER_db_LINKS pqxx libpq json fmt spdlog)

# One file per command, the executor they share, and rendering.
set(MGR_LAYER_commands_MODULES commands output executor fleet_commands cmd_*)
set(MGR_LAYER_commands_USES core lint proc db)
set(MGR_LAYER_commands_LINKS json fmt spdlog)

# The command line: flags -> option structs, errors -> exit codes; main().
set(MGR_LAYER_cli_MODULES cli main)
set(MGR_LAYER_cli_USES commands)
set(MGR_LAYER_cli_LINKS cli11 spdlog)

# Libraries: the CMake targets to link and the headers (path prefixes of
# #include <...>) that only layers listing the key may include.
set(MGR_PACKAGE_libpq_TARGETS PkgConfig::LIBPQ)
set(MGR_PACKAGE_libpq_HEADERS libpq-fe.h libpq/ postgresql/)
set(MGR_PACKAGE_pqxx_TARGETS PkgConfig::PQXX PkgConfig::LIBPQ)
set(MGR_PACKAGE_pqxx_HEADERS pqxx/)
set(MGR_PACKAGE_yaml_TARGETS yaml-cpp::yaml-cpp)
set(MGR_PACKAGE_yaml_HEADERS yaml-cpp/)
set(MGR_PACKAGE_openssl_TARGETS OpenSSL::Crypto)
set(MGR_PACKAGE_openssl_HEADERS openssl/)
set(MGR_PACKAGE_pg_query_TARGETS pg_query::pg_query)
set(MGR_PACKAGE_pg_query_HEADERS pg_query.h pg_query/)
set(MGR_PACKAGE_json_TARGETS nlohmann_json::nlohmann_json)
set(MGR_PACKAGE_json_HEADERS nlohmann/)
set(MGR_PACKAGE_fmt_TARGETS fmt::fmt)
set(MGR_PACKAGE_fmt_HEADERS fmt/)
set(MGR_PACKAGE_spdlog_TARGETS spdlog::spdlog fmt::fmt)
set(MGR_PACKAGE_spdlog_HEADERS spdlog/)
# Boost.Process 1.74 needs boost_filesystem at link time.
set(MGR_PACKAGE_boost_process_TARGETS Boost::headers Boost::filesystem)
set(MGR_PACKAGE_boost_process_HEADERS boost/)
set(MGR_PACKAGE_cli11_TARGETS CLI11::CLI11)
set(MGR_PACKAGE_cli11_HEADERS CLI/)
set(MGR_PACKAGE_threads_TARGETS Threads::Threads)
set(MGR_PACKAGE_threads_HEADERS)
set(MGR_PACKAGES libpq pqxx yaml openssl pg_query json fmt spdlog boost_process cli11 threads)

# mgr_layer_of(<module> <out-var>): the layer a module belongs to; "" when
# none, "a;b" when it is listed in two (both are errors for the caller).
function(mgr_layer_of module out)
  set(found)
  foreach(layer IN LISTS MGR_LAYERS)
    foreach(pattern IN LISTS MGR_LAYER_${layer}_MODULES)
      if(pattern MATCHES "^(.*)\\*$")
        string(FIND "${module}" "${CMAKE_MATCH_1}" at)
        if(at EQUAL 0)
          list(APPEND found ${layer})
        endif()
      elseif(module STREQUAL pattern)
        list(APPEND found ${layer})
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES found)
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# mgr_layer_closure(<layer> <out-var>): the layer and every layer below it
# that it may use.
function(mgr_layer_closure layer out)
  set(result ${layer})
  set(todo ${MGR_LAYER_${layer}_USES})
  while(todo)
    list(POP_FRONT todo next)
    if(NOT next IN_LIST result)
      list(APPEND result ${next})
      list(APPEND todo ${MGR_LAYER_${next}_USES})
    endif()
  endwhile()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# mgr_layer_packages(<layer> <out-var>): the package keys of the layer and of
# every layer below it (what its link check may link).
function(mgr_layer_packages layer out)
  mgr_layer_closure(${layer} layers)
  set(result)
  foreach(l IN LISTS layers)
    list(APPEND result ${MGR_LAYER_${l}_LINKS})
  endforeach()
  list(REMOVE_DUPLICATES result)
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

# mgr_layer_sources(<root> <out-prefix>): sorts src/*.cpp of <root> into
# <out-prefix>_<layer> lists; <out-prefix>_UNLISTED gets the files in no
# layer, <out-prefix>_TWICE those in two.
function(mgr_layer_sources root prefix)
  file(GLOB sources RELATIVE ${root} ${root}/src/*.cpp)
  list(SORT sources)
  foreach(layer IN LISTS MGR_LAYERS)
    set(${prefix}_${layer})
  endforeach()
  set(unlisted)
  set(twice)
  foreach(f IN LISTS sources)
    get_filename_component(module ${f} NAME_WE)
    mgr_layer_of(${module} layer)
    list(LENGTH layer n)
    if(n EQUAL 0)
      list(APPEND unlisted ${f})
    elseif(n GREATER 1)
      string(REPLACE ";" " and " layers "${layer}")
      list(APPEND twice "${f} (${layers})")
    else()
      list(APPEND ${prefix}_${layer} ${root}/${f})
    endif()
  endforeach()
  foreach(layer IN LISTS MGR_LAYERS)
    set(${prefix}_${layer} "${${prefix}_${layer}}" PARENT_SCOPE)
  endforeach()
  set(${prefix}_UNLISTED "${unlisted}" PARENT_SCOPE)
  set(${prefix}_TWICE "${twice}" PARENT_SCOPE)
endfunction()
