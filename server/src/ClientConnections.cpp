#include "declai/server/ClientConnections.h"

#include <algorithm>

namespace declai::server {
namespace {

// What a failed request was charged for the tokens it had sent, as the end of its reason ("" for nothing).
std::string chargedNote(const SubmitEnd& end) {
    if (end.costMicrocredits <= 0)
        return {};
    return QStringLiteral(" (charged %1 credits for the %2 token(s) already sent)")
        .arg(static_cast<double>(end.costMicrocredits) / credit::kMicrocreditsPerCredit, 0, 'f', 6)
        .arg(end.stats.generatedTokens)
        .toStdString();
}

wire::Failed failedMessage(uint64_t requestId, const std::string& reason) {
    wire::Failed failed;
    failed.set_request_id(requestId);
    failed.set_reason(reason);
    return failed;
}

wire::Failed failedMessage(uint64_t requestId, const SubmitEnd& end) {
    return failedMessage(requestId, end.reason + chargedNote(end));
}

wire::Done doneMessage(uint64_t requestId, const SubmitEnd& end) {
    wire::Done done;
    done.set_request_id(requestId);
    done.set_finish_reason(end.reason);
    done.set_prompt_tokens(end.stats.promptTokens);
    done.set_generated_tokens(end.stats.generatedTokens);
    done.set_time_to_first_token_ms(static_cast<uint32_t>(std::max<qint64>(0, end.stats.timeToFirstTokenMs)));
    done.set_total_ms(static_cast<uint32_t>(end.stats.totalMs));
    done.set_failovers(end.stats.failovers);
    done.set_text_tail(end.tail);
    done.set_cost_microcredits(end.costMicrocredits);
    done.set_balance_microcredits(end.balanceMicrocredits);
    return done;
}

wire::Done quoteMessage(uint64_t requestId, const SubmitAccepted& accepted) {
    wire::Done done;
    done.set_request_id(requestId);
    done.set_finish_reason("quote");
    done.set_quote_only(true);
    done.set_prompt_tokens(static_cast<uint32_t>(accepted.promptTokens));
    done.set_cost_microcredits(accepted.quoteMicrocredits);
    done.set_balance_microcredits(accepted.balanceMicrocredits);
    return done;
}

} // namespace

ClientConnections::ClientConnections(Hooks hooks, QObject* parent)
    : QObject(parent), m_hooks(std::move(hooks)) {}

ClientConnections::~ClientConnections() = default;

void ClientConnections::add(std::unique_ptr<ClientLink> client) {
    const std::string id = client->clientId;
    ClientLink* raw = client.get();
    connect(raw->channel.get(), &net::Channel::envelopeReceived, this,
            [this, raw](const wire::Envelope& envelope) { onEnvelope(raw, envelope); });
    connect(raw->channel.get(), &net::Channel::closed, this, [this, id](const QString&) {
        QMetaObject::invokeMethod(
            this, [this, id] { onClosed(id); }, Qt::QueuedConnection);
    });
    m_clients[id] = std::move(client);
}

void ClientConnections::onClosed(const std::string& clientId) {
    auto it = m_clients.find(clientId);
    if (it == m_clients.end())
        return;
    for (uint64_t sid : m_hooks.requestsOf(clientId))
        m_hooks.cancel(sid, QStringLiteral("the client disconnected"));
    std::unique_ptr<ClientLink> gone = std::move(it->second);
    m_clients.erase(it);
    gone->channel->disconnect(this);
    gone->channel.release()->deleteLater();
}

void ClientConnections::onEnvelope(ClientLink* client, const wire::Envelope& envelope) {
    if (envelope.type() != wire::SUBMIT) {
        client->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                               QStringLiteral("unexpected %1 from a client")
                                   .arg(QString::fromLatin1(wire::messageTypeName(envelope.type()))));
        return;
    }
    auto submit = wire::decodeBody<wire::Submit>(envelope, wire::SUBMIT);
    if (!submit) {
        client->channel->close(QWebSocketProtocol::CloseCodePolicyViolated,
                               QString::fromStdString(submit.error().message));
        return;
    }
    handleSubmit(client, *submit);
}

void ClientConnections::handleSubmit(ClientLink* client, const wire::Submit& submit) {
    // The WebSocket face of submit(): wire::Submit in, TOKEN / DONE / FAILED out on the client's channel.
    auto request = submitRequestFromWire(submit, *client);
    if (!request) {
        client->channel->send(wire::FAILED, failedMessage(submit.request_id(), request.error().message));
        return;
    }
    m_hooks.submit(std::move(*request),
                   callbacksFor(client->clientId, submit.request_id(), submit.quote_only()));
}

SubmitCallbacks ClientConnections::callbacksFor(const std::string& clientId, uint64_t requestId,
                                                bool quoteOnly) {
    SubmitCallbacks callbacks;
    // Run on the main thread from inside the session; the client may have gone meanwhile.
    callbacks.token = [this, clientId, requestId](int32_t id, const std::string& text) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end())
            return;
        wire::Token token;
        token.set_request_id(requestId);
        token.set_token_id(id);
        token.set_text(text);
        it->second->channel->send(wire::TOKEN, token);
    };
    callbacks.ended = [this, clientId, requestId](const SubmitEnd& end) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end())
            return;
        if (end.failed)
            it->second->channel->send(wire::FAILED, failedMessage(requestId, end));
        else
            it->second->channel->send(wire::DONE, doneMessage(requestId, end));
    };
    // The decision may come after the ledger answered; the client may have gone meanwhile (then a hold that
    // lands is released: onClosed cancelled the request).
    callbacks.decided = [this, clientId, requestId, quoteOnly](const SubmitDecision& decision) {
        auto it = m_clients.find(clientId);
        if (it == m_clients.end())
            return;
        if (const auto* refused = std::get_if<SubmitRefused>(&decision))
            it->second->channel->send(wire::FAILED, failedMessage(requestId, refused->message));
        else if (quoteOnly) // else TOKEN and DONE follow
            it->second->channel->send(wire::DONE,
                                      quoteMessage(requestId, std::get<SubmitAccepted>(decision)));
    };
    return callbacks;
}

} // namespace declai::server
