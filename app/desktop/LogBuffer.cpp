#include "LogBuffer.h"

#include <QMetaObject>
#include <atomic>
#include <cstdio>

namespace declai::desktop {

namespace {
std::atomic<LogBuffer*> g_buffer{nullptr}; // the one process-wide Qt message handler needs a target
QtMessageHandler g_previous = nullptr;

int severity(QtMsgType type) {
    switch (type) {
    case QtDebugMsg:
        return 0;
    case QtInfoMsg:
        return 1;
    case QtWarningMsg:
        return 2;
    case QtCriticalMsg:
        return 3;
    case QtFatalMsg:
        return 4;
    }
    return 1;
}

void handler(QtMsgType type, const QMessageLogContext& context, const QString& message) {
    if (LogBuffer* buffer = g_buffer.load())
        buffer->append(type, message);
    if (g_previous)
        g_previous(type, context, message);
}
} // namespace

LogBuffer::LogBuffer(QObject* parent) : QObject(parent) {
    qRegisterMetaType<LogLine>();
}

LogBuffer::~LogBuffer() {
    LogBuffer* self = this;
    g_buffer.compare_exchange_strong(self, nullptr);
}

void LogBuffer::install(LogBuffer* buffer) {
    if (buffer && !g_buffer.load())
        g_previous = qInstallMessageHandler(handler);
    else if (!buffer && g_buffer.load())
        qInstallMessageHandler(g_previous);
    g_buffer = buffer;
}

void LogBuffer::append(QtMsgType type, const QString& text) {
    LogLine line{QDateTime::currentDateTime(), type, text};
    // Queued: the caller may be the engine's or the compute thread.
    QMetaObject::invokeMethod(
        this, [this, line] { addOnGuiThread(line); }, Qt::QueuedConnection);
}

void LogBuffer::addOnGuiThread(const LogLine& line) {
    m_lines.append(line);
    if (m_lines.size() > kMaxLines)
        m_lines.remove(0, m_lines.size() - kMaxLines);
    Q_EMIT lineAdded(line);
}

QString LogBuffer::format(const LogLine& line) {
    static const char* const names[] = {"debug", "warning", "critical", "fatal", "info"};
    const int index = int(line.type);
    const char* name = index >= 0 && index < 5 ? names[index] : "info";
    return line.at.toString(QStringLiteral("HH:mm:ss")) + QLatin1Char(' ') + QLatin1String(name) +
           QStringLiteral(": ") + line.text;
}

QString LogBuffer::render(const QString& filter, QtMsgType minimum) const {
    QStringList out;
    for (const LogLine& line : m_lines)
        if (severity(line.type) >= severity(minimum) &&
            (filter.isEmpty() || line.text.contains(filter, Qt::CaseInsensitive)))
            out << format(line);
    return out.join(QLatin1Char('\n'));
}

} // namespace declai::desktop
