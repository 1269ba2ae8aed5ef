// llama.cpp's reference outputs (../shared/reference/parity/NAME.json + NAME.logits.f32) as the parity
// tests read them, and the small helpers they share.
#pragma once

#include "TestData.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStringList>
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

namespace declai::testdata {

struct ParityReference {
    QString model;
    QString prompt;
    std::vector<int32_t> promptTokens;
    std::vector<int32_t> greedyTokens;
    std::vector<float> logits; // last prompt position
};

// A parity reference file from DECLAI_REFERENCE_DIR/parity as JSON (empty when missing).
inline QJsonObject parityJson(const QString& name) {
    QFile f(referencePath(QStringLiteral("parity/") + name));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

inline std::vector<int32_t> jsonIds(const QJsonArray& array) {
    std::vector<int32_t> ids;
    for (const QJsonValue& v : array)
        ids.push_back(v.toInt());
    return ids;
}

// Token ids as "1 2 3" (what declai-cli submit --tokens prints).
inline QString idText(const std::vector<int32_t>& ids) {
    QStringList parts;
    for (int32_t id : ids)
        parts << QString::number(id);
    return parts.join(QLatin1Char(' '));
}

inline QString idText(const QJsonArray& array) {
    return idText(jsonIds(array));
}

// Empty `model` when the reference is missing.
inline ParityReference loadParityReference(const QString& jsonName) {
    ParityReference r;
    QFile file(referencePath(QStringLiteral("parity/") + jsonName));
    if (!file.open(QIODevice::ReadOnly))
        return r;
    const QJsonObject o = QJsonDocument::fromJson(file.readAll()).object();
    r.model = o.value(QStringLiteral("model")).toString();
    r.prompt = o.value(QStringLiteral("prompt")).toString();
    r.promptTokens = jsonIds(o.value(QStringLiteral("prompt_tokens")).toArray());
    r.greedyTokens = jsonIds(o.value(QStringLiteral("greedy_tokens")).toArray());
    QFile logits(
        referencePath(QStringLiteral("parity/") + o.value(QStringLiteral("last_logits_file")).toString()));
    if (logits.open(QIODevice::ReadOnly)) {
        const QByteArray bytes = logits.readAll();
        r.logits.resize(static_cast<size_t>(bytes.size()) / sizeof(float));
        std::memcpy(r.logits.data(), bytes.constData(), r.logits.size() * sizeof(float));
    }
    return r;
}

// Indices of the k largest values, largest first.
inline std::vector<int32_t> topK(const std::vector<float>& v, size_t k) {
    std::vector<int32_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(
        idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
        [&](int32_t a, int32_t b) { return v[static_cast<size_t>(a)] > v[static_cast<size_t>(b)]; });
    idx.resize(k);
    return idx;
}

} // namespace declai::testdata
