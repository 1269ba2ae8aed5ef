# Install rules and packages (CPack): Debian packages per user group and a relocatable tarball.
# Included last by the top-level CMakeLists.txt, so every target it names already exists.
#
#   cmake --build build --target package          # .deb files and the tarball in build/packages/
#   cpack --config build/CPackConfig.cmake -G DEB # only the .deb files
#
# Packages (one CPack component each; docs/operations.md says which user group installs which):
#   declai-server       the gateway, its systemd unit and system user (no GUI dependencies)
#   declai-node         the headless volunteer node, its systemd unit and system user (no GUI dependencies)
#   declai-cli          the command-line client and model tools
#   declai              the tray app with its desktop file, icon and AppStream metainfo (when app/desktop builds)
#   declai-backend-hip  the HIP run-time module (when hipcc built it), so ROCm stays optional for everyone else
# Nothing of tests/ is installed. The version is the project version (project() in CMakeLists.txt), the one
# place it is written; core/include/declai/core/Version.h.in gives every binary the same --version.
include(GNUInstallDirs)

set(DECLAI_PACKAGE_CONTACT "DeCLAI maintainers <maintainers@users.noreply.r-seed-002a4ca3.example>"
    CACHE STRING "Maintainer field of the Debian packages (name <email>)")
set(DECLAI_PACKAGE_RELEASE "1" CACHE STRING "Debian revision of the packages (the part after the '-')")
# The date of the release entry in each package's changelog.Debian (RFC 5322, as dpkg wants it).
set(DECLAI_RELEASE_DATE "Wed, 02 Dec 2026 00:00:00 +0000" CACHE STRING "Release date (RFC 5322)")

# The HIP module's private directory: the loader looks for it in <exe dir>/../lib/declai
# (gpu/src/backend/HipModuleLoader.cpp). The tarball also bundles its shared libraries there.
set(DECLAI_PRIVATE_LIBDIR lib/declai)
set(_pkg_src ${PROJECT_SOURCE_DIR}/installers)
set(_pkg_out ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${_pkg_out})

# --- which packages this build can make ----------------------------------------------------------------
# component -> package name, binary (empty: none), summary, description
set(_components "")
macro(_declai_component component package binary summary description)
  if("${binary}" STREQUAL "" OR TARGET ${binary})
    list(APPEND _components ${component})
    set(_pkg_${component} ${package})
    set(_bin_${component} ${binary})
    set(_summary_${component} "${summary}")
    set(_description_${component} "${description}")
  endif()
endmacro()
# Descriptions: no line over 79 characters (lintian); each line becomes one line of the control field.
_declai_component(server declai-server declai-server "DeCLAI gateway for community-run LLM inference"
  "The DeCLAI gateway accepts volunteer nodes and researchers over TLS\nWebSockets, places model shards, routes requests, keeps the credit ledger\n(SQLite or PostgreSQL) and verifies results by re-execution. Includes a\nhardened systemd unit and a system user; no GUI dependencies.")
_declai_component(node declai-node declai-node "DeCLAI volunteer node (headless)"
  "Lends this machine's CPU or GPU to a DeCLAI gateway: downloads verified\nmodel shards and runs transformer layers for other people's requests,\nearning credits. Includes a low-priority, hardened systemd unit and a\nsystem user; no GUI dependencies (the declai package is the desktop app).")
_declai_component(cli declai-cli declai-cli "DeCLAI command-line client and model tools"
  "Submits prompts to a DeCLAI gateway, runs GGUF models locally (generate,\ntokenize, logits, inspect) and lists the compute devices of this machine.")
_declai_component(app declai declai "tray app to lend this computer to DeCLAI and submit prompts"
  "A system-tray application for volunteers and researchers: lends this\nmachine to a DeCLAI gateway on the owner's terms (schedule, pause rules)\nand submits prompts, with a dashboard of credits and work.")
_declai_component(hip declai-backend-hip declai-backend-hip "DeCLAI HIP compute backend (AMD GPUs, ROCm)"
  "The HIP run-time module that declai-node, declai-cli and declai load to\ncompute on AMD GPUs. Kept in its own package so that the ROCm runtime is\nonly installed where it is wanted.")

