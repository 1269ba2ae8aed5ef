// One DeCLAI per user session: the first instance listens on a local socket; a second launch connects,
// asks the first to raise its window and exits. The socket name includes the config folder, so tests
// with their own XDG folders do not meet the volunteer's running app.
#pragma once

#include <QLocalServer>
#include <QObject>

namespace declai::desktop {

class SingleInstance : public QObject {
    Q_OBJECT
public:
    explicit SingleInstance(const QString& configDir, QObject* parent = nullptr);
    // true: this is the first instance (now listening). false: another one runs and was asked to raise.
    bool claim();
    QString socketName() const { return m_name; }

Q_SIGNALS:
    void raiseRequested();

private:
    QString m_name;
    QLocalServer m_server;
};

} // namespace declai::desktop
