#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++ (-fsanitize=fuzzer,address,undefined) and runs each
# for a bounded time on a copy of its corpus in the repository. Exits 0 after a clean run, 1 on a
# finding (the crashing input is kept in the build directory), 77 when clang++ with libFuzzer is
# not available (the caller prints why it skips).
#
#   bash scripts/fuzz.sh
#
# Environment:
#   SCOPEFLOW_FUZZ_BUILD_DIR  where the targets and corpus copies go (default: build-fuzz)
#   SCOPEFLOW_FUZZ_SECONDS    seconds per target (default: 10)
#   CLANGXX                   the compiler (default: clang++)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

cxx="${CLANGXX:-clang++}"
build_dir="${SCOPEFLOW_FUZZ_BUILD_DIR:-build-fuzz}"
seconds="${SCOPEFLOW_FUZZ_SECONDS:-10}"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -Iinclude -Isrc -I.)
absl_libs=(-labsl_statusor -labsl_status -labsl_strings -labsl_strings_internal -labsl_str_format_internal
           -labsl_raw_hash_set -labsl_hash -labsl_city -labsl_low_level_hash -labsl_int128
           -labsl_throw_delegate -labsl_raw_logging_internal -labsl_base -labsl_cord
           -labsl_cord_internal -labsl_cordz_info -labsl_cordz_functions -labsl_cordz_handle
           -labsl_hashtablez_sampler -labsl_exponential_biased -labsl_synchronization
           -labsl_time -labsl_time_zone -labsl_spinlock_wait -labsl_strerror)

if ! command -v "${cxx}" >/dev/null 2>&1; then
  echo "fuzz.sh: ${cxx} not found" >&2
  exit 77
fi
mkdir -p "${build_dir}"
probe="${build_dir}/probe.cc"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"${probe}"
if ! "${cxx}" -fsanitize=fuzzer "${probe}" -o "${build_dir}/probe" 2>/dev/null; then
  echo "fuzz.sh: ${cxx} cannot link -fsanitize=fuzzer (no libFuzzer runtime)" >&2
  exit 77
fi

# The checkpoint readers parse BundleEntryProto: generate the protos they use.
proto_out="${build_dir}/generated"
mkdir -p "${proto_out}"
checkpoint_protos=(proto/tensor_bundle.proto proto/tensor_shape.proto proto/types.proto proto/versions.proto)
protoc -I. --cpp_out="${proto_out}" "${checkpoint_protos[@]}"
flags+=(-isystem "${proto_out}")
checkpoint_sources=(src/checkpoint/file_io.cc src/checkpoint/reader.cc src/checkpoint/table.cc
  src/checkpoint/tensor_bundle.cc src/checkpoint/safetensors.cc src/export/crc32c.cc src/core/tensor.cc
  src/core/allocator.cc src/core/caching_allocator.cc src/core/shape.cc src/core/dtype.cc src/core/device.cc
  "${proto_out}"/proto/{tensor_bundle,tensor_shape,types,versions}.pb.cc)
# Compiled once into one archive that both checkpoint targets link.
checkpoint_archive="${build_dir}/checkpoint_readers.a"
mkdir -p "${build_dir}/objects"
checkpoint_objects=()
for source in "${checkpoint_sources[@]}"; do
  object="${build_dir}/objects/$(basename "${source}" .cc).o"
  "${cxx}" "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -c "${source}" -o "${object}"
  checkpoint_objects+=("${object}")
done
rm -f "${checkpoint_archive}"
ar rcs "${checkpoint_archive}" "${checkpoint_objects[@]}"

# target name, sources: the parser's own translation units only, so the build takes seconds.
targets=("csv:tests/fuzz/csv_fuzz.cc src/data/csv_dataset.cc"
         "tensor_bundle:tests/fuzz/tensor_bundle_fuzz.cc ${checkpoint_archive}"
         "safetensors:tests/fuzz/safetensors_fuzz.cc ${checkpoint_archive}")
status=0
for entry in "${targets[@]}"; do
  name="${entry%%:*}"
  read -r -a sources <<<"${entry#*:}"
  binary="${build_dir}/${name}_fuzz"
  echo "=== fuzz: ${name} (${seconds} s) ==="
  "${cxx}" "${flags[@]}" -DSCOPEFLOW_FUZZ_STANDALONE=1 "${sources[@]}" "${absl_libs[@]}" -lprotobuf -o "${binary}"
  corpus="${build_dir}/corpus/${name}"
  mkdir -p "${corpus}"
  cp -n "tests/fuzz/corpus/${name}/"* "${corpus}/"
  # A fresh directory per run for findings; -rss_limit_mb bounds what one input may cost.
  if ! (cd "${build_dir}" && "./${name}_fuzz" -max_total_time="${seconds}" -rss_limit_mb=2048 \
          -timeout=10 -print_final_stats=1 "corpus/${name}"); then
    echo "fuzz.sh: ${name}_fuzz found a failure; the input is in ${build_dir}" >&2
    status=1
  fi
done
exit "${status}"
