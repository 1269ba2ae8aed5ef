// Model files derived from the shared test models, written into a test's temporary folder.
#pragma once

#include "GgufBuilder.h"
#include "declai/core/GgufFile.h"

#include <QFile>
#include <QString>

namespace declai::testdata {

// Copies the GGUF at `source` to `target` without the tensor `dropTensor`, metadata and every other tensor
// unchanged. Dropping "output.weight" gives a model with tied embeddings (the head reuses token_embd), which
// for stories260K is the same model: its converter wrote the shared classifier as a copy of token_embd.
// Returns an empty string on success, else what went wrong.
// With retypeFrom set, tensors of that raw type are relabelled retypeTo (a type with the same block size),
// e.g. Q3_K -> IQ3_S for a file in a type the engine cannot compute.
inline QString writeGgufWithout(const QString& source, const QString& target, const std::string& dropTensor,
                                uint32_t retypeFrom = UINT32_MAX, uint32_t retypeTo = 0) {
    auto file = GgufFile::open(source.toStdString());
    if (!file)
        return QString::fromStdString(file.error().message);
    GgufBuilder builder(file->version());
    for (const std::string& key : file->metadataKeys()) {
        const GgufValue& v = *file->find(key);
        switch (v.type) {
        case GgufValueType::UInt32:
            builder.addU32(key, static_cast<uint32_t>(v.integer));
            break;
        case GgufValueType::Int32:
            builder.addI32(key, static_cast<int32_t>(v.integer));
            break;
        case GgufValueType::Float32:
            builder.addF32(key, static_cast<float>(v.floating));
            break;
        case GgufValueType::Bool:
            builder.addBool(key, v.integer != 0);
            break;
        case GgufValueType::String:
            builder.addString(key, v.string);
            break;
        case GgufValueType::Array:
            if (v.array->elementType == GgufValueType::String) {
                builder.addStringArray(key, v.array->strings);
            } else if (v.array->elementType == GgufValueType::Float32) {
                builder.addF32Array(key, std::vector<float>(v.array->floats.begin(), v.array->floats.end()));
            } else if (v.array->elementType == GgufValueType::Int32) {
                builder.addI32Array(key,
                                    std::vector<int32_t>(v.array->integers.begin(), v.array->integers.end()));
            } else {
                return QStringLiteral("metadata key %1: array type not copied")
                    .arg(QString::fromStdString(key));
            }
            break;
        default:
            return QStringLiteral("metadata key %1: type not copied").arg(QString::fromStdString(key));
        }
    }
    for (const GgufTensorInfo& t : file->tensors()) {
        if (t.name == dropTensor)
            continue;
        const auto bytes = file->tensorData(t);
        const auto rawType = static_cast<uint32_t>(t.type);
        GgufBuilder::Tensor copy{t.name, t.shape, rawType == retypeFrom ? retypeTo : rawType, {}};
        copy.data.resize(bytes.size());
        std::memcpy(copy.data.data(), bytes.data(), bytes.size());
        builder.addTensor(std::move(copy));
    }
    const std::vector<uint8_t> image = builder.build(nullptr, static_cast<uint32_t>(file->alignment()));
    QFile out(target);
    if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
        out.write(reinterpret_cast<const char*>(image.data()), qint64(image.size())) != qint64(image.size()))
        return QStringLiteral("cannot write %1").arg(target);
    return {};
}

} // namespace declai::testdata
