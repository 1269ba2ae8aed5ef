#include "Submit.h"

#include "CliIo.h"
#include "NumericFlags.h"
#include "declai/core/Version.h"
#include "declai/core/WireCodec.h"
#include "declai/network/Channel.h"
#include "declai/network/TlsSetup.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>
#include <QUrl>
#include <QWebSocket>
#include <functional>

namespace declai::cli {
namespace {

constexpr const char* kSubmitUsage =
    "usage: declai-cli submit --server wss://HOST:PORT [--ca FILE | --pin SHA256:HEX | --insecure-dev]\n"
    "                         -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [--top-k K] [--top-p P]\n"
    "                         [--min-p P] [--repeat-penalty R] [--tokens] [--stats] [--timeout-s S]\n"
    "                         [--api-key KEY (or DECLAI_API_KEY)] [--priority low|normal|high] [--quote]\n";

} // namespace

int runSubmit(const QStringList& args, std::FILE* out, std::FILE* err) {
    const CliIo io{out, err};
    // A usage error of submit is followed by its usage text and the sampling defaults.
    auto usage = [&io](const QString& message) {
        return io.usage(message.toStdString() + "\n" + kSubmitUsage +
                        "sampling defaults: " + SamplingFlags::defaultsText());
    };
    auto fail = [&io](const QString& message) { return io.fail(message.toStdString()); };
    QCommandLineParser parser;
    const auto server = makeOption({QStringLiteral("server")}, "server", "URL"),
               ca = makeOption({QStringLiteral("ca")}, "ca", "FILE"),
               pin = makeOption({QStringLiteral("pin")}, "pin", "FP"),
               insecure = makeOption({QStringLiteral("insecure-dev")}, "insecure-dev"),
               model = makeOption({QStringLiteral("m"), QStringLiteral("model")}, "model", "MODEL"),
               prompt = makeOption({QStringLiteral("p"), QStringLiteral("prompt")}, "prompt", "TEXT"),
               count = makeOption({QStringLiteral("n")}, "n", "N", "32"),
               tokens = makeOption({QStringLiteral("tokens")}, "tokens"),
               stats = makeOption({QStringLiteral("stats")}, "stats"),
               timeout = makeOption({QStringLiteral("timeout-s")}, "timeout-s", "S", "600"),
               apiKey = makeOption({QStringLiteral("api-key")}, "api-key", "KEY"),
               priority = makeOption({QStringLiteral("priority")}, "priority", "low|normal|high", "normal"),
               quoteOnly = makeOption({QStringLiteral("quote")}, "quote");
    const SamplingFlags sampling; // defaults from SamplerConfig{}
    parser.addOptions({server, ca, pin, insecure, model, prompt, count, tokens, stats, timeout, apiKey,
                       priority, quoteOnly});
    parser.addOptions(sampling.all());
    QStringList parseArgs = args;
    parseArgs[0] = QStringLiteral("declai-cli");
    if (!parser.parse(parseArgs))
        return usage(parser.errorText());
    if (!parser.isSet(server) || !parser.isSet(model) || !parser.isSet(prompt))
        return usage(QStringLiteral("submit needs --server, -m MODEL and -p PROMPT"));
    const QUrl url(parser.value(server), QUrl::StrictMode);
    if (!url.isValid() || (url.scheme() != QStringLiteral("wss") && url.scheme() != QStringLiteral("ws")) ||
        url.port() <= 0)
        return usage(QStringLiteral("--server '%1' is not wss://HOST:PORT").arg(parser.value(server)));
    if (url.scheme() == QStringLiteral("ws") && !parser.isSet(insecure))
        return usage(
            QStringLiteral("plaintext ws:// is refused unless --insecure-dev is given (use wss://)"));
    // The same parsing and ranges as `generate` (NumericFlags.h); a request needs at least one new token.
    auto n = intOption(parser, count, 1, 1 << 20);
    if (!n)
        return usage(QString::fromStdString(n.error().message));
    auto sampler = samplerFromFlags(parser, sampling);
    if (!sampler)
        return usage(QString::fromStdString(sampler.error().message));
    // QTimer takes int milliseconds: at most 24 days.
    auto timeoutSeconds = floatOption(parser, timeout, 0.001, 2000000);
    if (!timeoutSeconds)
        return usage(QString::fromStdString(timeoutSeconds.error().message));
    const double timeoutS = *timeoutSeconds;
    wire::Submit submit;
    submit.set_model(parser.value(model).toStdString());
    submit.set_prompt(parser.value(prompt).toStdString());
    submit.set_max_tokens(static_cast<uint32_t>(*n));
    submit.set_temperature(sampler->temperature);
    submit.set_seed(sampler->seed);
    submit.set_top_k(sampler->topK);
    submit.set_top_p(sampler->topP);
    submit.set_min_p(sampler->minP);
    submit.set_repeat_penalty(sampler->repeatPenalty);
    submit.set_want_token_ids(parser.isSet(tokens));
    submit.set_request_id(1);
    submit.set_priority(parser.value(priority).toStdString());
    submit.set_quote_only(parser.isSet(quoteOnly));
    if (!QStringList{QStringLiteral("low"), QStringLiteral("normal"), QStringLiteral("high")}.contains(
            parser.value(priority)))
        return usage(
            QStringLiteral("--priority must be low, normal or high, got '%1'").arg(parser.value(priority)));

    net::ClientTlsOptions tlsOptions{parser.value(ca), parser.value(pin), false};
    auto socket = std::make_unique<QWebSocket>();
    QWebSocket* raw = socket.get();
    if (url.scheme() == QStringLiteral("wss")) {
        auto tls = net::clientTlsConfiguration(tlsOptions);
        if (!tls)
            return fail(QString::fromStdString(tls.error().message));
        raw->setSslConfiguration(*tls);
    }
    QEventLoop loop;
    int status = 1;
    bool first = true;
    QElapsedTimer clock;
    clock.start();
    net::Channel channel(std::move(socket), net::ChannelLimits{});
    auto finish = [&](int code) {
        status = code;
        loop.quit();
    };
    QObject::connect(raw, &QWebSocket::sslErrors, &loop, [&, raw](const QList<QSslError>& errors) {
        if (!tlsOptions.pinnedFingerprint.isEmpty() &&
            net::acceptPinnedCertificate(errors, raw->sslConfiguration().peerCertificate(),
                                         tlsOptions.pinnedFingerprint)) {
            raw->ignoreSslErrors(errors);
            return;
        }
        std::fprintf(
            err, "declai-cli: TLS: %s (pass the server's certificate with --ca FILE or --pin)\n",
            qPrintable(errors.isEmpty() ? QStringLiteral("handshake failed") : errors.first().errorString()));
    });
    QObject::connect(raw, &QWebSocket::connected, &loop, [&] {
        wire::Hello hello;
        hello.set_role(wire::CLIENT);
        hello.set_min_protocol_version(wire::kMinProtocolVersion);
        hello.set_max_protocol_version(wire::kProtocolVersion);
        hello.set_software(softwareName("declai-cli"));
        const QString key =
            parser.isSet(apiKey) ? parser.value(apiKey) : qEnvironmentVariable("DECLAI_API_KEY");
        hello.set_api_key(key.toStdString());
        channel.send(wire::HELLO, hello);
    });
    QObject::connect(&channel, &net::Channel::envelopeReceived, &loop, [&](const wire::Envelope& envelope) {
        switch (envelope.type()) {
        case wire::WELCOME:
            channel.send(wire::SUBMIT, submit);
            return;
        case wire::TOKEN: {
            auto token = wire::decodeBody<wire::Token>(envelope, wire::TOKEN);
            if (!token)
                return finish(fail(QString::fromStdString(token.error().message)));
            if (submit.want_token_ids())
                std::fprintf(out, first ? "%d" : " %d", token->token_id());
            else
                std::fwrite(token->text().data(), 1, token->text().size(), out);
            first = false;
            std::fflush(out);
            return;
        }
        case wire::DONE: {
            auto done = wire::decodeBody<wire::Done>(envelope, wire::DONE);
            if (done && done->quote_only()) {
                std::fprintf(
                    out,
                    "quote: %u prompt tokens + up to %u new tokens: at most %.6f credits (available %.6f)\n",
                    done->prompt_tokens(), submit.max_tokens(), done->cost_microcredits() / 1e6,
                    done->balance_microcredits() / 1e6);
                return finish(0);
            }
            if (done && !submit.want_token_ids())
                std::fwrite(done->text_tail().data(), 1, done->text_tail().size(), out);
            std::fputc('\n', out);
            std::fflush(out);
            if (done && parser.isSet(stats)) {
                const double seconds = done->total_ms() / 1000.0;
                // Decode speed: tokens after the first, over the time after the first.
                const double decodeSeconds = (done->total_ms() - done->time_to_first_token_ms()) / 1000.0;
                const double decodeTps = done->generated_tokens() > 1 && decodeSeconds > 0
                                             ? (done->generated_tokens() - 1) / decodeSeconds
                                             : 0.0;
                std::fprintf(err,
                             "declai-cli: %u prompt + %u generated tokens in %.2f s, first token after %u "
                             "ms, decode %.2f "
                             "tokens/s, %u failover(s), finish: %s\n",
                             done->prompt_tokens(), done->generated_tokens(), seconds,
                             done->time_to_first_token_ms(), decodeTps, done->failovers(),
                             done->finish_reason().c_str());
                if (done->cost_microcredits() > 0)
                    std::fprintf(err, "declai-cli: cost %.6f credits, %.6f credits left\n",
                                 done->cost_microcredits() / 1e6, done->balance_microcredits() / 1e6);
            }
            return finish(0);
        }
        case wire::FAILED: {
            auto failed = wire::decodeBody<wire::Failed>(envelope, wire::FAILED);
            if (!first)
                std::fputc('\n', out);
            return finish(fail(
                QStringLiteral("generation failed: %1")
                    .arg(failed ? QString::fromStdString(failed->reason()) : QStringLiteral("(no reason)"))));
        }
        case wire::REJECT: {
            auto reject = wire::decodeBody<wire::Reject>(envelope, wire::REJECT);
            return finish(fail(
                QStringLiteral("the server refused the connection: %1")
                    .arg(reject ? QString::fromStdString(reject->reason()) : QStringLiteral("(no reason)"))));
        }
        default:
            return;
        }
    });
    QObject::connect(&channel, &net::Channel::closed, &loop, [&](const QString& reason) {
        if (loop.isRunning())
            finish(fail(QStringLiteral("connection to %1 closed: %2").arg(url.toString(), reason)));
    });
    QTimer::singleShot(static_cast<int>(timeoutS * 1000), &loop,
                       [&] { finish(fail(QStringLiteral("no answer within %1 s").arg(timeoutS))); });
    raw->open(url);
    loop.exec();
    channel.close(QWebSocketProtocol::CloseCodeNormal, QStringLiteral("done"));
    return status;
}

} // namespace declai::cli
