#include "PromptHistory.h"

namespace declai::desktop {

QList<PromptRecord> PromptHistory::load() const {
    QList<PromptRecord> records;
    const int n = m_settings.beginReadArray(QStringLiteral("prompt_history"));
    for (int i = 0; i < n; ++i) {
        m_settings.setArrayIndex(i);
        PromptRecord r;
        r.at = QDateTime::fromString(m_settings.value(QStringLiteral("at")).toString(), Qt::ISODate);
        r.model = m_settings.value(QStringLiteral("model")).toString();
        r.prompt = m_settings.value(QStringLiteral("prompt")).toString();
        r.answer = m_settings.value(QStringLiteral("answer")).toString();
        r.tokens = m_settings.value(QStringLiteral("tokens")).toLongLong();
        r.seconds = m_settings.value(QStringLiteral("seconds")).toDouble();
        r.costCredits = m_settings.value(QStringLiteral("cost"), -1).toDouble();
        r.outcome = m_settings.value(QStringLiteral("outcome")).toString();
        records << r;
    }
    m_settings.endArray();
    return records;
}

void PromptHistory::add(const PromptRecord& record) {
    QList<PromptRecord> records = load();
    records.prepend(record);
    while (records.size() > kMax)
        records.removeLast();
    m_settings.beginWriteArray(QStringLiteral("prompt_history"), int(records.size()));
    for (int i = 0; i < records.size(); ++i) {
        const PromptRecord& r = records[i];
        m_settings.setArrayIndex(i);
        m_settings.setValue(QStringLiteral("at"), r.at.toUTC().toString(Qt::ISODate));
        m_settings.setValue(QStringLiteral("model"), r.model);
        m_settings.setValue(QStringLiteral("prompt"), r.prompt);
        m_settings.setValue(QStringLiteral("answer"), r.answer);
        m_settings.setValue(QStringLiteral("tokens"), r.tokens);
        m_settings.setValue(QStringLiteral("seconds"), r.seconds);
        m_settings.setValue(QStringLiteral("cost"), r.costCredits);
        m_settings.setValue(QStringLiteral("outcome"), r.outcome);
    }
    m_settings.endArray();
}

} // namespace declai::desktop
