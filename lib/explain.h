/*
 * -explain SERVICE: read Consul once and print, for every node of the
 * catalog, which instance of SERVICE it would put first under the
 * configured ordering mode, then each instance's share of first choices.
 * Gives up after 30 s if Consul does not answer.
 */
#ifndef CH_EXPLAIN_H
#define CH_EXPLAIN_H

#include <stdio.h>

#include <uv.h>

#include "config.h"

/* Runs loop until done; returns the exit code (0, 1 on failure). */
int explain_run(uv_loop_t *loop, const struct config *cfg, FILE *out);

#endif
