/* params.c - the parameter layout of nn/params.h. */
#include "nn/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dm_layout_add(dm_layout *L, const char *name, int rank, int64_t d0, int64_t d1, int64_t d2,
                     int64_t d3)
{
	int64_t d[4] = {d0, d1, d2, d3};
	return dm_layout_add_dims(L, name, rank, d);
}

size_t dm_layout_add_dims(dm_layout *L, const char *name, int rank, const int64_t *d)
{
	if (L->n == L->cap) {
		int cap = L->cap ? 2 * L->cap : 64;
		dm_param *p = realloc(L->p, (size_t)cap * sizeof *p);
		if (!p) {
			L->oom = 1;
			return 0;
		}
		L->p = p;
		L->cap = cap;
	}
	dm_param *q = &L->p[L->n++];
	memset(q, 0, sizeof *q);
	snprintf(q->name, sizeof q->name, "%s", name);
	q->rank = rank;
	q->n = 1;
	for (int i = 0; i < rank; i++) {
		q->dims[i] = d[i];
		q->n *= (size_t)d[i];
	}
	q->off = L->total;
	L->total += q->n;
	return q->off;
}

void dm_layout_free(dm_layout *L)
{
	free(L->p);
	memset(L, 0, sizeof *L);
}

int dm_layout_find(const dm_layout *L, const char *name)
{
	for (int i = 0; i < L->n; i++)
		if (!strcmp(L->p[i].name, name))
			return i;
	return -1;
}
