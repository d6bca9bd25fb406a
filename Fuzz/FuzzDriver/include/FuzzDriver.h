#ifndef TRIBUTARY_FUZZ_DRIVER_H
#define TRIBUTARY_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer over `test` with the process's arguments (corpus folders, -max_total_time=…)
/// and returns its exit status. A fuzz target's `main` calls this instead of leaving `main` to
/// libFuzzer, because SwiftPM renames an executable's `main` in debug builds and a target that
/// defines none does not link.
int tributary_fuzz_run(int argc, char **argv, int (*test)(const uint8_t *data, size_t size));

#endif
