#include "order/memo.h"

#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/xmalloc.h"

void memo_clear(struct memo *m)
{
	size_t i;

	for (i = 0; m->slots != NULL && i <= m->mask; i++)
		free(m->slots[i].blob);
	free(m->slots);
	m->slots = NULL;
	m->mask = 0;
	m->used = 0;
}

void memo_put(struct memo *m, uint64_t tag, const char *blob, size_t len,
              uint64_t value)
{
	struct memo_slot *s;

	if (len > MEMO_MAX_BLOB)
		return;
	if (m->used >= MEMO_MAX)
		memo_clear(m);
	if (m->slots == NULL || (m->used + 1) * 2 > m->mask + 1) {
		struct memo old = *m;
		size_t i, n = old.slots == NULL ? 1024 : 2 * (old.mask + 1);

		m->slots = xcalloc(n, sizeof(*m->slots));
		m->mask = n - 1;
		for (i = 0; old.slots != NULL && i <= old.mask; i++)
			if (old.slots[i].tag != 0)
				*memo_slot(m, old.slots[i].tag,
				           old.slots[i].blob,
				           old.slots[i].len) = old.slots[i];
		free(old.slots);
	}
	s = memo_slot(m, tag, blob, len);
	if (s->tag == 0) {
		s->tag = tag;
		s->blob = xmalloc(len);
		memcpy(s->blob, blob, len);
		s->len = len;
		m->used++;
	}
	s->value = value;
}
