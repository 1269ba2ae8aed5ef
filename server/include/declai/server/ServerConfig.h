// declai-server's settings, from its command line. Parsing never exits the process: errors are values.
#pragma once

#include "declai/core/Error.h"
#include "declai/network/FrontDoor.h"
#include "declai/server/CreditService.h"
#include "declai/server/NodeJoinLimiter.h"
#include "declai/server/NodeReputation.h"
#include "declai/server/VerificationPolicy.h"

#include <QHostAddress>
#include <QString>
#include <QStringList>

namespace declai::server {

struct ServerConfig {
    QHostAddress listenAddress = QHostAddress::LocalHost;
    quint16 listenPort = 7420;
    QString listenHost = QStringLiteral("127.0.0.1"); // as given; goes into the certificate's names
    // --http-listen: a second listener for the HTTP API alone (same certificate, same limits).
    bool httpListen = false;
    QHostAddress httpListenAddress = QHostAddress::LocalHost;
    quint16 httpListenPort = 0;
    QString httpListenHost;
    QStringList apiOperators; // users whose API keys have the operator role (until roles live in the ledger)
    QString modelDir;
    QString dataDir;
    QString tlsCertFile; // empty: DATA_DIR/tls/server.crt (made on first start)
    QString tlsKeyFile;
    bool insecureDev = false; // plaintext ws:// and http:// (development only)
    int replicas = 0;         // 0 = automatic (see planPlacement)
    int minNodes = 1;         // first placement waits until this many nodes have reported
    int handshakeTimeoutMs = 10000;
    int stageTimeoutMs = 30000;     // a stage answer later than this counts as a node failure
    int failoverDeadlineMs = 60000; // give up on a session that cannot be re-routed within this time
    int chainWaitMs = 30000;        // how long a new request waits for placement to cover all layers
    // WebSocket frame/message caps, enforced on the frame header (close code 1009). Clients and peers that
    // have not finished the handshake send small messages; a node's largest is a stage replay of a whole
    // context: contextLength x embeddingLength x 4 bytes (see Gateway::nodeMessageBytes).
    uint64_t clientMaxMessageBytes = 1ull << 20;
    uint64_t nodeMaxMessageBytes = 0; // 0 = computed from the served models
    net::FrontDoorLimits frontDoor;   // accept, TLS handshake, HTTP header and connection limits
    int threads = 0; // gateway compute threads (embeddings, gateway layers, head); 0 = all cores
    // Layers [0, gatewayLayers) run on the gateway: nodes only ever see hidden states after them, never
    // embedding rows a lookup would turn back into tokens. At least 1; capped at a model's layer count.
    int gatewayLayers = 1;
    // A prompt runs in steps of at most this many tokens (chunked prefill): each chunk is one pass at each
    // stage, which other sessions' decode steps join, so a 2,000-token prompt delays them by one chunk's
    // pass, not by the whole prompt's. Smaller chunks: fairer, a little slower for the long prompt itself.
    // Rounded down to a multiple of 4 (at least 4): chunks then keep llama.cpp's rounding of the whole
    // prompt.
    int prefillChunkTokens = 32;
    QString wireEncoding = QStringLiteral("f32"); // hidden states on the wire: f32 (exact) or f16
    VerificationPolicy verification;
    ReputationPolicy reputation; // per-node timeouts, backoff, probation, assignment deadlines
    JoinLimitPolicy nodeJoins;   // new node identities per address
    CreditConfig credits;
    int maxSessions = 8;              // sessions running at once; more wait in the priority queue
    double highReserveShare = 0.25;   // share of maxSessions kept for HIGH priority
    int maxRequestsPerConnection = 4; // requests running or waiting from one client connection
    int maxRequestsPerAccount = 8;    // ... from one account over all its connections (credits on)

    static Expected<ServerConfig> fromArguments(const QStringList& arguments); // arguments[0] is the program
    static QString usage();
};

} // namespace declai::server
