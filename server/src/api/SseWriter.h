// Server-Sent Events as OpenAI streams them: "data: <json>\n\n" per chunk, "data: [DONE]\n\n" at the end,
// over a chunked HTTP answer (HttpReply). The answer starts with the first event, so a request refused
// before any output still gets a plain error status. Threading: gateway thread only.
#pragma once

#include "HttpReply.h"

#include <QJsonDocument>

namespace declai::server::api {

class SseWriter {
public:
    SseWriter(HttpReply& reply, HeaderList headers) : m_reply(reply), m_headers(std::move(headers)) {}

    void event(const QJsonObject& data) {
        start();
        m_reply.streamChunk("data: " + QJsonDocument(data).toJson(QJsonDocument::Compact) + "\n\n");
    }
    void done() {
        start();
        m_reply.streamChunk(QByteArrayLiteral("data: [DONE]\n\n"));
        m_reply.endStream();
    }
    // An error after the stream began: one event with OpenAI's error object, then the end (no [DONE]).
    void fail(const QJsonObject& error) {
        event(error);
        m_reply.endStream();
    }
    bool started() const { return m_reply.started(); }

private:
    void start() {
        if (!m_reply.started())
            m_reply.beginStream(200, QByteArrayLiteral("text/event-stream; charset=utf-8"), m_headers);
    }
    HttpReply& m_reply;
    HeaderList m_headers;
};

} // namespace declai::server::api
