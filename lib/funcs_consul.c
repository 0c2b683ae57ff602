/* Consul data functions: nodes, services, service, ... (being written). */
#include "funcs.h"

const struct func_def funcs_consul[] = {
        {NULL, NULL, 0, 0},
};
