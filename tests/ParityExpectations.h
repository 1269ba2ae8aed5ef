// Which llama.cpp build's outputs a parity test expects: the CPU kernel tables follow the llama.cpp CPU build
// for their instruction set operation for operation, and some generations differ between those builds
// (tests/gpu/parity/README.md). ../shared/reference and tests/gpu/parity were made by the AVX-512 build;
// tests/gpu/parity/avx2 holds the AVX2 build's outputs where they differ.
#pragma once

#include "ParityReference.h"
#include "declai/gpu/CpuFeatures.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>
#include <optional>
#include <vector>

namespace declai::testdata {

// The folder of stored outputs of the build the active kernel table follows, under `root` (the test's
// tests/gpu/parity): root itself for the AVX-512 tables; root/avx2 for the AVX2 table and for the AVX-VNNI
// one (llama.cpp's AVX-VNNI build and this table swap integer dot instructions only, so both keep the AVX2
// floats; the table gives every stored token and prompt logit of that folder bit for bit); empty for
// tables no stored build matches (scalar, NEON).
inline QString parityExpectationsDir(const QString& root) {
    const QString table = QString::fromLatin1(cpu::activeKernels().name);
    if (table.startsWith(QStringLiteral("avx512")))
        return root;
    if (table == QStringLiteral("avx2") || table == QStringLiteral("avx-vnni"))
        return root + QStringLiteral("/avx2");
    return {};
}

// llama.cpp's greedy tokens for ../shared/reference's `reference` (a parity/NAME.json) from the build the
// active table follows, where they differ from the AVX-512 build's; nullopt where they do not.
inline std::optional<std::vector<int32_t>> greedyTokensOfActiveBuild(const QString& root,
                                                                     const QString& reference) {
    const QString dir = parityExpectationsDir(root);
    if (dir.isEmpty() || dir == root)
        return std::nullopt;
    QFile in(QDir(dir).filePath(reference));
    if (!in.open(QIODevice::ReadOnly))
        return std::nullopt;
    const QJsonObject o = QJsonDocument::fromJson(in.readAll()).object();
    return jsonIds(o.value(QStringLiteral("greedy_tokens")).toArray());
}

} // namespace declai::testdata
