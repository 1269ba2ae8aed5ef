// The document GET /v1/status serves (nodes with their shards and reputation, models, running sessions and
// the orchestrator's counters), for operators, tests and the app. It only reads what the orchestrator's
// parts hold, by reference: they outlive it. Threading: main thread only.
#pragma once

#include "declai/server/GatewayModel.h"
#include "declai/server/GenerationSession.h"
#include "declai/server/Links.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/OrchestratorStats.h"
#include "declai/server/StageOutbox.h"
#include "declai/server/Verifier.h"

#include <QJsonObject>
#include <map>
#include <memory>
#include <string>

namespace declai::server {

class StatusApi {
public:
    struct Sources {
        const std::map<std::string, std::unique_ptr<NodeLink>>& nodes;
        const std::map<std::string, std::unique_ptr<GatewayModel>>& models;
        const std::map<uint64_t, std::unique_ptr<GenerationSession>>& sessions;
        const OrchestratorStats& stats;
        const NodeReputation& reputation;
        const StageOutbox& outbox;
        const Verifier& verifier;
    };
    explicit StatusApi(Sources sources) : m_sources(sources) {}

    QJsonObject json() const;

private:
    Sources m_sources;
};

} // namespace declai::server
