// The last lines of the app's log (the engine's qInfo/qWarning included) for the log view. append() may be
// called from any thread; lines reach the GUI thread queued. install() routes Qt's message handler here;
// Qt has only one process-wide handler, so main() installs it once and uninstalls it before the buffer dies.
#pragma once

#include <QDateTime>
#include <QList>
#include <QObject>
#include <QString>

namespace declai::desktop {

struct LogLine {
    QDateTime at;
    QtMsgType type = QtInfoMsg;
    QString text;
};

class LogBuffer : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaxLines = 5000;
    explicit LogBuffer(QObject* parent = nullptr);
    ~LogBuffer() override;

    void append(QtMsgType type, const QString& text);       // any thread
    const QList<LogLine>& lines() const { return m_lines; } // GUI thread
    // Lines that contain `filter` (case-insensitive) and are at least `minimum` severe, as text.
    QString render(const QString& filter, QtMsgType minimum) const;
    static QString format(const LogLine& line);

    static void install(LogBuffer* buffer); // nullptr uninstalls

Q_SIGNALS:
    void lineAdded(const declai::desktop::LogLine& line);

private:
    void addOnGuiThread(const LogLine& line);
    QList<LogLine> m_lines;
};

} // namespace declai::desktop

Q_DECLARE_METATYPE(declai::desktop::LogLine)
