# Builds a tiny outside project against reg4rec both ways a consumer would:
#   1. cmake --install reg4rec into a prefix, then find_package(reg4rec CONFIG)
#   2. add_subdirectory(<reg4rec source>)
# Run as: cmake -DREG4REC_SOURCE_DIR=... -DWORK_DIR=... -DCMAKE_GENERATOR=... -P this-file
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(project_dir ${REG4REC_SOURCE_DIR}/tests/consumer/project)
set(common -G ${CMAKE_GENERATOR} -DCMAKE_BUILD_TYPE=Release)

# 1. install, then find_package
run(${CMAKE_COMMAND} -S ${REG4REC_SOURCE_DIR} -B ${WORK_DIR}/lib ${common}
    -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix
    -DREG4REC_BUILD_TESTS=OFF -DREG4REC_BUILD_BENCHMARKS=OFF
    -DREG4REC_BUILD_EXAMPLES=OFF -DREG4REC_BUILD_APPS=OFF)
run(${CMAKE_COMMAND} --install ${WORK_DIR}/lib)
run(${CMAKE_COMMAND} -S ${project_dir} -B ${WORK_DIR}/by_package ${common}
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/by_package)
run(${WORK_DIR}/by_package/consumer)

# 2. add_subdirectory
run(${CMAKE_COMMAND} -S ${project_dir} -B ${WORK_DIR}/by_subdirectory ${common}
    -DCONSUMER_REG4REC_SOURCE=${REG4REC_SOURCE_DIR})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/by_subdirectory)
run(${WORK_DIR}/by_subdirectory/consumer)

# The subdirectory build must not have built reg4rec's own tests or tools.
if(EXISTS ${WORK_DIR}/by_subdirectory/reg4rec/tests)
  message(FATAL_ERROR "add_subdirectory(reg4rec) built reg4rec's tests")
endif()
message(STATUS "consumer project built and ran both ways")
