/* SPDX-License-Identifier: MIT */
/* The application's side of the embedding contract (.ci/checks/30-install.sh builds it three ways):
 *  - the library it runs with is the version its headers say (OCLA_VERSION_* against ocla_version());
 *  - <ocla/ocla.h> leaves the application's OpenCL API alone: with CL_TARGET_OPENCL_VERSION 300 (or
 *    none) the OpenCL 2.x calls are declared. */
#include <stdio.h>
#include <string.h>

#include <ocla/ocla.h>

#ifndef CL_VERSION_2_0
#error "ocla.h hid the OpenCL 2.0 API from the application"
#endif

int main(void) {
    /* An OpenCL 2.0 function, declared for the application (not called: no device needed). */
    cl_command_queue (*create_queue)(cl_context, cl_device_id, const cl_queue_properties *, cl_int *) =
        clCreateCommandQueueWithProperties;
    printf("check_version: headers %s (%d), library %s (%d), OpenCL API %d, clCreateCommandQueueWithProperties %s\n",
           OCLA_VERSION_STRING, OCLA_VERSION, ocla_version(), ocla_version_number(), CL_TARGET_OPENCL_VERSION,
           create_queue ? "declared" : "missing");
    if (strcmp(ocla_version(), OCLA_VERSION_STRING) != 0 || ocla_version_number() != OCLA_VERSION) {
        fprintf(stderr, "check_version: the library is not the version of its headers\n");
        return 1;
    }
    if (OCLA_VERSION != OCLA_MAKE_VERSION(OCLA_VERSION_MAJOR, OCLA_VERSION_MINOR, OCLA_VERSION_PATCH)) return 1;
    return 0;
}
