// `declai-cli bench`: prefill and decode throughput of a model on this machine, with the memory
// bandwidth and the decode ceiling it implies (bandwidth / weight bytes read per generated token).
#pragma once

#include <QStringList>
#include <cstdio>

namespace declai::cli {

// Runs `bench -m MODEL ...` (args include the leading "bench").
int runBench(const QStringList& args, std::FILE* out, std::FILE* err);

} // namespace declai::cli
