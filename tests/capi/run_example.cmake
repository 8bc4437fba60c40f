# Runs examples/c/route.c on a small two-topic dataset and checks that a code
# prompt goes to "coder" and a poem prompt to "writer".
# Usage: cmake -DEXAMPLE=<route_c> -DWORK_DIR=<dir> -P run_example.cmake
file(MAKE_DIRECTORY ${WORK_DIR})
set(code_words python function code bug compile segfault debug pointer)
set(poem_words poem story rhyme novel verse stanza sonnet haiku)
set(rows "")
foreach(row RANGE 0 159)
  math(EXPR topic "${row} % 2")
  math(EXPR a "${row} % 8")
  math(EXPR b "(${row} * 3 + 1) % 8")
  math(EXPR c "(${row} * 5 + 2) % 8")
  if(topic EQUAL 0)
    set(words ${code_words})
    set(scores "\"coder\": 1, \"writer\": 0")
  else()
    set(words ${poem_words})
    set(scores "\"coder\": 0, \"writer\": 1")
  endif()
  list(GET words ${a} wa)
  list(GET words ${b} wb)
  list(GET words ${c} wc)
  string(APPEND rows "{\"id\": \"e${row}\", \"prompt\": \"${wa} ${wb} ${wc}\", "
                     "\"scores\": {${scores}}, "
                     "\"costs\": {\"coder\": 0.001, \"writer\": 0.001}}\n")
endforeach()
file(WRITE ${WORK_DIR}/example.jsonl "${rows}")

execute_process(
  COMMAND ${EXAMPLE} ${WORK_DIR}/example.jsonl "{\"knn\": {\"k\": 10}}"
          "fix this python bug, it will not compile" "a sonnet with rhyme, verse and a story"
  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE error)
message("${output}${error}")
if(NOT result EQUAL 0)
  message(FATAL_ERROR "route_c exited with ${result}")
endif()
if(NOT output MATCHES "compile\n  -> coder" OR NOT output MATCHES "story\n  -> writer")
  message(FATAL_ERROR "route_c routed the prompts to the wrong models")
endif()
