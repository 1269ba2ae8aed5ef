// libFuzzer target: the GGUF reader and everything that reads a parsed header (model config, shard
// manifest, tokenizer). Any input must give a value or an error, never a crash, a leak or UB.
#include "declai/core/GgufFile.h"
#include "declai/core/ModelConfig.h"
#include "declai/core/ShardManifest.h"
#include "declai/core/Tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace declai;
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    auto file = GgufFile::fromMemory(bytes, "fuzz.gguf");
    if (!file)
        return 0;
    (void)ModelConfig::fromGguf(*file);
    (void)ShardManifest::compute(*file);
    auto tokenizer = Tokenizer::fromGguf(*file);
    if (tokenizer) {
        const auto ids = (*tokenizer)->encode("Hello world \xF0\x9F\x98\x80 <s>", true, true);
        (void)(*tokenizer)->decode(ids);
    }
    return 0;
}
