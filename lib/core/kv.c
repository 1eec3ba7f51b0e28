/* kv.c - key=value lists (core/kv.h). */
#include "core/kv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dm_kv_init(dm_kv *kv) { memset(kv, 0, sizeof *kv); }

void dm_kv_free(dm_kv *kv)
{
	for (int i = 0; i < kv->n; i++) {
		free(kv->key[i]);
		free(kv->val[i]);
	}
	free(kv->key);
	free(kv->val);
	dm_kv_init(kv);
}

int dm_kv_valid_key(const char *key)
{
	size_t n = strlen(key);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int kv_find(const dm_kv *kv, const char *key)
{
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return i;
	return -1;
}

int dm_kv_set(dm_kv *kv, const char *key, const char *val)
{
	if (!dm_kv_valid_key(key) || strchr(val, '\n'))
		return DM_ERR_ARG;
	char *v = strdup(val);
	if (!v)
		return DM_ERR_NOMEM;
	int i = kv_find(kv, key);
	if (i >= 0) {
		free(kv->val[i]);
		kv->val[i] = v;
		return 0;
	}
	if (kv->n == kv->cap) {
		int cap = kv->cap ? 2 * kv->cap : 8;
		char **k2 = realloc(kv->key, (size_t)cap * sizeof *k2);
		if (!k2) { free(v); return DM_ERR_NOMEM; }
		kv->key = k2;
		char **v2 = realloc(kv->val, (size_t)cap * sizeof *v2);
		if (!v2) { free(v); return DM_ERR_NOMEM; }
		kv->val = v2;
		kv->cap = cap;
	}
	char *k = strdup(key);
	if (!k) { free(v); return DM_ERR_NOMEM; }
	kv->key[kv->n] = k;
	kv->val[kv->n] = v;
	kv->n++;
	return 0;
}

int dm_kv_setf(dm_kv *kv, const char *key, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return dm_kv_set(kv, key, buf);
}

int dm_kv_del(dm_kv *kv, const char *key)
{
	int i = kv_find(kv, key);
	if (i < 0)
		return 0;
	free(kv->key[i]);
	free(kv->val[i]);
	memmove(kv->key + i, kv->key + i + 1, (size_t)(kv->n - i - 1) * sizeof(char *));
	memmove(kv->val + i, kv->val + i + 1, (size_t)(kv->n - i - 1) * sizeof(char *));
	kv->n--;
	return 1;
}

const char *dm_kv_get(const dm_kv *kv, const char *key)
{
	int i = kv_find(kv, key);
	return i < 0 ? NULL : kv->val[i];
}

double dm_kv_get_double(const dm_kv *kv, const char *key, double def)
{
	const char *v = dm_kv_get(kv, key);
	if (!v || !*v)
		return def;
	char *end;
	double d = strtod(v, &end);
	return *end ? def : d;
}

int dm_kv_copy(dm_kv *dst, const dm_kv *src)
{
	for (int i = 0; i < src->n; i++) {
		int rc = dm_kv_set(dst, src->key[i], src->val[i]);
		if (rc)
			return rc;
	}
	return 0;
}

char *dm_kv_serialise(const dm_kv *kv, size_t *len)
{
	size_t n = 0;
	for (int i = 0; kv && i < kv->n; i++)
		n += strlen(kv->key[i]) + strlen(kv->val[i]) + 2;
	char *buf = malloc(n + 1), *p = buf;
	if (!buf)
		return NULL;
	for (int i = 0; kv && i < kv->n; i++)
		p += sprintf(p, "%s=%s\n", kv->key[i], kv->val[i]);
	*len = n;
	return buf;
}

const char *dm_kv_parse(dm_kv *kv, const char *buf, size_t len)
{
	size_t i = 0;
	char key[65];
	while (i < len) {
		if (kv->n >= DM_KV_MAX_KEYS)
			return "more than 4096 keys";
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			return "a key=value line lacks its final newline";
		size_t end = (size_t)(nl - buf);
		const char *eq = memchr(buf + i, '=', end - i);
		if (!eq)
			return "a key=value line has no '='";
		size_t klen = (size_t)(eq - (buf + i));
		if (klen < 1 || klen > 64)
			return "a key is empty or longer than 64 bytes";
		memcpy(key, buf + i, klen);
		key[klen] = '\0';
		if (!dm_kv_valid_key(key))
			return "a key has a character outside [A-Za-z0-9_.-]";
		if (memchr(eq + 1, '\0', end - (size_t)(eq + 1 - buf)))
			return "a value contains a NUL byte";
		size_t vlen = end - (size_t)(eq + 1 - buf);
		char *val = malloc(vlen + 1);
		if (!val)
			return "out of memory";
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		int rc = dm_kv_set(kv, key, val);
		free(val);
		if (rc)
			return "out of memory";
		i = end + 1;
	}
	return NULL;
}
