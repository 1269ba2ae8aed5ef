// Past prompts with their tokens, time and cost, newest first, kept in the app's QSettings (at most kMax).
#pragma once

#include <QDateTime>
#include <QList>
#include <QSettings>
#include <QString>

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
    explicit PromptHistory(QSettings& settings) : m_settings(settings) {}
    QList<PromptRecord> load() const;
    void add(const PromptRecord& record);

private:
    QSettings& m_settings;
};

} // namespace declai::desktop
