// HTTP endpoints of accounts and node bindings on the gateway's QHttpServer:
//   POST /v1/accounts      self-registration (when the operator allows it), rate-limited per client address
//   GET  /v1/credits       the caller's balance, holds, pending earnings of its nodes, postings (cursor
//   paged) GET  /v1/jobs/{id}     a request of the caller's (its hold in the ledger) GET  /v1/nodes/bind what
//   a node signs: the caller's account, this gateway's audience, its clock POST /v1/nodes/bind    binds a
//   node (its signed message) to the caller's account
// Errors use OpenAI's error JSON. Database work runs on the ledger's store thread; the answer is built there
// and sent from the gateway thread, which never waits on the database. Documented in docs/api.md.
#pragma once

#include "declai/server/CreditService.h"

#include <QHttpServer>
#include <QJsonObject>
#include <functional>
#include <string>

namespace declai::server::api {

struct AccountRoutesOptions {
    std::string audience; // this gateway's identity (hex of its server.key public key), signed by nodes
    // The admission-queue place of a queued request by hold id (Orchestrator::queuePosition); called on the
    // gateway thread. Null: jobs never report "queued".
    std::function<std::optional<size_t>(const std::string& holdId)> queuePosition;
};

// An answer of an account operation: the HTTP status and its JSON body (OpenAI's error JSON when not 200).
struct AccountAnswer {
    int status = 200;
    QJsonObject body;
};

// The account's balance, holds, pending earnings and a page of postings: GET /v1/credits and the JSON-RPC
// balance and history methods. limit 1..500; cursor a next_cursor (0: the newest). `answer` runs on the
// ledger's store thread (at once, on the calling thread, for a refused limit or cursor).
void creditsOperation(CreditService& credits, const std::string& account, qlonglong cursor, int limit,
                      std::function<void(AccountAnswer)> answer);

// Registers the routes; credits must outlive http.
void registerAccountRoutes(QHttpServer& http, CreditService& credits, AccountRoutesOptions options);

} // namespace declai::server::api
