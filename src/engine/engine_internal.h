/* engine_internal.h: what celer's own modules (quantization, server) may reach behind the
 * public API: the bound model of a loaded celer_model. Not for programs outside celer. */
#ifndef CELER_ENGINE_ENGINE_INTERNAL_H
#define CELER_ENGINE_ENGINE_INTERNAL_H

#include "celer.h"
#include "model/model.h"

/* The model celer_model_load bound (owned by m). */
model *celer_model_bound(const celer_model *m);

#endif
