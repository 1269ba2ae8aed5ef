// The app's translations: the catalogue of the locale's UI languages from the resources (:/i18n/declai_XX.qm,
// German today) and Qt's own for its standard dialogs (qtbase_XX from Qt's translations folder); otherwise
// the English catalogue (the source texts' plural forms). Installed while the object lives.
#pragma once

#include <QLocale>
#include <QTranslator>

namespace declai::desktop {

class Translations {
public:
    explicit Translations(const QLocale& locale = QLocale()); // after the QApplication exists
    ~Translations();
    Translations(const Translations&) = delete;
    Translations& operator=(const Translations&) = delete;
    // The language of the catalogue in use ("de_DE", "en"); empty if none could be loaded.
    QString language() const { return m_language; }

private:
    QTranslator m_declai;
    QTranslator m_qt;
    bool m_declaiInstalled = false;
    bool m_qtInstalled = false;
    QString m_language;
};

} // namespace declai::desktop
