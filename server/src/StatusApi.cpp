#include "declai/server/StatusApi.h"

#include <QJsonArray>

namespace declai::server {

QJsonObject StatusApi::json() const {
    QJsonArray nodes;
    for (const auto& [id, node] : m_sources.nodes) {
        QJsonArray shards;
        for (const auto& [modelName, ranges] : node->readyShards)
            for (const LayerRange& r : ranges)
                shards.append(QJsonObject{{QStringLiteral("model"), QString::fromStdString(modelName)},
                                          {QStringLiteral("layer_begin"), qint64(r.begin)},
                                          {QStringLiteral("layer_end"), qint64(r.end)}});
        nodes.append(
            QJsonObject{{QStringLiteral("id"), QString::fromStdString(id)},
                        {QStringLiteral("accepting"), node->accepting()},
                        {QStringLiteral("active_sessions"), qint64(node->activeSessions)},
                        {QStringLiteral("stages_served"), qint64(node->stagesServed)},
                        {QStringLiteral("layer_tokens"), qint64(node->layerTokensComputed)},
                        {QStringLiteral("pending_assignments"), qint64(node->pendingAssignments.size())},
                        {QStringLiteral("reputation"), m_sources.reputation.toJson(id)},
                        {QStringLiteral("shards"), shards}});
    }
    QJsonArray models;
    for (const auto& [name, m] : m_sources.models)
        models.append(QJsonObject{{QStringLiteral("name"), QString::fromStdString(name)},
                                  {QStringLiteral("layers"), qint64(m->config().layerCount)},
                                  {QStringLiteral("gateway_layers"), qint64(m->nodeLayers().begin)},
                                  {QStringLiteral("digest"), QString::fromStdString(m->digest())}});
    QJsonArray sessions;
    for (const auto& [sid, session] : m_sources.sessions)
        sessions.append(
            QJsonObject{{QStringLiteral("model"), QString::fromStdString(session->modelName())},
                        {QStringLiteral("generated_tokens"), qint64(session->stats().generatedTokens)},
                        {QStringLiteral("failovers"), qint64(session->stats().failovers)},
                        {QStringLiteral("nodes"), [&, &session = session] { // clang 14: no binding capture
                             QJsonArray ids;
                             for (const auto& n : m_sources.nodes)
                                 if (session->usesNode(n.first))
                                     ids.append(QString::fromStdString(n.first));
                             return ids;
                         }()}});
    return QJsonObject{
        {QStringLiteral("nodes"), nodes},
        {QStringLiteral("models"), models},
        {QStringLiteral("sessions"), sessions},
        {QStringLiteral("sessions_completed"), qint64(m_sources.stats.sessionsCompleted)},
        {QStringLiteral("sessions_failed"), qint64(m_sources.stats.sessionsFailed)},
        {QStringLiteral("failovers"), qint64(m_sources.stats.failovers)},
        {QStringLiteral("bad_signatures"), qint64(m_sources.stats.badSignatures)},
        {QStringLiteral("protocol_violations"), qint64(m_sources.stats.protocolViolations)},
        {QStringLiteral("stray_stage_answers"), qint64(m_sources.stats.strayStageAnswers)},
        {QStringLiteral("stage_batch_frames"), qint64(m_sources.outbox.batchFramesSent())},
        {QStringLiteral("stage_requests_in_batches"), qint64(m_sources.outbox.requestsInBatches())},
        {QStringLiteral("hidden_bytes_sent"), qint64(m_sources.stats.hiddenBytesSent)},
        {QStringLiteral("stage_hops"), qint64(m_sources.stats.stageHops)},
        {QStringLiteral("tokens_generated"), qint64(m_sources.stats.tokensGenerated)},
        {QStringLiteral("verifications_passed"), qint64(m_sources.stats.verificationsPassed)},
        {QStringLiteral("verifications_failed"), qint64(m_sources.stats.verificationsFailed)},
        {QStringLiteral("verifications_skipped"), qint64(m_sources.stats.verificationsSkipped)},
        {QStringLiteral("quarantined_nodes"), qint64(m_sources.stats.cheatersQuarantined)},
        {QStringLiteral("node_compute_ms"), qint64(m_sources.stats.nodeComputeUs / 1000)},
        {QStringLiteral("verification_compute_ms"), qint64(m_sources.verifier.totalCheckUs() / 1000)},
        {QStringLiteral("verifications_pending"), qint64(m_sources.verifier.pendingJobs())}};
}

} // namespace declai::server
