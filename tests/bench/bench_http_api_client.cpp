// The client half of scripts/bench-http-api: the same greedy request, alternately over the WebSocket protocol
// (what `declai-cli submit` speaks) and as a streaming POST /v1/completions, each on one connection opened
// once (so connection set-up and process start-up are not part of either figure). Prints one JSON object
// with, per run and path, the time from sending the request to the first token and the mean gap between
// later tokens, as this client receives them.
// Usage: bench_http_api_client PORT CA_FILE API_KEY MODEL TOKENS RUNS
#include "declai/core/WireCodec.h"
#include "declai/network/Channel.h"
#include "declai/network/TlsSetup.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSslSocket>
#include <QTimer>
#include <QWebSocket>
#include <cstdio>

using namespace declai;

namespace {

struct Run {
    double firstMs = 0;
    double gapMs = 0;
};

Run summarize(const std::vector<qint64>& arrivalsNs, qint64 sentNs) {
    Run r;
    if (arrivalsNs.empty())
        return r;
    r.firstMs = (arrivalsNs.front() - sentNs) / 1e6;
    if (arrivalsNs.size() > 1)
        r.gapMs = (arrivalsNs.back() - arrivalsNs.front()) / 1e6 / static_cast<double>(arrivalsNs.size() - 1);
    return r;
}

bool waitFor(QEventLoop& loop, int timeoutMs) {
    QTimer timer;
    timer.setSingleShot(true);
    bool timedOut = false;
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        loop.quit();
    });
    timer.start(timeoutMs);
    loop.exec();
    return !timedOut;
}

} // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    const QStringList a = app.arguments();
    if (a.size() != 7) {
        std::fprintf(stderr, "usage: bench_http_api_client PORT CA_FILE API_KEY MODEL TOKENS RUNS\n");
        return 2;
    }
    const quint16 port = static_cast<quint16>(a[1].toUInt());
    const QString ca = a[2];
    const QByteArray key = a[3].toUtf8();
    const QString model = a[4];
    const int tokens = a[5].toInt();
    const int runs = a[6].toInt();
    QElapsedTimer clock;
    clock.start();

    // The WebSocket client: hello with the key, then one Submit per run.
    auto tls = net::clientTlsConfiguration(net::ClientTlsOptions{ca, QString(), false});
    if (!tls) {
        std::fprintf(stderr, "%s\n", tls.error().message.c_str());
        return 1;
    }
    auto ws = std::make_unique<QWebSocket>();
    ws->setSslConfiguration(*tls);
    QWebSocket* wsRaw = ws.get();
    net::Channel channel(std::move(ws), net::ChannelLimits{});
    QEventLoop wsLoop;
    std::vector<qint64> arrivals;
    bool welcomed = false;
    QObject::connect(wsRaw, &QWebSocket::connected, &wsLoop, [&] {
        wire::Hello hello;
        hello.set_role(wire::CLIENT);
        hello.set_min_protocol_version(wire::kMinProtocolVersion);
        hello.set_max_protocol_version(wire::kProtocolVersion);
        hello.set_api_key(key.toStdString());
        channel.send(wire::HELLO, hello);
    });
    QObject::connect(&channel, &net::Channel::envelopeReceived, &wsLoop, [&](const wire::Envelope& e) {
        if (e.type() == wire::WELCOME) {
            welcomed = true;
            wsLoop.quit();
        } else if (e.type() == wire::TOKEN) {
            arrivals.push_back(clock.nsecsElapsed());
        } else if (e.type() == wire::DONE || e.type() == wire::FAILED || e.type() == wire::REJECT) {
            wsLoop.quit();
        }
    });
    wsRaw->open(QUrl(QStringLiteral("wss://127.0.0.1:%1").arg(port)));
    if (!waitFor(wsLoop, 20000) || !welcomed) {
        std::fprintf(stderr, "the WebSocket handshake failed\n");
        return 1;
    }

    // The HTTP client: one keep-alive TLS connection.
    QSslSocket http;
    QSslConfiguration httpTls = QSslConfiguration::defaultConfiguration();
    httpTls.setCaCertificates(QSslCertificate::fromPath(ca));
    http.setSslConfiguration(httpTls);
    http.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
    if (!http.waitForEncrypted(20000)) {
        std::fprintf(stderr, "the HTTPS connection failed\n");
        return 1;
    }
    http.setSocketOption(QAbstractSocket::LowDelayOption, 1);
    const QByteArray body =
        QJsonDocument(QJsonObject{{QStringLiteral("model"), model},
                                  {QStringLiteral("prompt"), QStringLiteral("Once upon a time")},
                                  {QStringLiteral("max_tokens"), tokens},
                                  {QStringLiteral("temperature"), 0},
                                  {QStringLiteral("stream"), true}})
            .toJson(QJsonDocument::Compact);
    const QByteArray request =
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key +
        "\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) +
        "\r\n\r\n" + body;
    QEventLoop httpLoop;
    QByteArray received;
    QObject::connect(&http, &QIODevice::readyRead, &httpLoop, [&] {
        const qint64 now = clock.nsecsElapsed();
        const qsizetype before = received.count("\"finish_reason\":null");
        received += http.readAll();
        for (qsizetype i = before; i < received.count("\"finish_reason\":null"); ++i)
            arrivals.push_back(now);
        if (received.contains("data: [DONE]") && received.endsWith("0\r\n\r\n"))
            httpLoop.quit();
    });

    QJsonArray wsRuns, httpRuns;
    auto json = [](const Run& r) {
        return QJsonObject{{QStringLiteral("first_ms"), r.firstMs}, {QStringLiteral("gap_ms"), r.gapMs}};
    };
    for (int i = 0; i <= runs; ++i) { // run 0 warms both paths up and is not reported
        wire::Submit submit;
        submit.set_model(model.toStdString());
        submit.set_prompt("Once upon a time");
        submit.set_max_tokens(static_cast<uint32_t>(tokens));
        submit.set_top_p(1.0f);
        submit.set_request_id(static_cast<uint64_t>(i + 1));
        submit.set_priority("normal");
        arrivals.clear();
        const qint64 wsSent = clock.nsecsElapsed();
        channel.send(wire::SUBMIT, submit);
        if (!waitFor(wsLoop, 60000) || static_cast<int>(arrivals.size()) != tokens) {
            std::fprintf(stderr, "WebSocket run %d: %zu tokens\n", i, arrivals.size());
            return 1;
        }
        const Run wsRun = summarize(arrivals, wsSent);

        arrivals.clear();
        received.clear();
        const qint64 httpSent = clock.nsecsElapsed();
        http.write(request);
        if (!waitFor(httpLoop, 60000) || static_cast<int>(arrivals.size()) != tokens) {
            std::fprintf(stderr, "HTTP run %d: %zu tokens: %s\n", i, arrivals.size(),
                         received.left(300).constData());
            return 1;
        }
        const Run httpRun = summarize(arrivals, httpSent);
        if (i > 0) {
            wsRuns.append(json(wsRun));
            httpRuns.append(json(httpRun));
        }
    }
    std::printf("%s\n", QJsonDocument(QJsonObject{{QStringLiteral("websocket"), wsRuns},
                                                  {QStringLiteral("http"), httpRuns}})
                            .toJson(QJsonDocument::Compact)
                            .constData());
    return 0;
}
