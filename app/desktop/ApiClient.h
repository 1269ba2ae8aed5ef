// The server's HTTP API as the dashboard uses it: models, credits, a cost quote and streamed completions
// (OpenAI-compatible, SSE). No widgets; every call is asynchronous on QNetworkAccessManager.
// Threading: lives on the GUI thread; replies and signals arrive there; nothing here blocks.
#pragma once

#include "SseParser.h"
#include "declai/network/TlsSetup.h"

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QNetworkAccessManager>
#include <QObject>
#include <QPointer>
#include <QUrl>
#include <optional>

class QNetworkReply;

namespace declai::desktop {

struct ApiEndpoint {
    QUrl baseUrl;              // https://host:port (derived from the node's wss:// address)
    net::ClientTlsOptions tls; // the same CA file / pin the node uses
    QString apiKey;            // the account's key (Bearer); empty = anonymous
    int transferTimeoutMs = 15000;

    // wss://host:port -> https://host:port, ws:// -> http://; anything else unchanged.
    static QUrl httpBaseFrom(const QUrl& serverUrl);
};

// Why a request failed, so a page can tell "the server does not offer this yet" from a real error.
struct ApiError {
    enum class Kind { NotOffered, Unauthorized, Network, Server, BadReply };
    Kind kind = Kind::Network;
    QString message;
    int httpStatus = 0; // 0: no HTTP answer
};

struct Posting {
    QDateTime at;
    double amount = 0;             // credits; positive = earned
    qint64 amountMicrocredits = 0; // exact (sums of many tiny earnings do not drift)
    QString kind;  // the ledger's: "earn_release" (earned), "grant", "hold", "settle", "release", ...
    QString memo;  // the ledger's reference
    QString jobId; // for a hold's postings: the request's id at GET /v1/jobs/{id}
};

// GET /v1/jobs/{id}: one request of the account and what it cost once closed.
struct JobStatus {
    QString id;
    QString status; // "running", "completed" or "refunded"
    qint64 costMicrocredits = 0;
};

// Credits this account earned by its nodes' verified work (not grants, not holds coming back).
inline bool isEarning(const Posting& p) {
    return p.amount > 0 && p.kind == QLatin1String("earn_release");
}

struct CreditSummary {
    QString account;
    double available = 0;
    double held = 0;
    double pending = 0; // earned, waiting for verification
    // Exact figures (the server's *_microcredits; derived from the credits where it does not send them).
    qint64 availableMicrocredits = 0;
    qint64 heldMicrocredits = 0;
    qint64 pendingMicrocredits = 0;
    QList<Posting> postings; // newest first
};

// POST /v1/quote (the same body as /v1/chat/completions): the most this request can cost and whether the
// account can pay it (docs/api.md). Microcredits (1 credit = 1,000,000) are exact; the page shows credits.
struct CostQuote {
    QString model;
    qint64 promptTokens = 0;
    qint64 maxTokens = 0;
    qint64 costMicrocredits = 0;       // the most the request can cost (prompt + max_tokens new tokens)
    qint64 availableMicrocredits = -1; // -1 = the server did not say
    bool sufficient = true;
};

struct ChatMessage {
    QString role; // "system", "user", "assistant"
    QString content;
};

struct CompletionRequest {
    QString model;
    QList<ChatMessage> messages; // chat; a single user message for a plain prompt
    int maxTokens = 128;
    double temperature = 0.8;
    double topP = 0.95;
    std::optional<qint64> seed;
};

struct CompletionUsage {
    qint64 promptTokens = 0;
    qint64 completionTokens = 0;
    double costCredits = -1; // -1 = the server did not say
    QString finishReason;
};

// One streamed completion. Emits delta() per piece of text, then exactly one of finished() / failed().
// stop() aborts the HTTP reply (the server releases the session and charges only what was generated).
class CompletionStream : public QObject {
    Q_OBJECT
public:
    explicit CompletionStream(QNetworkReply* reply, QObject* parent = nullptr);
    ~CompletionStream() override;
    void stop();
    bool isRunning() const { return !m_done; }

Q_SIGNALS:
    void delta(const QString& text);
    void finished(const declai::desktop::CompletionUsage& usage);
    void failed(const declai::desktop::ApiError& error);

private:
    void onReadyRead();
    void onFinished();
    void handleEvent(const QByteArray& data);
    void finishWith(const std::optional<ApiError>& error);

    QPointer<QNetworkReply> m_reply;
    SseParser m_parser;
    CompletionUsage m_usage;
    bool m_done = false;
    bool m_sawDone = false;
    bool m_stopped = false;
};

class ApiClient : public QObject {
    Q_OBJECT
public:
    explicit ApiClient(QObject* parent = nullptr);

    void setEndpoint(const ApiEndpoint& endpoint);
    const ApiEndpoint& endpoint() const { return m_endpoint; }
    bool isConfigured() const { return m_endpoint.baseUrl.isValid() && !m_endpoint.baseUrl.host().isEmpty(); }

    void fetchModels();
    void fetchCredits();
    void requestQuote(const CompletionRequest& request);
    void fetchJob(const QString& jobId);
    // Self-registration (POST /v1/accounts): a new account and its key.
    void createAccount(const QString& name);
    // The caller owns the stream (parented to this client until then; deleteLater when done with it).
    CompletionStream* startCompletion(const CompletionRequest& request);

    // Body of a chat completion request (exposed for tests).
    static QJsonObject completionBody(const CompletionRequest& request, bool stream);
    static std::optional<CreditSummary> parseCredits(const QJsonObject& body);
    static std::optional<CostQuote> parseQuote(const QJsonObject& body);
    static QStringList parseModels(const QJsonObject& body);
    static ApiError errorOf(QNetworkReply* reply);

Q_SIGNALS:
    void modelsReady(const QStringList& models);
    void modelsFailed(const declai::desktop::ApiError& error);
    void creditsReady(const declai::desktop::CreditSummary& credits);
    void creditsFailed(const declai::desktop::ApiError& error);
    void quoteReady(const declai::desktop::CostQuote& quote);
    void quoteFailed(const declai::desktop::ApiError& error);
    void jobReady(const declai::desktop::JobStatus& job);
    void jobFailed(const declai::desktop::ApiError& error);
    void accountCreated(const QString& account, const QString& key);
    void accountFailed(const declai::desktop::ApiError& error);

private:
    QNetworkRequest request(const QString& path) const;
    QNetworkReply* track(QNetworkReply* reply);

    ApiEndpoint m_endpoint;
    std::optional<QSslConfiguration> m_tls;
    QPointer<QNetworkReply> m_quoteReply; // only the newest quote counts (an older answer is aborted)
    QNetworkAccessManager m_network;
};

} // namespace declai::desktop

Q_DECLARE_METATYPE(declai::desktop::ApiError)
Q_DECLARE_METATYPE(declai::desktop::CompletionUsage)
