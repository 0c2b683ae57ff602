#include "daemon/histogram.h"

#include <stddef.h>

const double histogram_bounds[HISTOGRAM_BUCKETS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

void histogram_observe(struct histogram *h, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++)
		if (seconds <= histogram_bounds[i]) {
			h->counts[i]++;
			break;
		}
	h->count++;
	h->sum += seconds;
}
