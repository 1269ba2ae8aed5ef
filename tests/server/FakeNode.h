// A misbehaving volunteer for tests: speaks the node protocol with its own Ed25519 identity from inside the
// test process (so nothing like it ships in declai-node), and misbehaves in one chosen way. It runs on the
// test's event loop: wait with QTest::qWait (or Swarm-style polling), never with a blocking call.
#pragma once

#include "declai/core/GgufFile.h"
#include "declai/core/HiddenStates.h"
#include "declai/core/Identity.h"
#include "declai/core/NodeFileView.h"
#include "declai/core/ShardManifest.h"
#include "declai/core/ShardProof.h"
#include "declai/core/WireCodec.h"

#include <QElapsedTimer>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QTest>
#include <QWebSocket>
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
        : m_mode(mode), m_claim(std::move(claim)) {
        if (identity)
            m_identity = std::move(*identity);
        else if (auto id = NodeIdentity::generateInMemory())
            m_identity = std::move(*id);
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setCaCertificates(QSslCertificate::fromPath(caFile));
        m_socket.setSslConfiguration(tls);
        QObject::connect(&m_socket, &QWebSocket::binaryMessageReceived,
                         [this](const QByteArray& frame) { onFrame(frame); });
        QObject::connect(&m_socket, &QWebSocket::disconnected, [this] { m_closed = true; });
    }

    // Opens the connection and completes the handshake; true once welcomed.
    bool join(quint16 port, int timeoutMs = 10000) {
        connectTo(port);
        if (!waitUntil([this] { return m_welcomed || m_rejected || m_closed; }, timeoutMs) || !m_welcomed)
            return false;
        // A quarantined key is welcomed by the handshake and refused right after by the orchestrator.
        waitUntil([this] { return m_rejected || m_closed; }, 300);
        return !m_rejected && !m_closed;
    }

    // Starts the handshake without waiting (Hello once connected; Welcome is answered by a NodeStatus), for
    // callers that drive many nodes at once (tests/load/swarm_sim).
    void connectTo(quint16 port) {
        QObject::connect(&m_socket, &QWebSocket::connected, &m_socket, [this] {
            wire::Hello hello;
            hello.set_role(wire::NODE);
            hello.set_min_protocol_version(wire::kMinProtocolVersion);
            hello.set_max_protocol_version(wire::kProtocolVersion);
            hello.set_public_key(m_identity->publicKey());
            send(wire::HELLO, hello);
        });
        m_socket.open(QUrl(QStringLiteral("wss://127.0.0.1:%1").arg(port)));
    }
    // The periodic NodeStatus a declai-node sends (NodeConfig::statusIntervalMs).
    void heartbeat() { sendStatus(); }
    // What the status offers for assignments (default 8 GiB); 0: a volunteer with no room, never assigned.
    void setMemoryBudgetBytes(uint64_t bytes) { m_memoryBudgetBytes = bytes; }
    QWebSocket& socket() { return m_socket; }

    const NodeIdentity& identity() const { return *m_identity; }
    void leave() {
        m_socket.close();
        waitUntil([this] { return m_closed; }, 5000);
    }
    std::string nodeId() const { return m_nodeId; }
    bool welcomed() const { return m_welcomed; }
    bool rejected() const { return m_rejected; }
    bool closed() const { return m_closed; }
    wire::RejectCode rejectCode() const { return m_rejectCode; }
    QString rejectReason() const { return m_rejectReason; }
    int stageRequests() const { return m_stageRequests; }
    int assignments() const { return m_assignments; }

    template <typename F>
    static bool waitUntil(F done, int timeoutMs) {
        QElapsedTimer clock;
        clock.start();
        while (!done() && clock.elapsed() < timeoutMs)
            QTest::qWait(10);
        return done();
    }

private:
    void send(wire::MessageType type, const google::protobuf::MessageLite& body, bool sign = false) {
        wire::Envelope e;
        e.set_protocol_version(wire::kProtocolVersion);
        e.set_type(type);
        e.set_seq(++m_seq);
        e.set_body(body.SerializeAsString());
        if (sign)
            e.set_signature(m_identity->sign(wire::signedPayload(e, m_nonce)));
        const std::string bytes = e.SerializeAsString();
        m_socket.sendBinaryMessage(QByteArray(bytes.data(), qsizetype(bytes.size())));
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

    void onFrame(const QByteArray& frame) {
        wire::Envelope e;
        if (!e.ParseFromArray(frame.constData(), int(frame.size())))
            return;
        switch (e.type()) {
        case wire::CHALLENGE: {
            wire::Challenge challenge;
            challenge.ParseFromString(e.body());
            m_nonce = challenge.nonce();
            wire::ChallengeResponse response;
            response.set_signature(m_identity->sign(authChallengeMessage(m_nonce, m_identity->publicKey())));
            send(wire::CHALLENGE_RESPONSE, response);
            return;
        }
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
    QWebSocket m_socket;
    std::string m_nonce;
    std::string m_nodeId;
    uint64_t m_seq = 0;
    bool m_welcomed = false;
    bool m_rejected = false;
    bool m_closed = false;
    wire::RejectCode m_rejectCode = wire::REJECT_CODE_UNSPECIFIED;
    QString m_rejectReason;
    int m_stageRequests = 0;
    int m_assignments = 0;
    uint64_t m_memoryBudgetBytes = 8ull << 30;
    std::optional<GgufFile> m_file; // the claimed model and its node view, opened at the first challenge
    std::optional<NodeFileView> m_view;
};

} // namespace declai::testdata
