/* Placeholder until the runner lands: arguments -> config -> run. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "consul-hosts: not yet\n");
	return 1;
}
