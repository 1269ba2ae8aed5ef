// Models derived from ../shared's files for tests of features no shared file has: a copy of a GGUF with F32
// tensors appended (Llama 3.1's `rope_freqs.weight`, LongRoPE's `rope_factors_long/short.weight`, Gemma 3's
// Q/K norms), fused tensors split by rows (GLM-4's separate Q/K/V from Phi-3's attn_qkv), tensors renamed
// (OLMo 2's post-norms from llama's pre-norms), tensors re-quantised to another type (a mixture of
// experts' IQ4_XS experts from F16 ones), metadata keys renamed by prefix (`gemma2.` to `gemma3.`), removed,
// added or replaced. Every other metadata entry and every tensor of the source is kept, in order (tensors
// after a re-quantised one move by its change in size); the new tensors follow the last one.
// llama.cpp's reference outputs for such a file are made from the file this writes
// (tests/gpu/parity/README.md).
#pragma once

#include "TestData.h"
#include "declai/core/GgufFile.h"
#include "declai/core/GgufSerialize.h"
#include "declai/core/Quant.h"
#include "declai/core/ShardManifest.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QString>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace declai::testdata {

// A 1-D F32 tensor to append.
struct DerivedTensor {
    std::string name;
    std::vector<float> values;
};

// A 2-D source tensor replaced by consecutive row ranges of it under new names (a fused attn_qkv.weight split
// into attn_q/k/v.weight): the parts point into the source's data, nothing is copied.
struct SplitTensor {
    std::string name;
    std::vector<std::pair<std::string, uint64_t>> parts; // (name, rows), in row order, rows summing to all
};

// What a derived model changes in its source: keys are renamed first, then removed, then set.
struct Derivation {
    std::vector<DerivedTensor> tensors;
    std::vector<SplitTensor> splits;
    // Tensors under another name, data unchanged (ggml's reader wants the tensors' data contiguous and in
    // order, so a derived model renames rather than leaves one out).
    std::vector<std::pair<std::string, std::string>> renamedTensors;
    // Tensors whose names end with `first` re-quantised to the type named `second` ("IQ4_XS"): dequantised
    // from the source's type row by row, then quantised with core's quantizeRow (llama.cpp's reference
    // quantisers).
    std::vector<std::pair<std::string, std::string>> requantized;
    std::pair<std::string, std::string> renamedPrefix;       // every key starting with first: second instead
    std::vector<std::string> removedKeys;                    // (after renaming)
    std::vector<std::pair<std::string, GgufValue>> metadata; // added, or replacing the source's entry
};

