# Installs BUILD_DIR into WORK_DIR/prefix, checks what librouter_c needs at
# run time, then builds and runs the consumers against that prefix: through
# find_package(router), and through pkg-config (router_c.pc).
# Run by ctest (tests/package/CMakeLists.txt) with -D for every variable below.
foreach(var BUILD_DIR CONSUMER_DIR WORK_DIR GENERATOR C_COMPILER CXX_COMPILER LIBDIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_package_test.cmake: ${var} is not set")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${step} failed (${result}):\n${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# 1. Install.
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(file include/router_c.h include/router/pipeline.h
             ${LIBDIR}/cmake/router/routerConfig.cmake
             ${LIBDIR}/cmake/router/routerConfigVersion.cmake
             ${LIBDIR}/cmake/router/routerTargets.cmake
             ${LIBDIR}/pkgconfig/router_c.pc)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "install: ${prefix}/${file} is missing")
  endif()
endforeach()

# librouter_c carries the core itself (not librouter.so) and fmt header-only.
# (Abseil stays a shared library where only non-PIC archives exist: Debian.)
if(READELF)
  run("readelf -d librouter_c" ${READELF} -d ${prefix}/${LIBDIR}/librouter_c.so)
  string(REGEX MATCHALL "NEEDED[^\n]*" needed "${last_output}")
  foreach(library IN LISTS needed)
    if(library MATCHES "\\[(librouter\\.so|libfmt)")
      message(FATAL_ERROR "librouter_c must not need ${CMAKE_MATCH_1}: ${library}")
    endif()
  endforeach()
  list(LENGTH needed count)
  message(STATUS "librouter_c needs ${count} libraries, neither librouter nor fmt")
endif()

# The installed `router` program runs from the prefix with no environment:
# its run path leads to the installed librouter. It prints its version and
# evaluates a small generated dataset (two topics, each with its own best
# model).
if(EXISTS ${prefix}/bin/router)
  unset(ENV{LD_LIBRARY_PATH})
  run("installed router --version" ${prefix}/bin/router --version)
  set(data ${WORK_DIR}/topics.jsonl)
  file(WRITE ${data} "")
  foreach(i RANGE 79)
    math(EXPR topic "${i} % 2")
    math(EXPR test "${i} % 5")
    set(split train)
    if(test EQUAL 0)
      set(split test)
    endif()
    if(topic EQUAL 0)
      set(prompt "write a python function that sorts list number ${i} with code")
      set(scores "\"coder\": 1.0, \"mathematician\": 0.2")
    else()
      set(prompt "prove that the integral of equation ${i} converges in calculus")
      set(scores "\"coder\": 0.1, \"mathematician\": 0.9")
    endif()
    file(APPEND ${data} "{\"id\": \"r${i}\", \"prompt\": \"${prompt}\", \"split\": \"${split}\", "
                        "\"scores\": {${scores}}, "
                        "\"costs\": {\"coder\": 0.001, \"mathematician\": 0.002}}\n")
  endforeach()
  run("installed router eval" ${prefix}/bin/router eval --quiet --data ${data} --routers knn
      --out ${WORK_DIR}/eval)
  if(NOT last_output MATCHES "knn")
    message(FATAL_ERROR "installed router eval printed no knn row:\n${last_output}")
  endif()
else()
  message(STATUS "installed router program: not built (ROUTER_BUILD_TOOLS=OFF), not run")
endif()

# The installed libraries are found through the environment only.
set(ENV{LD_LIBRARY_PATH} "${prefix}/${LIBDIR}:$ENV{LD_LIBRARY_PATH}")

# 2. find_package(router) consumer (C++ and C targets).
set(build ${WORK_DIR}/find_package)
set(make_program)
if(MAKE_PROGRAM)
  set(make_program -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()
run("configure the find_package consumer"
    ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${build} -G ${GENERATOR} ${make_program}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
run("build the find_package consumer" ${CMAKE_COMMAND} --build ${build})
run("run the C++ consumer (router::router)" ${build}/cpp_consumer)
message("${last_output}")
run("run the C consumer (router::router_c)" ${build}/c_consumer ${WORK_DIR}/cmake_)
message("${last_output}")

# 3. pkg-config consumer: the C program compiled by hand.
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config not found")
endif()
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
run("pkg-config --modversion router_c" ${PKG_CONFIG} --modversion router_c)
string(STRIP "${last_output}" version)
# The .pc file's paths are relative to itself, and still name this prefix.
run("pkg-config --variable=libdir router_c" ${PKG_CONFIG} --variable=libdir router_c)
string(STRIP "${last_output}" pc_libdir)
file(REAL_PATH "${pc_libdir}" pc_libdir)
file(REAL_PATH "${prefix}/${LIBDIR}" real_libdir)
if(NOT pc_libdir STREQUAL real_libdir)
  message(FATAL_ERROR "router_c.pc: libdir is ${pc_libdir}, not ${real_libdir}")
endif()
run("pkg-config --cflags --libs router_c" ${PKG_CONFIG} --cflags --libs router_c)
string(STRIP "${last_output}" flags)
message(STATUS "router_c ${version}: ${flags}")
if(NOT flags MATCHES "-lrouter_c")
  message(FATAL_ERROR "router_c.pc does not link -lrouter_c: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run("compile the pkg-config consumer"
    ${C_COMPILER} -std=c99 -Wall -Wextra -pedantic -Werror ${CONSUMER_DIR}/consumer.c
    ${flags} -o ${WORK_DIR}/pkg_config_consumer)
run("run the pkg-config consumer" ${WORK_DIR}/pkg_config_consumer ${WORK_DIR}/pkg_config_)
message("${last_output}")
