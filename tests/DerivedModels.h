// Models derived from ../shared's files for tests of features no shared file has: a copy of a GGUF with one
// F32 tensor appended (for example Llama 3.1's `rope_freqs.weight`). Every metadata entry and tensor of the
// source is kept, at its offset; the new tensor follows the last one. llama.cpp's reference outputs for such
// a file are made from the file this writes (tests/gpu/parity/README.md).
#pragma once

#include "TestData.h"
#include "declai/core/GgufFile.h"
#include "declai/core/GgufSerialize.h"
#include "declai/core/ShardManifest.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QString>
#include <string>
#include <vector>

namespace declai::testdata {

// Writes `source` plus the 1-D F32 tensor `name` = `values` to `destination`; an empty string on success,
// else what failed.
inline QString writeWithExtraTensor(const QString& source, const QString& destination,
                                    const std::string& name, const std::vector<float>& values) {
    auto file = GgufFile::open(source.toStdString());
    if (!file)
        return QString::fromStdString(file.error().message);
    std::vector<std::byte> kv;
    for (const std::string& key : file->metadataKeys())
        if (const GgufValue* value = file->find(key); !value || !appendGgufKeyValue(kv, key, *value))
            return QStringLiteral("metadata '%1' cannot be copied").arg(QString::fromStdString(key));
    const uint64_t alignment = std::max<uint64_t>(1, file->alignment());
    const auto align = [&](uint64_t n) { return (n + alignment - 1) / alignment * alignment; };
    const std::span<const std::byte> whole = mappedFileBytes(*file);
    const std::span<const std::byte> data = whole.subspan(size_t(file->dataOffset()));
    const uint64_t newOffset = align(data.size());

    std::vector<std::byte> out;
    appendGgufBytes(out, "GGUF", 4);
    appendGgufPod<uint32_t>(out, 3);
    appendGgufPod<uint64_t>(out, file->tensors().size() + 1);
    appendGgufPod<uint64_t>(out, file->metadataKeys().size());
    out.insert(out.end(), kv.begin(), kv.end());
    const auto tensorInfo = [&](const std::string& tensorName, const std::vector<uint64_t>& shape,
                                TensorType type, uint64_t offset) {
        appendGgufString(out, tensorName);
        appendGgufPod<uint32_t>(out, static_cast<uint32_t>(shape.size()));
        for (uint64_t d : shape)
            appendGgufPod<uint64_t>(out, d);
        appendGgufPod<uint32_t>(out, static_cast<uint32_t>(type));
        appendGgufPod<uint64_t>(out, offset);
    };
    for (const GgufTensorInfo& t : file->tensors())
        tensorInfo(t.name, t.shape, t.type, t.offset);
    tensorInfo(name, {values.size()}, TensorType::F32, newOffset);
    out.resize(size_t(align(out.size())), std::byte{0});
    const size_t dataStart = out.size();
    out.insert(out.end(), data.begin(), data.end());
    out.resize(dataStart + size_t(newOffset), std::byte{0});
    appendGgufBytes(out, values.data(), values.size() * sizeof(float));

    QFile f(destination);
    if (!f.open(QIODevice::WriteOnly) ||
        f.write(reinterpret_cast<const char*>(out.data()), qint64(out.size())) != qint64(out.size()))
        return QStringLiteral("cannot write %1").arg(destination);
    return {};
}

// A parity reference's `derived_tensor` ({"name": ..., "values": [...]}): the tensor added to its `model`.
struct DerivedTensor {
    std::string name;
    std::vector<float> values;
};

inline DerivedTensor derivedTensor(const QJsonObject& reference) {
    const QJsonObject o = reference.value(QStringLiteral("derived_tensor")).toObject();
    DerivedTensor t{o.value(QStringLiteral("name")).toString().toStdString(), {}};
    for (const QJsonValue& v : o.value(QStringLiteral("values")).toArray())
        t.values.push_back(static_cast<float>(v.toDouble()));
    return t;
}

// Writes the model `reference` describes (its `model`, found in DECLAI_MODEL_PATH, plus its
// `derived_tensor`) to `destination`; an empty string on success, else what failed.
inline QString writeDerivedModel(const QJsonObject& reference, const QString& destination) {
    const QString model = reference.value(QStringLiteral("model")).toString();
    const QString source = modelPath(model);
    if (source.isEmpty())
        return model + QStringLiteral(" is not in DECLAI_MODEL_PATH");
    const DerivedTensor tensor = derivedTensor(reference);
    if (tensor.name.empty() || tensor.values.empty())
        return QStringLiteral("the reference names no derived_tensor");
    return writeWithExtraTensor(source, destination, tensor.name, tensor.values);
}

} // namespace declai::testdata
