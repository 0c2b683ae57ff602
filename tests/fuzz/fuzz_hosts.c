/*
 * libFuzzer target for the hosts check and the managed-block splice.
 *
 * Properties checked on every input (abort = a finding):
 *  - every line hosts_check keeps is blank, a comment, or "ADDRESS NAME..."
 *    that hosts_addr_ok/hosts_name_ok accept, re-checked here field by
 *    field, so no input can get a line outside the grammar through;
 *  - checking the checked output again keeps it byte for byte;
 *  - a successful splice keeps every byte of the old file outside the
 *    block: the part before the block and the part after it.
 * The input is "old file" NUL "block": without a NUL, it is both.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "hosts/hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The grammar, checked independently of hosts_check's own parser. */
static void check_line(const char *s, size_t len)
{
	size_t i = 0, fields = 0;

	if (len > 0 && s[len - 1] == '\n')
		len--;
	while (i < len && is_blank(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return;
	while (i < len) {
		size_t start = i;
		while (i < len && !is_blank(s[i]))
			i++;
		if (s[start] == '#')
			return; /* a trailing comment ends the entry */
		if (fields == 0 ? !hosts_addr_ok(s + start, i - start, false)
				: !hosts_name_ok(s + start, i - start))
			abort();
		fields++;
		while (i < len && is_blank(s[i]))
			i++;
	}
	if (fields < 2)
		abort();
}

static void fuzz_check(const char *text, size_t len)
{
	struct buf out, again;
	json_t *problems = json_array(), *names = json_object();
	struct hosts_stats st;
	size_t start = 0;

	buf_init(&out, 1 << 20);
	buf_init(&again, 1 << 20);
	if (hosts_check(text, len, false, &out, problems, names, &st) == 0) {
		for (size_t i = 0; i < out.len; i++) {
			if (out.data[i] == '\n' || i + 1 == out.len) {
				check_line(out.data + start, i + 1 - start);
				start = i + 1;
			}
		}
		if (hosts_check(buf_str(&out), out.len, false, &again, NULL,
				NULL, NULL) != 0 ||
		    again.len != out.len ||
		    memcmp(buf_str(&again), buf_str(&out), out.len) != 0)
			abort();
	}
	buf_free(&out);
	buf_free(&again);
	json_decref(problems);
	json_decref(names);
}

static void fuzz_splice(const char *old, size_t oldlen, const char *block,
			size_t blen)
{
	struct buf out;
	size_t start, end;
	const char *why = NULL;

	buf_init(&out, 1 << 21);
	if (hosts_splice(old, oldlen, block, blen, &out, &why) == 0 &&
	    hosts_block_find(old, oldlen, &start, &end, &why) == 0) {
		/* Bytes before the block and after it survive exactly. */
		if (out.len < start + (oldlen - end) ||
		    memcmp(out.data, old, start) != 0 ||
		    memcmp(out.data + out.len - (oldlen - end), old + end,
			   oldlen - end) != 0)
			abort();
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);

	if (size > 256 * 1024)
		return 0;
	fuzz_check(text, size);
	if (nul != NULL)
		fuzz_splice(text, (size_t)(nul - text), nul + 1,
			    size - (size_t)(nul - text) - 1);
	else
		fuzz_splice(text, size, text, size);
	return 0;
}
