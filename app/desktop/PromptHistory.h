// Past prompts with their tokens, time and cost, newest first (at most kMax, each prompt and answer cut to
// kMaxTextChars), kept in the data folder as JSON (HistoryFile.h): read once by open(), kept in memory,
// written whole after each add() through the `save` function the owner gives (the app queues it on its
// writer thread; tests write at once). Older versions kept the history in the app's QSettings: open()
// takes it over from there once.
#pragma once

#include <QDateTime>
#include <QJsonArray>
#include <QList>
#include <QString>
#include <functional>

class QSettings;

namespace declai::desktop {

struct PromptRecord {
    QDateTime at;
    QString model;
    QString prompt;
    QString answer;
    qint64 tokens = 0;
    double seconds = 0;
    double costCredits = -1; // -1 = unknown
    QString outcome;         // "done", "stopped", "failed: ..."
};

class PromptHistory {
public:
    static constexpr int kMax = 200;
    static constexpr int kMaxTextChars = 16 * 1024;
    using Saver = std::function<void(const QString& path, const QJsonArray& items)>;

    // Reads `path`; returns a message for the volunteer when the file was unreadable (then starts empty).
    // `legacy`: the app settings that older versions kept the history in (nullptr: none).
    QString open(const QString& path, Saver save, QSettings* legacy = nullptr);
    QList<PromptRecord> load() const { return m_records; }
    void add(const PromptRecord& record);
    // The cost of the newest record, once the ledger has settled it (the stream's usage has no cost).
    void setNewestCost(double credits);
    QString path() const { return m_path; }

    static QJsonArray toJson(const QList<PromptRecord>& records);
    static QList<PromptRecord> fromJson(const QJsonArray& items);

private:
    QString m_path;
    Saver m_save;
    QList<PromptRecord> m_records;
};

} // namespace declai::desktop
