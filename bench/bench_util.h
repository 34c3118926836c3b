#pragma once
// Shared helpers of the bench programs, one small header each under util/: tables, JSON,
// memory and time measurement, SVG charts, BLAS thread control, files and subprocesses. Flags
// are ABSL_FLAGs, parsed by cli/command_line.h.

#include "util/blas.h"
#include "util/command.h"
#include "util/files.h"
#include "util/format.h"
#include "util/json.h"
#include "util/memory.h"
#include "util/program.h"
#include "util/svg_chart.h"
#include "util/table.h"
#include "util/timing.h"
