// declai-cli's WebSocket clients (authenticated by the Gateway): each Submit goes to admission, its tokens
// and its end go back as TOKEN, DONE and FAILED on the client's channel while the client is connected, and a
// client that leaves has what it still has in flight cancelled. Threading: main thread only.
#pragma once

#include "declai/server/Admission.h"
#include "declai/server/Links.h"

#include <QObject>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace declai::server {

class ClientConnections : public QObject {
    Q_OBJECT

public:
    // What the owner does for its clients (Orchestrator::submit, Orchestrator::cancel,
    // Admission::requestsOf).
    struct Hooks {
        std::function<uint64_t(SubmitRequest request, SubmitCallbacks callbacks)> submit;
        std::function<void(uint64_t sessionId, const QString& reason)> cancel;
        std::function<std::vector<uint64_t>(const std::string& connectionId)> requestsOf;
    };
    explicit ClientConnections(Hooks hooks, QObject* parent = nullptr);
    ~ClientConnections() override;

    void add(std::unique_ptr<ClientLink> client);
    size_t count() const { return m_clients.size(); }

private:
    void onEnvelope(ClientLink* client, const wire::Envelope& envelope);
    void onClosed(const std::string& clientId);
    void handleSubmit(ClientLink* client, const wire::Submit& submit);
    // The callbacks of a client's request: TOKEN, DONE and FAILED on its channel while it is here.
    SubmitCallbacks callbacksFor(const std::string& clientId, uint64_t requestId, bool quoteOnly);

    Hooks m_hooks;
    std::map<std::string, std::unique_ptr<ClientLink>> m_clients;
};

} // namespace declai::server
