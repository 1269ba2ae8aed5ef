#include "PromptHistory.h"

#include "HistoryFile.h"

#include <QFile>
#include <QJsonObject>
#include <QSettings>

namespace declai::desktop {

namespace {

QList<PromptRecord> takeLegacy(QSettings& settings) {
    QList<PromptRecord> records;
    const int n = settings.beginReadArray(QStringLiteral("prompt_history"));
    for (int i = 0; i < n; ++i) {
        settings.setArrayIndex(i);
        PromptRecord r;
        r.at = QDateTime::fromString(settings.value(QStringLiteral("at")).toString(), Qt::ISODate);
        r.model = settings.value(QStringLiteral("model")).toString();
        r.prompt = settings.value(QStringLiteral("prompt")).toString();
        r.answer = settings.value(QStringLiteral("answer")).toString();
        r.tokens = settings.value(QStringLiteral("tokens")).toLongLong();
        r.seconds = settings.value(QStringLiteral("seconds")).toDouble();
        r.costCredits = settings.value(QStringLiteral("cost"), -1).toDouble();
        r.outcome = settings.value(QStringLiteral("outcome")).toString();
        records << r;
    }
    settings.endArray();
    settings.remove(QStringLiteral("prompt_history"));
    return records;
}

} // namespace

QJsonArray PromptHistory::toJson(const QList<PromptRecord>& records) {
    QJsonArray items;
    for (const PromptRecord& r : records)
        items.append(QJsonObject{{QStringLiteral("at"), r.at.toUTC().toString(Qt::ISODateWithMs)},
                                 {QStringLiteral("model"), r.model},
                                 {QStringLiteral("prompt"), r.prompt},
                                 {QStringLiteral("answer"), r.answer},
                                 {QStringLiteral("tokens"), r.tokens},
                                 {QStringLiteral("seconds"), r.seconds},
                                 {QStringLiteral("cost"), r.costCredits},
                                 {QStringLiteral("outcome"), r.outcome}});
    return items;
}

QList<PromptRecord> PromptHistory::fromJson(const QJsonArray& items) {
    QList<PromptRecord> records;
    for (const QJsonValue& v : items) {
        const QJsonObject o = v.toObject();
        PromptRecord r;
        r.at = QDateTime::fromString(o.value(QStringLiteral("at")).toString(), Qt::ISODateWithMs);
        if (!r.at.isValid())
            continue; // a damaged entry is skipped, the others are kept
        r.model = o.value(QStringLiteral("model")).toString();
        r.prompt = o.value(QStringLiteral("prompt")).toString().left(kMaxTextChars);
        r.answer = o.value(QStringLiteral("answer")).toString().left(kMaxTextChars);
        r.tokens = o.value(QStringLiteral("tokens")).toInteger();
        r.seconds = o.value(QStringLiteral("seconds")).toDouble();
        r.costCredits = o.value(QStringLiteral("cost")).toDouble(-1);
        r.outcome = o.value(QStringLiteral("outcome")).toString();
        records << r;
        if (records.size() == kMax)
            break;
    }
    return records;
}

QString PromptHistory::open(const QString& path, Saver save, QSettings* legacy) {
    m_path = path;
    m_save = std::move(save);
    const bool hadFile = QFile::exists(path);
    HistoryRead read = readHistoryFile(path);
    m_records = fromJson(read.items);
    if (!hadFile && legacy && legacy->contains(QStringLiteral("prompt_history/size"))) {
        m_records = takeLegacy(*legacy).mid(0, kMax);
        if (m_save)
            m_save(m_path, toJson(m_records));
    }
    return read.problem;
}

void PromptHistory::setNewestCost(double credits) {
    if (m_records.isEmpty())
        return;
    m_records.first().costCredits = credits;
    if (m_save)
        m_save(m_path, toJson(m_records));
}

void PromptHistory::add(const PromptRecord& record) {
    PromptRecord r = record;
    r.prompt = r.prompt.left(kMaxTextChars);
    r.answer = r.answer.left(kMaxTextChars);
    m_records.prepend(r);
    while (m_records.size() > kMax)
        m_records.removeLast();
    if (m_save)
        m_save(m_path, toJson(m_records));
}

} // namespace declai::desktop
