#include "Translations.h"

#include <QCoreApplication>
#include <QLibraryInfo>

namespace declai::desktop {

Translations::Translations(const QLocale& locale) {
    // QTranslator::load(locale, ...) tries each of the locale's UI languages (de_AT, de, ...) in order.
    const bool translated =
        m_declai.load(locale, QStringLiteral("declai"), QStringLiteral("_"), QStringLiteral(":/i18n"));
    // English is the fallback (the C locale, languages we have no catalogue for); its catalogue holds only
    // the plural forms ("1 token", "2 tokens") of the source texts.
    if (translated || m_declai.load(QStringLiteral(":/i18n/declai_en.qm"))) {
        m_declaiInstalled = QCoreApplication::installTranslator(&m_declai);
        m_language = m_declai.language();
    }
    // Qt's own texts (file dialog and wizard buttons) in the same language as ours, never mixed with English.
    if (translated && !m_language.startsWith(QStringLiteral("en")) &&
        m_qt.load(locale, QStringLiteral("qtbase"), QStringLiteral("_"),
                  QLibraryInfo::path(QLibraryInfo::TranslationsPath)))
        m_qtInstalled = QCoreApplication::installTranslator(&m_qt);
}

Translations::~Translations() {
    if (m_qtInstalled)
        QCoreApplication::removeTranslator(&m_qt);
    if (m_declaiInstalled)
        QCoreApplication::removeTranslator(&m_declai);
}

} // namespace declai::desktop
