/* ocla layers API (filled in by its issue). */
#ifndef OCLA_LAYERS_H
#define OCLA_LAYERS_H
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