# --- binaries ------------------------------------------------------------------------------------------
# The shipped executables are linked with RPATH $ORIGIN/../lib/declai (DT_RPATH, which also covers what
# Qt dlopens, such as its plugins and libssl): the relocatable tarball bundles its shared libraries
# there. The Debian packages use the system's libraries, so their install step removes the RPATH again
# (Debian policy; lintian's custom-library-search-path). DECLAI_PACKAGE_RELOCATABLE is set by
# installers/CPackProjectConfig.cmake for the tarball only.
foreach(_component IN LISTS _components)
  set(_binary ${_bin_${_component}})
  if(_component STREQUAL "hip")
    target_link_options(${_binary} PRIVATE -Wl,-z,relro -Wl,-z,now)
    install(TARGETS ${_binary} LIBRARY DESTINATION ${DECLAI_PRIVATE_LIBDIR} COMPONENT hip)
    continue()
  endif()
  set_target_properties(${_binary} PROPERTIES BUILD_WITH_INSTALL_RPATH ON
                                              INSTALL_RPATH "\$ORIGIN/../${DECLAI_PRIVATE_LIBDIR}")
  # Full RELRO and immediate binding (what Debian's hardening flags ask of a package's binaries).
  target_link_options(${_binary} PRIVATE -Wl,--disable-new-dtags -Wl,-z,relro -Wl,-z,now)
  install(TARGETS ${_binary} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ${_component})
  install(CODE "
    if(NOT \"\$ENV{DECLAI_PACKAGE_RELOCATABLE}\")
      file(RPATH_REMOVE FILE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/${_binary}\")
    endif()" COMPONENT ${_component})
endforeach()

# --- per-package documentation: copyright, changelogs, manual pages (what lintian asks of every package) -
find_program(DECLAI_GZIP gzip REQUIRED)
set(_doc_outputs "")
# gzip -9n: maximum compression and no timestamp, so packages are reproducible.
function(_declai_gzip input output)
  add_custom_command(OUTPUT ${output}
    COMMAND ${DECLAI_GZIP} -9nc ${input} > ${output}
    DEPENDS ${input} VERBATIM)
  set(_doc_outputs ${_doc_outputs} ${output} PARENT_SCOPE)
endfunction()
_declai_gzip(${PROJECT_SOURCE_DIR}/CHANGELOG.md ${_pkg_out}/changelog.gz)
foreach(_component IN LISTS _components)
  set(_package ${_pkg_${_component}})
  set(_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_package})
  set(DECLAI_DEB_PACKAGE ${_package})
  set(DECLAI_DEB_VERSION ${PROJECT_VERSION}-${DECLAI_PACKAGE_RELEASE})
  configure_file(${_pkg_src}/debian/changelog.Debian.in ${_pkg_out}/${_package}/changelog.Debian @ONLY)
  _declai_gzip(${_pkg_out}/${_package}/changelog.Debian ${_pkg_out}/${_package}/changelog.Debian.gz)
  install(FILES ${_pkg_out}/${_package}/changelog.Debian.gz ${_pkg_out}/changelog.gz
          DESTINATION ${_docdir} COMPONENT ${_component})
  # The tray app links Qt Charts (GPL-3), so its binary is GPL-3 as a whole (NOTICE).
  if(_component STREQUAL "app")
    install(FILES ${_pkg_src}/debian/copyright-app DESTINATION ${_docdir} RENAME copyright COMPONENT app)
  else()
    install(FILES ${_pkg_src}/debian/copyright DESTINATION ${_docdir} COMPONENT ${_component})
  endif()
  if(EXISTS ${_pkg_src}/debian/${_package}.lintian-overrides)
    install(FILES ${_pkg_src}/debian/${_package}.lintian-overrides DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides
            RENAME ${_package} COMPONENT ${_component})
  endif()
  # The configuration file's three deployment modes (docs/configuration.md), one file for gateway and node.
  if(_component STREQUAL "server" OR _component STREQUAL "node")
    file(GLOB _config_examples ${PROJECT_SOURCE_DIR}/docs/examples/*.ini)
    install(FILES ${_config_examples} DESTINATION ${_docdir}/examples COMPONENT ${_component})
  endif()
  if(NOT _component STREQUAL "hip")
    _declai_gzip(${_pkg_src}/man/${_bin_${_component}}.1 ${_pkg_out}/man/${_bin_${_component}}.1.gz)
    install(FILES ${_pkg_out}/man/${_bin_${_component}}.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
            COMPONENT ${_component})
  endif()
endforeach()
add_custom_target(declai-package-docs ALL DEPENDS ${_doc_outputs})

# --- services: systemd units and system users (installers/systemd/) -----------------------------------
# Relative destinations: /usr/lib/systemd/system and /usr/lib/sysusers.d in the packages (Debian 12 is
# merged-/usr, systemd reads both); the tarball carries them as examples.
foreach(_component server node)
  if(NOT _component IN_LIST _components)
    continue()
  endif()
  set(_package ${_pkg_${_component}})
  install(FILES ${_pkg_src}/systemd/${_package}.service DESTINATION lib/systemd/system COMPONENT ${_component})
  install(FILES ${_pkg_src}/systemd/${_package}.sysusers DESTINATION lib/sysusers.d RENAME ${_package}.conf
          COMPONENT ${_component})
endforeach()

# --- the tray app's desktop integration (resources/, when the desktop app has landed) ------------------
if("app" IN_LIST _components)
  set(_res ${PROJECT_SOURCE_DIR}/resources)
  if(EXISTS ${_res}/org.declai.Declai.desktop)
    install(FILES ${_res}/org.declai.Declai.desktop DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/applications
            COMPONENT app)
  endif()
  if(EXISTS ${_res}/org.declai.Declai.metainfo.xml)
    install(FILES ${_res}/org.declai.Declai.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/metainfo
            COMPONENT app)
  endif()
  if(EXISTS ${_res}/org.declai.Declai.svg)
    install(FILES ${_res}/org.declai.Declai.svg DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/icons/hicolor/scalable/apps
            COMPONENT app)
  endif()
endif()

# --- relocatable tarball: bundle the shared libraries and Qt plugins the headless binaries need ---------
# Only when DECLAI_PACKAGE_RELOCATABLE is set (the TGZ generator): copies every shared library the
# binaries and the Qt plugins they load need, except the C library itself (glibc must come from the
# host: it is not relocatable), into lib/declai/, and writes bin/qt.conf so Qt finds its plugins there.
# The binaries are scanned in the build tree: each component is staged in its own folder, so the bundle
# step does not see the installed copies (the archive merges the folders).
set(_bundle_binaries "")
foreach(_component server node cli)
  if(_component IN_LIST _components)
    list(APPEND _bundle_binaries "$<TARGET_FILE:${_bin_${_component}}>")
  endif()
endforeach()
get_target_property(_qt_core_location Qt6::Core LOCATION)
get_filename_component(_qt_libdir ${_qt_core_location} DIRECTORY)
set(DECLAI_QT_PLUGIN_DIR "${_qt_libdir}/qt6/plugins" CACHE PATH "Qt plugins bundled into the tarball")
set(_bundle_plugins tls/libqopensslbackend.so sqldrivers/libqsqlite.so sqldrivers/libqsqlpsql.so)
install(CODE "
  if(\"\$ENV{DECLAI_PACKAGE_RELOCATABLE}\")
    set(_root \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
    set(_libdir \"\${_root}/${DECLAI_PRIVATE_LIBDIR}\")
    set(_executables \"${_bundle_binaries}\")
    set(_plugins \"\")
    foreach(_plugin ${_bundle_plugins})
      if(EXISTS \"${DECLAI_QT_PLUGIN_DIR}/\${_plugin}\")
        get_filename_component(_plugin_dir \"\${_plugin}\" DIRECTORY)
        file(INSTALL \"${DECLAI_QT_PLUGIN_DIR}/\${_plugin}\" DESTINATION \"\${_libdir}/plugins/\${_plugin_dir}\")
        list(APPEND _plugins \"${DECLAI_QT_PLUGIN_DIR}/\${_plugin}\")
      endif()
    endforeach()
    # libssl is dlopened by the TLS plugin, so it is named here rather than found as a link dependency.
    find_library(_libssl NAMES libssl.so.3 PATHS \"${_qt_libdir}\" NO_DEFAULT_PATH)
    file(GET_RUNTIME_DEPENDENCIES EXECUTABLES \${_executables} MODULES \${_plugins} \${_libssl}
      RESOLVED_DEPENDENCIES_VAR _deps UNRESOLVED_DEPENDENCIES_VAR _missing
      PRE_EXCLUDE_REGEXES \"^ld-linux\" \"^libc\\\\.so\" \"^libm\\\\.so\" \"^libdl\\\\.so\" \"^librt\\\\.so\"
                          \"^libpthread\\\\.so\" \"^libresolv\\\\.so\" \"^libutil\\\\.so\" \"^linux-vdso\")
    if(_missing)
      message(FATAL_ERROR \"tarball: unresolved shared libraries: \${_missing}\")
    endif()
    foreach(_dep \${_deps} \${_libssl})
      file(INSTALL \"\${_dep}\" DESTINATION \"\${_libdir}\" FOLLOW_SYMLINK_CHAIN)
    endforeach()
    # The bundled libraries find each other through the executables' DT_RPATH; plugins through qt.conf.
    file(WRITE \"\${_root}/${CMAKE_INSTALL_BINDIR}/qt.conf\"
         \"[Paths]\\nPrefix=..\\nPlugins=${DECLAI_PRIVATE_LIBDIR}/plugins\\n\")
  endif()" COMPONENT bundle)

# --- CPack ---------------------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME declai)
set(CPACK_PACKAGE_VENDOR "The DeCLAI contributors")
set(CPACK_PACKAGE_CONTACT "${DECLAI_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_GENERATOR DEB TGZ)
set(CPACK_STRIP_FILES ON)
set(CPACK_THREADS 0)
set(CPACK_PROJECT_CONFIG_FILE ${_pkg_src}/CPackProjectConfig.cmake)
# Read by installers/CPackProjectConfig.cmake (only CPACK_* variables reach CPackConfig.cmake).
set(CPACK_DECLAI_COMPONENTS ${_components})

# Debian: one package per component, dependencies from the binaries (dpkg-shlibdeps) plus what the
# binaries load at run time that shlibdeps cannot see (Qt's SQL drivers are plugins).
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DECLAI_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
foreach(_component IN LISTS _components)
  string(TOUPPER ${_component} _C)
  set(CPACK_DEBIAN_${_C}_PACKAGE_NAME ${_pkg_${_component}})
  set(CPACK_DEBIAN_${_C}_FILE_NAME DEB-DEFAULT)
  set(CPACK_COMPONENT_${_C}_DISPLAY_NAME ${_pkg_${_component}})
  set(CPACK_COMPONENT_${_C}_DESCRIPTION "${_summary_${_component}}\n${_description_${_component}}")
endforeach()
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "libqt6sql6-sqlite, passwd")
set(CPACK_DEBIAN_SERVER_PACKAGE_SUGGESTS "libqt6sql6-psql, declai-cli")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA ${_pkg_src}/debian/declai-server/postinst
                                              ${_pkg_src}/debian/declai-server/postrm)
set(CPACK_DEBIAN_NODE_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_NODE_PACKAGE_SUGGESTS "declai-backend-hip")
# The Vulkan loader is opened at run time (gpu/CMakeLists.txt), so dpkg-shlibdeps cannot see it.
get_directory_property(_have_vulkan DIRECTORY ${PROJECT_SOURCE_DIR}/gpu DEFINITION DECLAI_HAVE_VULKAN)
if(_have_vulkan)
  set(CPACK_DEBIAN_NODE_PACKAGE_RECOMMENDS "libvulkan1")
  set(CPACK_DEBIAN_CLI_PACKAGE_RECOMMENDS "libvulkan1")
  set(CPACK_DEBIAN_APP_PACKAGE_RECOMMENDS "libvulkan1")
endif()
set(CPACK_DEBIAN_NODE_PACKAGE_CONTROL_EXTRA ${_pkg_src}/debian/declai-node/postinst
                                            ${_pkg_src}/debian/declai-node/postrm)
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "declai-backend-hip")
set(CPACK_DEBIAN_APP_PACKAGE_SECTION x11)
# The xcb platform plugin comes with libqt6gui6 and the SVG plugins with libqt6svg6 (both from shlibdeps);
# a Wayland session wants Qt's Wayland platform plugin.
list(APPEND CPACK_DEBIAN_APP_PACKAGE_RECOMMENDS "qt6-wayland")
string(REPLACE ";" ", " CPACK_DEBIAN_APP_PACKAGE_RECOMMENDS "${CPACK_DEBIAN_APP_PACKAGE_RECOMMENDS}")
set(CPACK_DEBIAN_APP_PACKAGE_SUGGESTS "declai-backend-hip")
set(CPACK_DEBIAN_HIP_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_HIP_PACKAGE_ENHANCES "declai-node, declai-cli, declai")

# Tarball: everything headless in one relocatable folder (declai-VERSION-Linux-ARCH/bin, lib/declai, share);
# installers/CPackProjectConfig.cmake picks the components.
set(CPACK_PACKAGE_FILE_NAME declai-${PROJECT_VERSION}-Linux-${CMAKE_SYSTEM_PROCESSOR})
set(CPACK_SOURCE_GENERATOR "")

include(CPack)
