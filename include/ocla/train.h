/* ocla train API (filled in by its issue). */
#ifndef OCLA_TRAIN_H
#define OCLA_TRAIN_H
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
