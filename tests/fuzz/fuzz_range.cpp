// libFuzzer target: the HTTP Range header of a shard download as the gateway parses it
// (server::parseRangeHeader, ModelStore). Input: 8 bytes of file size (big endian), then the header. An Ok
// range must lie inside the file with first <= last; anything else must be refused, never read past the file.
#include "FuzzInput.h"
#include "declai/server/ModelStore.h"

#include <QByteArray>
#include <cstdio>
#include <cstdlib>

namespace {

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_range: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai;
    fuzz::FuzzInput in(data, size);
    const uint64_t fileSizeBytes = (uint64_t(in.u32()) << 32) | in.u32();
    const std::string_view header = in.rest();
    const QByteArray text(header.data(), static_cast<qsizetype>(header.size()));
    server::ByteRange range;
    const server::RangeParse result = server::parseRangeHeader(text, fileSizeBytes, range);
    if (result == server::RangeParse::Ok) {
        check(fileSizeBytes > 0, "Ok on an empty file");
        check(range.first <= range.last, "first > last");
        check(range.last < fileSizeBytes, "range ends past the file");
        check(range.length() >= 1 && range.length() <= fileSizeBytes, "length outside [1, file size]");
    }
    return 0;
}
