// A small JSON history file in the data folder (prompts, work per hour): read once at start, written whole
// (QSaveFile: the old file stays until the new one is complete). Bounded: a file over kMaxBytes or one that
// is not a JSON array of objects is moved aside to NAME.corrupt and the history starts fresh, with a
// message for the volunteer; reading never fails harder than that. Threading: free functions, no state;
// the app reads on the GUI thread at start and writes on its settings writer thread.
#pragma once

#include <QJsonArray>
#include <QString>

namespace declai::desktop {

struct HistoryRead {
    QJsonArray items;
    QString problem; // empty = fine (a missing file is fine: nothing recorded yet)
};

constexpr qint64 kMaxHistoryFileBytes = 8 * 1024 * 1024;

HistoryRead readHistoryFile(const QString& path, qint64 maxBytes = kMaxHistoryFileBytes);
// Empty string on success, else why it failed.
QString writeHistoryFile(const QString& path, const QJsonArray& items);

} // namespace declai::desktop
