# Overlay port building librouter from this source tree:
#   vcpkg install librouter --overlay-ports=<librouter>/packaging/vcpkg
# (A registry port would fetch a release with vcpkg_from_github instead.)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# Features map one-to-one to librouter's ROUTER_* options.
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    tools ROUTER_BUILD_TOOLS
    redis ROUTER_WITH_REDIS)
string(COMPARE EQUAL "${VCPKG_LIBRARY_LINKAGE}" "dynamic" ROUTER_BUILD_SHARED)

# librouter_c is a shared library in either linkage: the C ABI is its point.
# With vcpkg's static, position-independent Abseil and fmt it carries them
# inside, exporting only router_*.
vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${FEATURE_OPTIONS}
    -DROUTER_BUILD_SHARED=${ROUTER_BUILD_SHARED}
    -DROUTER_BUILD_TESTS=OFF
    -DROUTER_BUILD_BENCHMARKS=OFF
    -DROUTER_BUILD_EXAMPLES=OFF
    -DROUTER_INSTALL=ON)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME router CONFIG_PATH "lib/cmake/router")
vcpkg_fixup_pkgconfig()
if("tools" IN_LIST FEATURES)
  vcpkg_copy_tools(TOOL_NAMES router AUTO_CLEAN)
endif()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include")
set(VCPKG_POLICY_DLLS_IN_STATIC_LIBRARY enabled)  # librouter_c, see above
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
