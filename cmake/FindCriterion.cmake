# SPDX-License-Identifier: MIT
# FindCriterion: the Criterion unit-test library (Debian: libcriterion-dev).
# Sets Criterion_FOUND and the imported target Criterion::Criterion.
# -DCMAKE_DISABLE_FIND_PACKAGE_Criterion=ON configures as if it were absent (.ci/checks/30-install.sh).
find_path(CRITERION_INCLUDE_DIR NAMES criterion/criterion.h)
find_library(CRITERION_LIBRARY NAMES criterion)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Criterion REQUIRED_VARS CRITERION_LIBRARY CRITERION_INCLUDE_DIR)
if(Criterion_FOUND AND NOT TARGET Criterion::Criterion)
  add_library(Criterion::Criterion UNKNOWN IMPORTED)
  set_target_properties(Criterion::Criterion PROPERTIES IMPORTED_LOCATION "${CRITERION_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${CRITERION_INCLUDE_DIR}")
endif()
mark_as_advanced(CRITERION_INCLUDE_DIR CRITERION_LIBRARY)
