// libFuzzer target: a shard manifest as a node receives it (JSON from the gateway), parsed and validated.
#include "declai/core/ShardManifest.h"

#include <QByteArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const QByteArray json(reinterpret_cast<const char*>(data), static_cast<qsizetype>(size));
    const QJsonDocument document = QJsonDocument::fromJson(json);
    if (!document.isObject())
        return 0;
    (void)declai::ShardManifest::fromJson(document.object());
    return 0;
}
