#include "ApiOperations.h"

#include "declai/credit/LedgerTypes.h"
#include "declai/server/Orchestrator.h"

namespace declai::server::api {
namespace {

double credits(int64_t microcredits) {
    return static_cast<double>(microcredits) / static_cast<double>(credit::kMicrocreditsPerCredit);
}

} // namespace

std::variant<CompletionParams, ApiError> parseAnyCompletionParams(const QJsonObject& body,
                                                                  const ChatTemplateOf& templateOf) {
    const QJsonValue messages = body.value(QStringLiteral("messages"));
    const bool chat = !messages.isUndefined() && !messages.isNull();
    const QJsonValue prompt = body.value(QStringLiteral("prompt"));
    if (chat && !prompt.isUndefined() && !prompt.isNull())
        return invalidRequest(
            QStringLiteral("give either 'prompt' (a completion) or 'messages' (a chat), not both"),
            QStringLiteral("messages"));
    if (!chat && (prompt.isUndefined() || prompt.isNull()) && body.value(QStringLiteral("model")).isString())
        return invalidRequest(QStringLiteral("'prompt' (a completion) or 'messages' (a chat) is required"),
                              QStringLiteral("prompt"));
    return parseCompletionParams(body, chat, templateOf);
}

std::variant<QJsonObject, ApiError> quoteOperation(Orchestrator& orchestrator, const QJsonObject& body,
                                                   const ApiIdentity& caller,
                                                   const ChatTemplateOf& templateOf,
                                                   const std::string& connectionId, uint64_t requestId) {
    auto parsed = parseAnyCompletionParams(body, templateOf);
    if (auto* error = std::get_if<ApiError>(&parsed))
        return *error;
    const CompletionParams& params = std::get<CompletionParams>(parsed);
    SubmitRequest request = submitRequestOf(params, caller, connectionId, requestId);
    request.quoteOnly = true;
    auto result = orchestrator.submit(std::move(request), {});
    if (auto* refused = std::get_if<SubmitRefused>(&result))
        return refusalError(*refused);
    const SubmitAccepted& accepted = std::get<SubmitAccepted>(result);
    // Without credits nothing is priced (cost 0): every request is affordable.
    const bool sufficient = accepted.quoteMicrocredits <= accepted.balanceMicrocredits;
    return QJsonObject{{QStringLiteral("object"), QStringLiteral("quote")},
                       {QStringLiteral("model"), QString::fromStdString(params.model)},
                       {QStringLiteral("prompt_tokens"), qint64(accepted.promptTokens)},
                       {QStringLiteral("max_tokens"), qint64(accepted.maxTokens)},
                       {QStringLiteral("cost"), credits(accepted.quoteMicrocredits)},
                       {QStringLiteral("cost_microcredits"), qint64(accepted.quoteMicrocredits)},
                       {QStringLiteral("available"), credits(accepted.balanceMicrocredits)},
                       {QStringLiteral("available_microcredits"), qint64(accepted.balanceMicrocredits)},
                       {QStringLiteral("sufficient"), sufficient}};
}

} // namespace declai::server::api
