/* kv.h - key=value lists: stream metadata and frame tags (dm-stream(5)).
 * A dm_kv owns its strings. */
#ifndef DM_KV_H
#define DM_KV_H

#include <stddef.h>

#include "core/error.h" /* the status codes dm_kv_set returns */

/* Keys are 1..64 bytes of [A-Za-z0-9_.-]; values any bytes but '\n' and
 * NUL.  Order of insertion is kept; setting an existing key replaces its
 * value in place. */
typedef struct dm_kv {
	char **key;
	char **val;
	int n, cap;
} dm_kv;

void dm_kv_init(dm_kv *kv);
void dm_kv_free(dm_kv *kv);
int dm_kv_copy(dm_kv *dst, const dm_kv *src); /* dst must be initialised */
/* 0 ok; DM_ERR_ARG for an invalid key or value; DM_ERR_NOMEM. */
int dm_kv_set(dm_kv *kv, const char *key, const char *val);
int dm_kv_setf(dm_kv *kv, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dm_kv_del(dm_kv *kv, const char *key);
/* The value, or NULL when absent. */
const char *dm_kv_get(const dm_kv *kv, const char *key);
/* The value parsed as a number, or def when absent or not a number. */
double dm_kv_get_double(const dm_kv *kv, const char *key, double def);
int dm_kv_valid_key(const char *key);

/* Keys per list (metadata or tags): dm_kv_set searches linearly, so an
 * unbounded count of tiny keys in 1 MiB would cost minutes to parse. */
#define DM_KV_MAX_KEYS 4096

/* Serialise as "key=value\n"...; returns a malloc'd buffer of *len bytes
 * (plus a NUL), or NULL when out of memory.  kv may be NULL (empty). */
char *dm_kv_serialise(const dm_kv *kv, size_t *len);
/* Parse len bytes of "key=value\n" lines into kv (appending); returns NULL
 * or a static message describing the fault. */
const char *dm_kv_parse(dm_kv *kv, const char *buf, size_t len);

#endif
