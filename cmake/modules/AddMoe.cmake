# Project-prefixed CMake helpers.
#
# MLIR's own add_mlir_library links the static component archives (MLIRIR.a,
# ...), which would put a second copy of MLIR next to libMLIR.so in every
# process. These wrappers link the shared MLIR and LLVM libraries instead; both
# are needed (libMLIR.so alone leaves LLVM symbols undefined).

# add_moe_library(name SOURCES... [DEPENDS tablegen targets...] [LINK_LIBS libs...])
# A static, position-independent library that links the shared MLIR and LLVM.
function(add_moe_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_UNPARSED_ARGUMENTS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_link_libraries(${name} PUBLIC ${ARG_LINK_LIBS} MLIR LLVM)
  set_property(GLOBAL APPEND PROPERTY MOE_LIBRARIES ${name})
endfunction()

# add_moe_tool(name SOURCES... [LINK_LIBS libs...])
# A thin executable over the project's libraries.
function(add_moe_tool name)
  cmake_parse_arguments(ARG "" "" "LINK_LIBS" ${ARGN})
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${ARG_LINK_LIBS} MLIR LLVM)
  set_property(GLOBAL APPEND PROPERTY MOE_TOOLS ${name})
endfunction()
