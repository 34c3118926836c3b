#pragma once
// Umbrella header: the whole public API.

#include "scopeflow/allocator.h"
#include "scopeflow/device.h"
#include "scopeflow/dtype.h"
#include "scopeflow/error.h"
#include "scopeflow/graph_def.h"
#include "scopeflow/graph.h"
#include "scopeflow/initializers.h"
#include "scopeflow/layers.h"
#include "scopeflow/memory_report.h"
#include "scopeflow/ops.h"
#include "scopeflow/scope.h"
#include "scopeflow/session.h"
#include "scopeflow/shape.h"
#include "scopeflow/summary.h"
#include "scopeflow/tensor.h"
