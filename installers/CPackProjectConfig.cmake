# Read by cpack once per generator (CPACK_PROJECT_CONFIG_FILE in cmake/DeclaiPackaging.cmake).
# The install scripts run inside cpack, so the environment set here reaches them.
if(CPACK_GENERATOR STREQUAL "TGZ")
  # The relocatable tarball: the headless programs, the HIP module when built, their bundled shared
  # libraries and Qt plugins (the "bundle" install step), RPATH $ORIGIN/../lib/declai kept. The tray app
  # stays out: a desktop needs the distribution's own Qt platform integration.
  set(ENV{DECLAI_PACKAGE_RELOCATABLE} 1)
  set(CPACK_COMPONENTS_ALL ${CPACK_DECLAI_COMPONENTS} bundle)
  list(REMOVE_ITEM CPACK_COMPONENTS_ALL app)
  # One archive of the components listed above, in that order (bundle last: it scans what the others
  # installed); a monolithic install would ignore the list and take the tray app too.
  set(CPACK_ARCHIVE_COMPONENT_INSTALL ON)
  set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
  set(CPACK_COMPONENT_INCLUDE_TOPLEVEL_DIRECTORY ON)
else()
  # The Debian packages: the system's libraries, no RPATH, one package per component.
  unset(ENV{DECLAI_PACKAGE_RELOCATABLE})
  set(CPACK_COMPONENTS_ALL ${CPACK_DECLAI_COMPONENTS})
endif()
# Each package's own summary is the first line of its component description; CPackDeb would put the
# project summary in front of it unless the summary is CPack's default.
if(CPACK_GENERATOR STREQUAL "DEB")
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CPACK_DEFAULT_PACKAGE_DESCRIPTION_SUMMARY}")
endif()
