// A misbehaving volunteer for tests: speaks the node protocol with its own Ed25519 identity from inside the
// test process (so nothing like it ships in declai-node), and misbehaves in one chosen way. Built on
// ProtocolPeer (connection, handshake, envelopes); this file only holds the behaviour. It runs on the test's
// event loop: wait with QTest::qWait (or Swarm-style polling), never with a blocking call.
#pragma once

#include "ProtocolPeer.h"
#include "declai/core/GgufFile.h"
#include "declai/core/HiddenStates.h"
#include "declai/core/Identity.h"
#include "declai/core/NodeFileView.h"
#include "declai/core/ShardManifest.h"
#include "declai/core/ShardProof.h"
#include "declai/core/WireCodec.h"

#include <cstring>
#include <limits>
#include <optional>

namespace declai::testdata {

enum class Misbehaviour {
    Silent,     // accepts layers and stage requests, never answers them
    Hoard,      // accepts assignments, never reports them ready
    NaNAnswer,  // answers every stage with NaN rows of the right shape
    WrongSize,  // answers with fewer values than its header says
    HugeValues, // finite rows of absurd magnitude (1e30): poison that passes a NaN check
    Polite,     // only joins (for join-rate tests)
};

class FakeNode {
public:
    // Layers [firstLayer, layers) of a model, as a node that holds them announces them. With `modelPath`
    // (the gateway's own file) the fake node answers possession challenges correctly, as a cheater that
    // fetched the bytes would; without it, its claim is never routed to.
    struct Claim {
        std::string model;
        std::string digest;
        uint32_t layers = 0;
        uint32_t firstLayer = 0;
        QString modelPath;
    };

    // `claim`: shards to announce at once (all layers of a model), as a node that already holds them would.
    FakeNode(Misbehaviour mode, const QString& caFile, std::optional<Claim> claim = std::nullopt,
             std::optional<NodeIdentity> identity = std::nullopt)
        : m_mode(mode), m_claim(std::move(claim)), m_peer(caFile) {
        if (identity)
            m_identity = std::move(*identity);
        else if (auto id = NodeIdentity::generateInMemory())
            m_identity = std::move(*id);
        m_peer.keepEnvelopes = false; // it only reacts; a long run must not keep every stage request
        m_peer.onEnvelope = [this](const wire::Envelope& e) { onEnvelope(e); };
    }

    // Opens the connection and completes the handshake; true once welcomed.
    bool join(quint16 port, int timeoutMs = 10000) {
        connectTo(port);
        if (!waitUntil([this] { return m_welcomed || m_rejected || closed(); }, timeoutMs) || !m_welcomed)
            return false;
        // A quarantined key is welcomed by the handshake and refused right after by the orchestrator.
        waitUntil([this] { return m_rejected || closed(); }, 300);
        return !m_rejected && !closed();
    }

    // Starts the handshake without waiting (Hello once connected; Welcome is answered by a NodeStatus), for
    // callers that drive many nodes at once (tests/load/swarm_sim).
    void connectTo(quint16 port) {
        m_peer.startNodeHandshake(port, *m_identity,
                                  nodeHello(*m_identity, /*stageBatches=*/false, wire::kMinProtocolVersion));
    }
    // The periodic NodeStatus a declai-node sends (NodeConfig::statusIntervalMs).
    void heartbeat() { sendStatus(); }
    // What the status offers for assignments (default 8 GiB); 0: a volunteer with no room, never assigned.
    void setMemoryBudgetBytes(uint64_t bytes) { m_memoryBudgetBytes = bytes; }
    QWebSocket& socket() { return m_peer.socket; }

    const NodeIdentity& identity() const { return *m_identity; }
    void leave() {
        m_peer.socket.close();
        waitUntil([this] { return closed(); }, 5000);
    }
    std::string nodeId() const { return m_nodeId; }
    bool welcomed() const { return m_welcomed; }
    bool rejected() const { return m_rejected; }
    bool closed() const { return m_peer.closed; }
    wire::RejectCode rejectCode() const { return m_rejectCode; }
    QString rejectReason() const { return m_rejectReason; }
    int stageRequests() const { return m_stageRequests; }
    int assignments() const { return m_assignments; }

    template <typename F>
    static bool waitUntil(F done, int timeoutMs) {
        return ProtocolPeer::waitUntil(done, timeoutMs);
    }

private:
    void send(wire::MessageType type, const google::protobuf::MessageLite& body, bool sign = false) {
        if (sign)
            m_peer.sendSigned(type, body, *m_identity);
        else
            m_peer.send(type, body);
    }

    void sendStatus() {
        wire::NodeStatus status;
        wire::DeviceInfo* device = status.add_devices();
        device->set_id("cpu");
        device->set_name("fake");
        device->set_layer_tokens_per_s(1e12); // self-reported: claims to be the fastest node there is
        status.set_accepting_sessions(true);
        status.set_memory_budget_bytes(m_memoryBudgetBytes);
        status.set_max_sessions(64);
        if (m_claim) {
            wire::ShardHeld* held = status.add_shards();
            held->set_model(m_claim->model);
            held->set_model_digest(m_claim->digest);
            held->set_layer_begin(m_claim->firstLayer);
            held->set_layer_end(m_claim->layers);
        }
        send(wire::NODE_STATUS, status);
    }