// Writes `source` plus `derivation` to `destination`; an empty string on success, else what failed.
inline QString writeDerived(const QString& source, const QString& destination, const Derivation& derivation) {
    auto file = GgufFile::open(source.toStdString());
    if (!file)
        return QString::fromStdString(file.error().message);
    std::vector<std::byte> kv;
    uint64_t keyCount = 0;
    const auto dropped = [&](const std::string& key) {
        for (const auto& entry : derivation.metadata)
            if (entry.first == key)
                return true;
        return std::find(derivation.removedKeys.begin(), derivation.removedKeys.end(), key) !=
               derivation.removedKeys.end();
    };
    const auto& [fromPrefix, toPrefix] = derivation.renamedPrefix;
    for (const std::string& sourceKey : file->metadataKeys()) {
        const std::string key = !fromPrefix.empty() && sourceKey.starts_with(fromPrefix)
                                    ? toPrefix + sourceKey.substr(fromPrefix.size())
                                    : sourceKey;
        if (dropped(key))
            continue;
        if (const GgufValue* value = file->find(sourceKey); !value || !appendGgufKeyValue(kv, key, *value))
            return QStringLiteral("metadata '%1' cannot be copied").arg(QString::fromStdString(sourceKey));
        ++keyCount;
    }
    for (const auto& [key, value] : derivation.metadata) {
        if (!appendGgufKeyValue(kv, key, value))
            return QStringLiteral("metadata '%1' cannot be written").arg(QString::fromStdString(key));
        ++keyCount;
    }
    const uint64_t alignment = std::max<uint64_t>(1, file->alignment());
    const auto align = [&](uint64_t n) { return (n + alignment - 1) / alignment * alignment; };
    // A file without tensors (a vocabulary-only GGUF) has no data section to copy.
    const std::span<const std::byte> whole = mappedFileBytes(*file);
    const std::span<const std::byte> data = whole.size() > file->dataOffset()
                                                ? whole.subspan(size_t(file->dataOffset()))
                                                : std::span<const std::byte>();

    std::vector<std::byte> out;
    appendGgufBytes(out, "GGUF", 4);
    appendGgufPod<uint32_t>(out, 3);
    const auto nameOf = [&](const std::string& name) {
        for (const auto& [from, to] : derivation.renamedTensors)
            if (from == name)
                return to;
        return name;
    };
    uint64_t tensorCount = file->tensors().size() + derivation.tensors.size();
    for (const SplitTensor& split : derivation.splits)
        tensorCount += split.parts.size() - 1;
    appendGgufPod<uint64_t>(out, tensorCount);
    appendGgufPod<uint64_t>(out, keyCount);
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
    // Re-quantised tensors' new bytes (empty: the source's bytes), and every tensor's shift: data stays in
    // the source's order, so a tensor moves by the aligned change in size of the re-quantised ones before it.
    const std::vector<GgufTensorInfo>& tensors = file->tensors();
    std::vector<std::vector<std::byte>> requantizedBytes(tensors.size());
    std::vector<std::optional<TensorType>> newTypes(tensors.size());
    for (const auto& [suffix, typeName] : derivation.requantized) {
        const auto type = tensorTypeFromName(typeName);
        if (!type)
            return QStringLiteral("unknown tensor type '%1'").arg(QString::fromStdString(typeName));
        for (size_t i = 0; i < tensors.size(); ++i)
            if (tensors[i].name.ends_with(suffix))
                newTypes[i] = *type;
    }
    std::vector<size_t> byOffset(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i)
        byOffset[i] = i;
    std::sort(byOffset.begin(), byOffset.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    std::vector<uint64_t> newOffsets(tensors.size());
    uint64_t shift = 0;
    for (size_t i : byOffset) {
        const GgufTensorInfo& t = tensors[i];
        newOffsets[i] = t.offset + shift;
        if (!newTypes[i])
            continue;
        const int64_t rowLength = int64_t(t.rowLength());
        const auto sourceRow = tensorBytes(t.type, t.rowLength());
        const auto row = tensorBytes(*newTypes[i], t.rowLength());
        if (!sourceRow || !row || t.offset + t.sizeBytes > data.size() ||
            std::any_of(derivation.splits.begin(), derivation.splits.end(),
                        [&](const SplitTensor& s) { return s.name == t.name; }))
            return QStringLiteral("tensor '%1' cannot be re-quantised so")
                .arg(QString::fromStdString(t.name));
        std::vector<float> values(size_t(rowLength), 0.0f);
        std::vector<std::byte>& bytes = requantizedBytes[i];
        bytes.resize(size_t(*row * t.rowCount()));
        for (uint64_t r = 0; r < t.rowCount(); ++r) {
            quant::dequantizeRow(t.type, data.data() + t.offset + r * *sourceRow, values.data(), rowLength);
            if (!quant::quantizeRow(*newTypes[i], values.data(), bytes.data() + r * *row, rowLength))
                return QStringLiteral("tensor '%1' cannot be re-quantised so")
                    .arg(QString::fromStdString(t.name));
        }
        shift = align(newOffsets[i] + bytes.size()) - align(newOffsets[i] + t.sizeBytes) + shift;
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
        const GgufTensorInfo& t = tensors[i];
        const auto split = std::find_if(derivation.splits.begin(), derivation.splits.end(),
                                        [&](const SplitTensor& s) { return s.name == t.name; });
        if (split == derivation.splits.end()) {
            tensorInfo(nameOf(t.name), t.shape, newTypes[i].value_or(t.type), newOffsets[i]);
            continue;
        }
        const auto rowBytes = t.shape.size() == 2 ? tensorBytes(t.type, t.shape[0]) : std::nullopt;
        uint64_t rows = 0;
        for (const auto& part : split->parts)
            rows += part.second;
        if (!rowBytes || rows != t.shape[1])
            return QStringLiteral("tensor '%1' cannot be split so").arg(QString::fromStdString(t.name));
        uint64_t offset = newOffsets[i];
        for (const auto& [partName, partRows] : split->parts) {
            tensorInfo(partName, {t.shape[0], partRows}, t.type, offset);
            offset += partRows * *rowBytes;
        }
    }
    std::vector<uint64_t> offsets;
    uint64_t end = data.size() + shift;
    for (const DerivedTensor& t : derivation.tensors) {
        offsets.push_back(align(end));
        end = offsets.back() + t.values.size() * sizeof(float);
        tensorInfo(t.name, {t.values.size()}, TensorType::F32, offsets.back());
    }
    out.resize(size_t(align(out.size())), std::byte{0});
    const size_t dataStart = out.size();
    // Tensor by tensor at their (possibly moved) offsets; the gaps are the alignment's zero padding.
    for (size_t i : byOffset) {
        out.resize(dataStart + size_t(newOffsets[i]), std::byte{0});
        if (newTypes[i])
            out.insert(out.end(), requantizedBytes[i].begin(), requantizedBytes[i].end());
        else
            appendGgufBytes(out, data.data() + tensors[i].offset, size_t(tensors[i].sizeBytes));
    }
    out.resize(dataStart + size_t(data.size() + shift), std::byte{0});
    for (size_t i = 0; i < derivation.tensors.size(); ++i) {
        const std::vector<float>& values = derivation.tensors[i].values;
        out.resize(dataStart + size_t(offsets[i]), std::byte{0});
        appendGgufBytes(out, values.data(), values.size() * sizeof(float));
    }

    QFile f(destination);
    if (!f.open(QIODevice::WriteOnly) ||
        f.write(reinterpret_cast<const char*>(out.data()), qint64(out.size())) != qint64(out.size()))
        return QStringLiteral("cannot write %1").arg(destination);
    return {};
}

// A parity reference's derivation, each part optional: `derived_tensors` ([{"name": ..., "values": [...]}]),
// `derived_split_tensors` ([{"name": ..., "parts": [{"name": ..., "rows": N}, ...]}]),
// `derived_requantized_tensors` ([{"suffix": ..., "type": "IQ4_XS"}]),
// `derived_renamed_prefix` ({"from": ..., "to": ...}), `derived_removed_metadata` ([key, ...]) and
// `derived_metadata` ([{"key": ..., "type": "f32" | "u32" | "str" | "bool", "value": ...}]).
inline Derivation derivation(const QJsonObject& reference) {
    Derivation d;
    for (const QJsonValue& v : reference.value(QStringLiteral("derived_tensors")).toArray()) {
        const QJsonObject o = v.toObject();
        DerivedTensor t{o.value(QStringLiteral("name")).toString().toStdString(), {}};
        for (const QJsonValue& x : o.value(QStringLiteral("values")).toArray())
            t.values.push_back(static_cast<float>(x.toDouble()));
        d.tensors.push_back(std::move(t));
    }
    for (const QJsonValue& v : reference.value(QStringLiteral("derived_split_tensors")).toArray()) {
        const QJsonObject o = v.toObject();
        SplitTensor split{o.value(QStringLiteral("name")).toString().toStdString(), {}};
        for (const QJsonValue& part : o.value(QStringLiteral("parts")).toArray())
            split.parts.emplace_back(part.toObject().value(QStringLiteral("name")).toString().toStdString(),
                                     uint64_t(part.toObject().value(QStringLiteral("rows")).toInteger()));
        d.splits.push_back(std::move(split));
    }
    for (const QJsonValue& v : reference.value(QStringLiteral("derived_renamed_tensors")).toArray())
        d.renamedTensors.emplace_back(v.toObject().value(QStringLiteral("from")).toString().toStdString(),
                                      v.toObject().value(QStringLiteral("to")).toString().toStdString());
    for (const QJsonValue& v : reference.value(QStringLiteral("derived_requantized_tensors")).toArray()) {
        const QJsonObject o = v.toObject();
        d.requantized.emplace_back(o.value(QStringLiteral("suffix")).toString().toStdString(),
                                   o.value(QStringLiteral("type")).toString().toStdString());
    }
    const QJsonObject renamed = reference.value(QStringLiteral("derived_renamed_prefix")).toObject();
    d.renamedPrefix = {renamed.value(QStringLiteral("from")).toString().toStdString(),
                       renamed.value(QStringLiteral("to")).toString().toStdString()};
    for (const QJsonValue& v : reference.value(QStringLiteral("derived_removed_metadata")).toArray())
        d.removedKeys.push_back(v.toString().toStdString());
    for (const QJsonValue& v : reference.value(QStringLiteral("derived_metadata")).toArray()) {
        const QJsonObject o = v.toObject();
        GgufValue value;
        const QString type = o.value(QStringLiteral("type")).toString();
        value.type = type == QLatin1String("u32")    ? GgufValueType::UInt32
                     : type == QLatin1String("str")  ? GgufValueType::String
                     : type == QLatin1String("bool") ? GgufValueType::Bool
                                                     : GgufValueType::Float32;
        const QJsonValue given = o.value(QStringLiteral("value"));
        value.integer = given.isBool() ? int64_t(given.toBool()) : given.toInteger();
        value.floating = o.value(QStringLiteral("value")).toDouble();
        value.string = o.value(QStringLiteral("value")).toString().toStdString();
        d.metadata.emplace_back(o.value(QStringLiteral("key")).toString().toStdString(), value);
    }
    return d;
}

// Writes the model `reference` describes (its `model`, found in DECLAI_MODEL_PATH, plus its derivation) to
// `destination`; an empty string on success, else what failed.
inline QString writeDerivedModel(const QJsonObject& reference, const QString& destination) {
    const QString model = reference.value(QStringLiteral("model")).toString();
    const QString source = modelPath(model);
    if (source.isEmpty())
        return model + QStringLiteral(" is not in DECLAI_MODEL_PATH");
    const Derivation d = derivation(reference);
    if (d.tensors.empty() && d.splits.empty() && d.renamedTensors.empty() && d.requantized.empty() &&
        d.metadata.empty() && d.renamedPrefix.first.empty() && d.removedKeys.empty())
        return QStringLiteral("the reference derives nothing (no derived_tensors, derived_metadata, ...)");
    return writeDerived(source, destination, d);
}

} // namespace declai::testdata
