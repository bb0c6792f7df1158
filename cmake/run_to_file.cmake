# Runs CMD (a list: program and arguments) and writes its stdout to OUT;
# fails the build when the program fails.
#   cmake -DOUT=<file> "-DCMD=<program>;<arg>..." -P run_to_file.cmake
get_filename_component(dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
execute_process(COMMAND ${CMD} OUTPUT_FILE "${OUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "${CMD} failed: ${rc}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
