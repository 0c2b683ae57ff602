/* The struct that holds member ptr (libuv handles embedded in ours). */
#ifndef CH_CONTAINER_OF_H
#define CH_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
