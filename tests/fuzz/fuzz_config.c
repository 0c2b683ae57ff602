/*
 * libFuzzer target for the config reader: HCL/JSON parsing, the position
 * table and the one validation step. Every input must either give a
 * config or an error with a message, never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "base/err.h"
#include "config/hcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct config *c = NULL;
	struct hcl_pos *pos = NULL;
	json_t *tree = NULL;
	struct err e;
	char buf[1024];

	if (size > 64 * 1024)
		return 0;
	err_clear(&e);
	if (hcl_parse("fuzz.hcl", text, size, &tree, &pos, &e) == 0) {
		const char *key;
		json_t *val;
		struct hcl_loc k, v;

		/* Every top-level key has a position. */
		json_object_foreach(tree, key, val)
		{
			if (!hcl_pos_key(pos, tree, key, &k, &v) || k.line < 1)
				abort();
		}
		json_decref(tree);
		hcl_pos_free(pos);
	} else if (e.msg[0] == '\0' || tree != NULL || pos != NULL) {
		abort();
	}

	err_clear(&e);
	if (config_parse_text("fuzz.hcl", text, size, &c, &e) == 0) {
		if (c->ntemplates == 0 || c->consul.address == NULL)
			abort();
		config_free(c);
	} else {
		if (c != NULL || e.msg[0] == '\0')
			abort();
		err_format(&e, buf, sizeof(buf));
	}
	return 0;
}