    void answer(const wire::StageRequest& request) {
        const uint32_t rows = request.return_last_rows() ? request.return_last_rows() : request.n_tokens();
        const uint32_t dim = request.hidden_size();
        wire::StageResponse response;
        response.set_session_id(request.session_id());
        response.set_step(request.step());
        response.set_layer_begin(request.layer_begin());
        response.set_layer_end(request.layer_end());
        response.set_hidden_size(dim);
        response.set_n_tokens(rows);
        response.set_encoding(wire::F32);
        const size_t values = size_t(rows) * dim;
        std::string hidden;
        switch (m_mode) {
        case Misbehaviour::NaNAnswer:
            hidden.resize(values * sizeof(float));
            for (size_t i = 0; i < values; ++i) {
                const float nan = std::numeric_limits<float>::quiet_NaN();
                std::memcpy(hidden.data() + i * sizeof(float), &nan, sizeof(float));
            }
            break;
        case Misbehaviour::WrongSize:
            hidden.assign(values * sizeof(float) / 2, '\0');
            break;
        default: { // HugeValues
            std::vector<float> huge(values, 1e30f);
            for (size_t i = 0; i < values; i += 2)
                huge[i] = -1e30f;
            hidden = wire::encodeHidden(huge, wire::F32);
        }
        }
        response.set_hidden(hidden);
        send(wire::STAGE_RESPONSE, response, true);
    }

    // Answers a possession challenge from the gateway's own file, through the same view a node downloads.
    void prove(const wire::ShardChallenge& challenge) {
        wire::ShardProof proof;
        proof.set_challenge_id(challenge.challenge_id());
        if (!m_claim || m_claim->modelPath.isEmpty()) {
            proof.set_error("this fake node holds nothing");
            send(wire::SHARD_PROOF, proof, true);
            return;
        }
        if (!m_view) {
            auto file = GgufFile::open(m_claim->modelPath.toStdString());
            if (!file)
                return;
            m_file.emplace(std::move(*file));
            auto manifest = ShardManifest::compute(*m_file);
            if (!manifest)
                return;
            auto view = NodeFileView::create(*m_file, *manifest);
            if (!view)
                return;
            m_view.emplace(std::move(*view));
        }
        ShardProofHasher hasher(challenge.nonce());
        for (const wire::ByteSpan& range : challenge.ranges()) {
            std::vector<std::byte> bytes(range.length());
            if (!m_view->read(*m_file, range.offset(), range.length(), bytes.data()))
                return;
            hasher.addRange(range.offset(), bytes);
        }
        proof.set_proof(hasher.result());
        send(wire::SHARD_PROOF, proof, true);
    }

    // The Challenge is answered by the peer itself (startNodeHandshake).
    void onEnvelope(const wire::Envelope& e) {
        switch (e.type()) {
        case wire::WELCOME: {
            wire::Welcome welcome;
            welcome.ParseFromString(e.body());
            m_nodeId = welcome.peer_id();
            m_welcomed = true;
            sendStatus();
            return;
        }
        case wire::REJECT: {
            wire::Reject reject;
            reject.ParseFromString(e.body());
            m_rejected = true;
            m_rejectCode = reject.code();
            m_rejectReason = QString::fromStdString(reject.reason());
            return;
        }
        case wire::ASSIGN_LAYERS: {
            ++m_assignments;
            if (m_mode == Misbehaviour::Hoard)
                return; // keeps the layers to itself, forever
            wire::AssignLayers assignment;
            assignment.ParseFromString(e.body());
            wire::ShardReady ready;
            ready.set_assignment_id(assignment.assignment_id());
            ready.set_ok(true); // claims to hold them without downloading anything
            send(wire::SHARD_READY, ready);
            return;
        }
        case wire::SHARD_CHALLENGE: {
            wire::ShardChallenge challenge;
            if (challenge.ParseFromString(e.body()))
                prove(challenge);
            return;
        }
        case wire::STAGE_REQUEST: {
            ++m_stageRequests;
            if (m_mode == Misbehaviour::Silent || m_mode == Misbehaviour::Hoard ||
                m_mode == Misbehaviour::Polite)
                return;
            wire::StageRequest request;
            if (request.ParseFromString(e.body()))
                answer(request);
            return;
        }
        default:
            return;
        }
    }

    Misbehaviour m_mode;
    std::optional<Claim> m_claim;
    std::optional<NodeIdentity> m_identity;
    std::string m_nodeId;
    bool m_welcomed = false;
    bool m_rejected = false;
    wire::RejectCode m_rejectCode = wire::REJECT_CODE_UNSPECIFIED;
    QString m_rejectReason;
    int m_stageRequests = 0;
    int m_assignments = 0;
    uint64_t m_memoryBudgetBytes = 8ull << 30;
    std::optional<GgufFile> m_file; // the claimed model and its node view, opened at the first challenge
    std::optional<NodeFileView> m_view;
    // Last, so it goes first: its callbacks reach into the members above.
    ProtocolPeer m_peer;
};

} // namespace declai::testdata
