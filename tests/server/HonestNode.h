// An honest volunteer written against the protocol from inside a test (nothing like it ships in declai-node):
// downloads what it is assigned (ShardDownloader, as declai-node does), proves possession, runs its layers
// with the CPU engine, and keeps every row it received and every frame the gateway sent it (the privacy
// tests search those). It lives on the test's event loop; wait with QTest::qWait, never block.
#pragma once

#include "HonestAnswer.h"
#include "ProtocolPeer.h"
#include "declai/core/HiddenStates.h"
#include "declai/core/Identity.h"
#include "declai/core/ShardProof.h"
#include "declai/core/WireCodec.h"
#include "declai/gpu/ShardExecutor.h"
#include "declai/network/ShardDownloader.h"

#include <QFile>
#include <QNetworkAccessManager>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace declai::testdata {

// An honest volunteer written against the protocol: downloads what it is assigned (ShardDownloader, as
// declai-node does), proves possession, runs its layers with the CPU engine, and records every input row.
struct HonestNode {
    ProtocolPeer peer;
    NodeIdentity id;
    QNetworkAccessManager network;
    QString cacheDir;
    std::unique_ptr<net::ShardDownloader> downloader;
    ThreadPool pool{1};
    std::shared_ptr<const ModelWeights> weights;
    std::unique_ptr<ShardExecutor> executor;
    LayerRange held;
    std::string digest;
    QString localPath;
    std::vector<float> inputs; // every row received in a StageRequest
    std::vector<uint32_t> layerBegins;
    QString problem;
    bool takesBatches = false; // announce StageBatch in the handshake (set before join)
    int batchesReceived = 0;

    HonestNode(const QString& ca, const QString& cache, NodeIdentity identity)
        : peer(ca), id(std::move(identity)), cacheDir(cache) {
        peer.onEnvelope = [this, ca](const wire::Envelope& e) { react(e, ca); };
    }

    void react(const wire::Envelope& e, const QString& ca) {
        if (e.type() == wire::ASSIGN_LAYERS) {
            wire::AssignLayers a;
            a.ParseFromString(e.body());
            downloader = std::make_unique<net::ShardDownloader>(network, cacheDir, uint64_t(1) << 30);
            QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
            tls.setCaCertificates(QSslCertificate::fromPath(ca));
            downloader->setTlsConfiguration(tls);
            QObject::connect(downloader.get(), &net::ShardDownloader::finished,
                             [this, a](const QString& path) {
                                 auto loaded = ModelWeights::load(path.toStdString());
                                 wire::ShardReady ready;
                                 ready.set_assignment_id(a.assignment_id());
                                 if (!loaded) {
                                     problem = QString::fromStdString(loaded.error().message);
                                     ready.set_error(loaded.error().message);
                                 } else {
                                     weights = *loaded;
                                     held = LayerRange{a.layer_begin(), a.layer_end()};
                                     digest = a.model_digest();
                                     localPath = path;
                                     auto created = ShardExecutor::create(weights, held, pool);
                                     if (created)
                                         executor = std::move(*created);
                                     ready.set_ok(bool(executor));
                                 }
                                 peer.send(wire::SHARD_READY, ready);
                             });
            QObject::connect(downloader.get(), &net::ShardDownloader::failed,
                             [this](const QString& reason) { problem = reason; });
            downloader->start(QUrl(QString::fromStdString(a.manifest_url())),
                              QUrl(QString::fromStdString(a.file_url())),
                              QString::fromStdString(a.model_digest()), a.layer_begin(), a.layer_end(), true);
        } else if (e.type() == wire::SHARD_CHALLENGE) {
            wire::ShardChallenge c;
            c.ParseFromString(e.body());
            QFile file(localPath);
            wire::ShardProof proof;
            proof.set_challenge_id(c.challenge_id());
            ShardProofHasher hasher(c.nonce());
            if (file.open(QIODevice::ReadOnly)) {
                for (const wire::ByteSpan& r : c.ranges()) {
                    file.seek(qint64(r.offset()));
                    const QByteArray bytes = file.read(qint64(r.length()));
                    hasher.addRange(r.offset(),
                                    std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))));
                }
            }
            proof.set_proof(hasher.result());
            peer.sendSigned(wire::SHARD_PROOF, proof, id);
        } else if (e.type() == wire::STAGE_REQUEST) {
            wire::StageRequest r;
            r.ParseFromString(e.body());
            peer.sendSigned(wire::STAGE_RESPONSE, answer(r), id);
        } else if (e.type() == wire::STAGE_BATCH) {
            wire::StageBatch batch;
            batch.ParseFromString(e.body());
            ++batchesReceived;
            wire::StageBatchResponse answers;
            for (const wire::StageRequest& r : batch.requests())
                *answers.add_responses() = answer(r);
            peer.sendSigned(wire::STAGE_BATCH_RESPONSE, answers, id);
        } else if (e.type() == wire::END_SESSION) {
            wire::EndSession end;
            end.ParseFromString(e.body());
            if (executor)
                executor->endSession(end.session_id());
        }
    }

    // One request, run alone (a batch's requests are run one after the other: the numbers are the same).
    wire::StageResponse answer(const wire::StageRequest& r) {
        return testsupport::honestStageAnswer(executor.get(), held, r, [&](const std::vector<float>& rows) {
            inputs.insert(inputs.end(), rows.begin(), rows.end());
            layerBegins.push_back(r.layer_begin());
        });
    }

    bool join(quint16 port) {
        if (!peer.nodeHandshake(port, id, takesBatches))
            return false;
        wire::NodeStatus status;
        status.set_accepting_sessions(true);
        status.set_memory_budget_bytes(uint64_t(1) << 30);
        status.set_disk_budget_bytes(uint64_t(1) << 30);
        status.set_max_sessions(4);
        peer.send(wire::NODE_STATUS, status);
        return true;
    }
};

} // namespace declai::testdata
