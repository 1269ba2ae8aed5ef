// Conversions between the ledger's std types and Qt SQL's QVariant/QString, for SqlLedgerSession and its
// account half (SqlAccountRecords.cpp). Internal to credit/src.
#pragma once

#include <QString>
#include <QVariant>
#include <cstdint>
#include <string>

namespace declai::credit::sqlvalues {

inline QString qs(const std::string& text) {
    return QString::fromStdString(text);
}
inline std::string ss(const QVariant& value) {
    return value.toString().toStdString();
}
inline qlonglong ll(std::int64_t value) {
    return static_cast<qlonglong>(value);
}

} // namespace declai::credit::sqlvalues
