#include "ApiOperations.h"

#include "declai/credit/LedgerTypes.h"
#include "declai/server/Orchestrator.h"

namespace declai::server::api {
namespace {

double credits(int64_t microcredits) {
    return static_cast<double>(microcredits) / static_cast<double>(credit::kMicrocreditsPerCredit);
}

QJsonObject quoteJson(const QString& model, const SubmitAccepted& accepted);

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

void quoteOperation(Orchestrator& orchestrator, const QJsonObject& body, const ApiIdentity& caller,
                    const ChatTemplateOf& templateOf, const std::string& connectionId, uint64_t requestId,
                    std::function<void(std::variant<QJsonObject, ApiError>)> answer) {
    auto parsed = parseAnyCompletionParams(body, templateOf);
    if (auto* error = std::get_if<ApiError>(&parsed))
        return answer(*error);
    const CompletionParams& params = std::get<CompletionParams>(parsed);
    SubmitRequest request = submitRequestOf(params, caller, connectionId, requestId);
    request.quoteOnly = true;
    SubmitCallbacks callbacks;
    callbacks.decided = [model = QString::fromStdString(params.model),
                         answer = std::move(answer)](const SubmitDecision& decision) {
        if (auto* refused = std::get_if<SubmitRefused>(&decision))
            return answer(refusalError(*refused));
        answer(quoteJson(model, std::get<SubmitAccepted>(decision)));
    };
    orchestrator.submit(std::move(request), std::move(callbacks));
}

namespace {

QJsonObject quoteJson(const QString& model, const SubmitAccepted& accepted) {
    // Without credits nothing is priced (cost 0): every request is affordable.
    const bool sufficient = accepted.quoteMicrocredits <= accepted.balanceMicrocredits;
    return QJsonObject{{QStringLiteral("object"), QStringLiteral("quote")},
                       {QStringLiteral("model"), model},
                       {QStringLiteral("prompt_tokens"), qint64(accepted.promptTokens)},
                       {QStringLiteral("max_tokens"), qint64(accepted.maxTokens)},
                       {QStringLiteral("cost"), credits(accepted.quoteMicrocredits)},
                       {QStringLiteral("cost_microcredits"), qint64(accepted.quoteMicrocredits)},
                       {QStringLiteral("available"), credits(accepted.balanceMicrocredits)},
                       {QStringLiteral("available_microcredits"), qint64(accepted.balanceMicrocredits)},
                       {QStringLiteral("sufficient"), sufficient}};
}

} // namespace

} // namespace declai::server::api
