// The API's operations, independent of the transport that carries them: the HTTP routes (HttpApi) and the
// gateway WebSocket's JSON-RPC face call these same functions, so checks, pricing and answers are written
// once. Each takes a parsed JSON object and answers a JSON object or an ApiError (OpenAI's error with its
// HTTP status; JSON-RPC maps the status to its own error codes).
// Threading: gateway thread only (they call the Orchestrator).
#pragma once

#include "CompletionsHandler.h"
#include "HttpReply.h"
#include "declai/server/ApiKeyAuthenticator.h"

#include <QJsonObject>
#include <functional>
#include <string>
#include <variant>

namespace declai::server {
class Orchestrator;
}

namespace declai::server::api {

using ChatTemplateOf = std::function<std::string(const std::string&)>;

// A body that is a completion request (with "prompt") or a chat request (with "messages", rendered with the
// model's chat template), checked exactly as for generation (a quote checks and then ignores the fields that
// only shape an answer: stream, stop ...). Used by POST /v1/quote and the JSON-RPC methods.
std::variant<CompletionParams, ApiError> parseAnyCompletionParams(const QJsonObject& body,
                                                                  const ChatTemplateOf& templateOf);

// What a request would cost at most (the hold the submit path would place: Orchestrator::submit with
// quoteOnly, so the price is computed in one place) and whether the caller's available balance covers it:
// {"object":"quote","model","prompt_tokens","max_tokens","cost","cost_microcredits","available",
//  "available_microcredits","sufficient"}. Nothing runs and nothing is held. connectionId and requestId
// only feed the orchestrator's per-connection limits and logs. `answer` runs once on the gateway thread:
// inside this call for a request refused before pricing, else when the ledger has read the balance (the
// caller checks that its client is still there).
void quoteOperation(Orchestrator& orchestrator, const QJsonObject& body, const ApiIdentity& caller,
                    const ChatTemplateOf& templateOf, const std::string& connectionId, uint64_t requestId,
                    std::function<void(std::variant<QJsonObject, ApiError>)> answer);

} // namespace declai::server::api
