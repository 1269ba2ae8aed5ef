// Node identity (Ed25519 key file handling, signatures) and the anti-replay window.
#include "declai/core/Identity.h"
#include "declai/core/ReplayWindow.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <limits>
#include <set>

#ifdef Q_OS_UNIX
#include <sys/stat.h>
#endif

using declai::NodeIdentity;
using declai::PublicKey;
using declai::ReplayWindow;

namespace {

#ifdef Q_OS_UNIX
unsigned modeOf(const QString& path) {
    struct stat info {};
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return 0xffffffffu;
    return static_cast<unsigned>(info.st_mode & 07777);
}
#endif

bool isLowerHex(const std::string& s) {
    for (const char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

} // namespace

class TestIdentity : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void createsKeyWithOwnerOnlyPermissionsAndReloadsIt();
    void serverKeyUsesItsOwnFile();
    void nodeIdOfIsSha256OfThePublicKey();
    void refusesKeyReadableByOthers();
    void refusesGarbageKeyFile();
    void refusesNonEd25519Key();
    void refusesBadFileName();
    void signAndVerify();
    void verifyRejectsTampering();
    void parsedKeyVerifiesManyMessages();
    void verifyRejectsWrongLengths_data();
    void verifyRejectsWrongLengths();
    void authChallengeLayout();
    void randomBytesLengthAndVariety();

    void replayInOrder();
    void replayRejectsZero();
    void replayOutOfOrderWithinWindow();
    void replayDuplicates();
    void replayTooOld();
    void replayBigJump();
    void replayBitmapWrap();
    void replayWindowSizeClamped();
    void replayLargeWindowEdges();
    void replayMatchesReferenceModel();
};

void TestIdentity::createsKeyWithOwnerOnlyPermissionsAndReloadsIt() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string dataDir = dir.path().toStdString();

    auto first = NodeIdentity::loadOrCreate(dataDir);
    QVERIFY2(first, first ? "" : first.error().toString().c_str());
    const QString keyPath = dir.filePath(QStringLiteral("identity/node.key"));
    QVERIFY(QFile::exists(keyPath));
    QCOMPARE(first->keyFile(), keyPath.toStdString());
#ifdef Q_OS_UNIX
    QCOMPARE(modeOf(keyPath), 0600u);
    QCOMPARE(modeOf(dir.filePath(QStringLiteral("identity"))), 0700u);
#endif
    // No temporary files are left next to the key.
    QCOMPARE(QDir(dir.filePath(QStringLiteral("identity"))).entryList(QDir::Files).size(), 1);

    QFile file(keyPath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.readAll().startsWith("-----BEGIN PRIVATE KEY-----")); // PKCS#8
    file.close();

    QCOMPARE(first->nodeId().size(), size_t(64));
    QVERIFY(isLowerHex(first->nodeId()));
    QCOMPARE(first->shortId(), first->nodeId().substr(0, 12));
    QCOMPARE(first->publicKey().size(), NodeIdentity::kPublicKeyBytes);

    auto second = NodeIdentity::loadOrCreate(dataDir);
    QVERIFY2(second, second ? "" : second.error().toString().c_str());
    QCOMPARE(second->nodeId(), first->nodeId());
    QCOMPARE(second->publicKey(), first->publicKey());
    // The reloaded key signs for the same identity.
    const std::string signature = second->sign("hello");
    QVERIFY(NodeIdentity::verify(first->publicKey(), "hello", signature));
}

void TestIdentity::serverKeyUsesItsOwnFile() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto node = NodeIdentity::loadOrCreate(dir.path().toStdString());
    auto server = NodeIdentity::loadOrCreate(dir.path().toStdString(), "server.key");
    QVERIFY(node && server);
    QVERIFY(QFile::exists(dir.filePath(QStringLiteral("identity/server.key"))));
    QVERIFY(node->nodeId() != server->nodeId());
}

// The gateway names a node by NodeIdentity::nodeIdOf(the key from Hello); the node names itself by
// nodeId(). Both must be the same function of the key, and it is the documented SHA-256 (FIPS 180-2 vector).
void TestIdentity::nodeIdOfIsSha256OfThePublicKey() {
    QCOMPARE(NodeIdentity::nodeIdOf("abc"),
             std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    auto identity = NodeIdentity::generateInMemory();
    QVERIFY(identity);
    QCOMPARE(NodeIdentity::nodeIdOf(identity->publicKey()), identity->nodeId());
}

void TestIdentity::refusesKeyReadableByOthers() {
#ifndef Q_OS_UNIX
    QSKIP("POSIX permissions only");
#else
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string dataDir = dir.path().toStdString();
    QVERIFY(NodeIdentity::loadOrCreate(dataDir));
    const QString keyPath = dir.filePath(QStringLiteral("identity/node.key"));

    for (const unsigned mode : {0644u, 0640u, 0604u, 0660u}) {
        QCOMPARE(::chmod(QFile::encodeName(keyPath).constData(), mode), 0);
        auto loaded = NodeIdentity::loadOrCreate(dataDir);
        QVERIFY(!loaded);
        const std::string& message = loaded.error().message;
        QVERIFY2(message.find("chmod 600") != std::string::npos, message.c_str());
        QVERIFY2(message.find(keyPath.toStdString()) != std::string::npos, message.c_str());
    }
    // The key was refused, not replaced.
    QCOMPARE(::chmod(QFile::encodeName(keyPath).constData(), 0600), 0);
    QVERIFY(NodeIdentity::loadOrCreate(dataDir));
#endif
}

void TestIdentity::refusesGarbageKeyFile() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("identity")));
    const QString keyPath = dir.filePath(QStringLiteral("identity/node.key"));
    for (const QByteArray& garbage :
         {QByteArray("not a key at all\n"),
          QByteArray("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), QByteArray()}) {
        QFile file(keyPath);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(garbage);
        file.close();
        QVERIFY(file.setPermissions(QFile::ReadOwner | QFile::WriteOwner));

        auto loaded = NodeIdentity::loadOrCreate(dir.path().toStdString());
        QVERIFY(!loaded);
        QCOMPARE(loaded.error().code, declai::ErrorCode::Format);
        QVERIFY2(loaded.error().message.find(keyPath.toStdString()) != std::string::npos,
                 loaded.error().message.c_str());
        // Never silently replaced by a new key.
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll(), garbage);
        file.close();
    }
}

void TestIdentity::refusesNonEd25519Key() {
    // A valid PKCS#8 key of another type (X25519, which cannot sign).
    const QByteArray x25519 = "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VuBCIEIKjuvu5z2Cv69UZrV+HXGWqSfgZoSwkFaq9kn1N6/KFK\n"
                              "-----END PRIVATE KEY-----\n";
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("identity")));
    const QString keyPath = dir.filePath(QStringLiteral("identity/node.key"));
    QFile file(keyPath);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(x25519);
    file.close();
    QVERIFY(file.setPermissions(QFile::ReadOwner | QFile::WriteOwner));
    auto loaded = NodeIdentity::loadOrCreate(dir.path().toStdString());
    QVERIFY(!loaded);
    QVERIFY2(loaded.error().message.find(keyPath.toStdString()) != std::string::npos,
             loaded.error().message.c_str());
}

void TestIdentity::refusesBadFileName() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(!NodeIdentity::loadOrCreate(dir.path().toStdString(), "../escape.key"));
    QVERIFY(!NodeIdentity::loadOrCreate(dir.path().toStdString(), ""));
    QVERIFY(!NodeIdentity::loadOrCreate(""));
}

void TestIdentity::signAndVerify() {
    auto identity = NodeIdentity::generateInMemory();
    QVERIFY(identity);
    QVERIFY(identity->keyFile().empty());
    const std::string message = "stage request 42";
    const std::string signature = identity->sign(message);
    QCOMPARE(signature.size(), NodeIdentity::kSignatureBytes);
    QVERIFY(NodeIdentity::verify(identity->publicKey(), message, signature));
    // Ed25519 is deterministic.
    QCOMPARE(identity->sign(message), signature);
    // The empty message is a message like any other.
    QVERIFY(NodeIdentity::verify(identity->publicKey(), "", identity->sign("")));
}

void TestIdentity::verifyRejectsTampering() {
    auto identity = NodeIdentity::generateInMemory();
    auto other = NodeIdentity::generateInMemory();
    QVERIFY(identity && other);
    QVERIFY(identity->nodeId() != other->nodeId());
    const std::string message = "assign layers 0..15";
    const std::string signature = identity->sign(message);

    for (size_t bit = 0; bit < signature.size() * 8; bit += 7) {
        std::string flipped = signature;
        flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
        QVERIFY(!NodeIdentity::verify(identity->publicKey(), message, flipped));
    }
    std::string changedMessage = message;
    changedMessage[0] = static_cast<char>(changedMessage[0] ^ 1);
    QVERIFY(!NodeIdentity::verify(identity->publicKey(), changedMessage, signature));
    std::string changedKey = identity->publicKey();
    changedKey[5] = static_cast<char>(changedKey[5] ^ 0x20);
    QVERIFY(!NodeIdentity::verify(changedKey, message, signature));
    QVERIFY(!NodeIdentity::verify(other->publicKey(), message, signature));
    QVERIFY(!NodeIdentity::verify(identity->publicKey(), message, std::string(64, '\0')));
    QVERIFY(!NodeIdentity::verify(std::string(32, '\0'), message, signature));
}

void TestIdentity::parsedKeyVerifiesManyMessages() {
    auto identity = NodeIdentity::generateInMemory();
    auto other = NodeIdentity::generateInMemory();
    QVERIFY(identity && other);
    const PublicKey key = PublicKey::fromRaw(identity->publicKey());
    QVERIFY(key.valid());
    // One key object, many messages, as the gateway uses it for a node's answers; a copy shares it.
    const PublicKey copy = key;
    for (int i = 0; i < 20; ++i) {
        const std::string message = "stage answer " + std::to_string(i);
        const std::string signature = identity->sign(message);
        QVERIFY(key.verify(message, signature));
        QVERIFY(copy.verify(message, signature));
        QVERIFY(!key.verify(message + "x", signature));
        QVERIFY(!key.verify(message, other->sign(message)));
        QVERIFY(!key.verify(message, signature.substr(0, 63)));
    }
    // Keys of the wrong length give an empty key that verifies nothing.
    for (const size_t n : {size_t(0), size_t(31), size_t(33)}) {
        const PublicKey bad = PublicKey::fromRaw(std::string(n, '\x07'));
        QVERIFY(!bad.valid());
        QVERIFY(!bad.verify("m", identity->sign("m")));
    }
    QVERIFY(!PublicKey().verify("m", identity->sign("m")));
}

void TestIdentity::verifyRejectsWrongLengths_data() {
    QTest::addColumn<int>("keyBytes");
    QTest::addColumn<int>("signatureBytes");
    for (const int n : {0, 31, 33, 63, 65}) {
        QTest::addRow("key %d", n) << n << 64;
        QTest::addRow("signature %d", n) << 32 << n;
    }
    QTest::addRow("both empty") << 0 << 0;
}

void TestIdentity::verifyRejectsWrongLengths() {
    QFETCH(int, keyBytes);
    QFETCH(int, signatureBytes);
    auto identity = NodeIdentity::generateInMemory();
    QVERIFY(identity);
    const std::string signature = identity->sign("m");
    // Derive the malformed inputs from the real ones, so only the length is wrong.
    std::string key = identity->publicKey();
    key.resize(static_cast<size_t>(keyBytes), 'x');
    std::string sig = signature;
    sig.resize(static_cast<size_t>(signatureBytes), 'x');
    QVERIFY(!NodeIdentity::verify(key, "m", sig));
    QVERIFY(!NodeIdentity::verify(key, "", sig));
}

void TestIdentity::authChallengeLayout() {
    const std::string nonce(32, '\x01');
    const std::string key(32, '\x02');
    const std::string message = declai::authChallengeMessage(nonce, key);
    QCOMPARE(message, std::string("DECLAI-AUTH-1") + nonce + key);

    auto identity = NodeIdentity::generateInMemory();
    QVERIFY(identity);
    const std::string challenge = declai::randomBytes(32);
    const std::string signature =
        identity->sign(declai::authChallengeMessage(challenge, identity->publicKey()));
    QVERIFY(NodeIdentity::verify(identity->publicKey(),
                                 declai::authChallengeMessage(challenge, identity->publicKey()), signature));
    // A signature over the bare nonce does not answer the challenge.
    QVERIFY(!NodeIdentity::verify(identity->publicKey(),
                                  declai::authChallengeMessage(challenge, identity->publicKey()),
                                  identity->sign(challenge)));
}

void TestIdentity::randomBytesLengthAndVariety() {
    QCOMPARE(declai::randomBytes(0).size(), size_t(0));
    QCOMPARE(declai::randomBytes(1000).size(), size_t(1000));
    QVERIFY(declai::randomBytes(32) != declai::randomBytes(32));
}

// ---- ReplayWindow ---------------------------------------------------------------------------------------

void TestIdentity::replayInOrder() {
    ReplayWindow window;
    QCOMPARE(window.windowSize(), size_t(64));
    QCOMPARE(window.highest(), uint64_t(0));
    for (uint64_t seq = 1; seq <= 1000; ++seq) {
        QVERIFY(window.accept(seq));
        QCOMPARE(window.highest(), seq);
    }
    for (uint64_t seq = 1; seq <= 1000; ++seq)
        QVERIFY(!window.accept(seq));
}

void TestIdentity::replayRejectsZero() {
    ReplayWindow window;
    QVERIFY(!window.accept(0));
    QVERIFY(window.accept(1));
    QVERIFY(!window.accept(0));
    QCOMPARE(window.highest(), uint64_t(1));
}

void TestIdentity::replayOutOfOrderWithinWindow() {
    ReplayWindow window;
    QVERIFY(window.accept(10));
    QVERIFY(window.accept(5));
    QVERIFY(window.accept(9));
    QVERIFY(window.accept(1)); // 10 - 1 = 9 < 64
    QVERIFY(window.accept(12));
    QVERIFY(window.accept(11));
    QCOMPARE(window.highest(), uint64_t(12));
    for (const uint64_t seq : {1, 5, 9, 10, 11, 12})
        QVERIFY(!window.accept(seq));
    for (const uint64_t seq : {2, 3, 4, 6, 7, 8})
        QVERIFY(window.accept(seq));
}

void TestIdentity::replayDuplicates() {
    ReplayWindow window;
    QVERIFY(window.accept(7));
    QVERIFY(!window.accept(7));
    QVERIFY(window.accept(3));
    QVERIFY(!window.accept(3));
    QVERIFY(!window.accept(7));
    QCOMPARE(window.highest(), uint64_t(7));
}

void TestIdentity::replayTooOld() {
    ReplayWindow window(64);
    QVERIFY(window.accept(100));
    QVERIFY(window.accept(37));  // 100 - 37 = 63: the oldest still inside
    QVERIFY(!window.accept(36)); // 64 behind: outside
    QVERIFY(!window.accept(1));
    QVERIFY(window.accept(101)); // now 37 is 64 behind
    QVERIFY(!window.accept(38 - 1));
    QVERIFY(window.accept(38));
}

void TestIdentity::replayBigJump() {
    ReplayWindow window;
    QVERIFY(window.accept(1));
    QVERIFY(window.accept(2));
    QVERIFY(window.accept(1'000'000));
    QCOMPARE(window.highest(), uint64_t(1'000'000));
    QVERIFY(!window.accept(2));
    QVERIFY(!window.accept(1'000'000));
    QVERIFY(window.accept(999'999));
    QVERIFY(window.accept(1'000'000 - 63));
    QVERIFY(!window.accept(1'000'000 - 64));
    // Jumps to the end of the 64-bit range.
    const uint64_t top = std::numeric_limits<uint64_t>::max();
    QVERIFY(window.accept(top - 1));
    QVERIFY(window.accept(top));
    QVERIFY(!window.accept(top));
    QVERIFY(!window.accept(top - 1));
    QVERIFY(window.accept(top - 2));
    QVERIFY(!window.accept(999'999));
    // A jump of exactly the bitmap's size and a jump of one less.
    ReplayWindow w2(64);
    QVERIFY(w2.accept(5));
    QVERIFY(w2.accept(5 + 64));
    QVERIFY(!w2.accept(5));
    QVERIFY(w2.accept(6)); // 63 behind, never seen: its slot was cleared by the jump
    QVERIFY(w2.accept(6 + 63 + 63));
    QVERIFY(!w2.accept(6 + 63 + 63));
}

void TestIdentity::replayBitmapWrap() {
    // Slots are reused every bitmap length: a seq must not be refused because an older one left its bit in
    // the same slot, and one that was seen must stay refused after the slot pointer wrapped around it.
    ReplayWindow window(64);
    for (uint64_t seq = 2; seq <= 400; seq += 2)
        QVERIFY(window.accept(seq));
    // Odd numbers within the window were never seen, though their slots held older even ones.
    for (uint64_t seq = 400 - 63; seq < 400; ++seq)
        QCOMPARE(window.accept(seq), seq % 2 == 1);
    for (uint64_t seq = 400 - 63; seq <= 400; ++seq)
        QVERIFY(!window.accept(seq));
    // Advance by less than a bitmap, leaving gaps.
    QVERIFY(window.accept(430));
    for (uint64_t seq = 401; seq < 430; ++seq)
        QVERIFY(window.accept(seq));
    for (uint64_t seq = 430 - 63; seq <= 430; ++seq)
        QVERIFY(!window.accept(seq));
}

void TestIdentity::replayWindowSizeClamped() {
    QCOMPARE(ReplayWindow(0).windowSize(), size_t(32));
    QCOMPARE(ReplayWindow(31).windowSize(), size_t(32));
    QCOMPARE(ReplayWindow(100).windowSize(), size_t(100));
    QCOMPARE(ReplayWindow(5000).windowSize(), size_t(1024));

    // A size that is not a multiple of 64 still has the exact edge.
    ReplayWindow window(100);
    QVERIFY(window.accept(1000));
    QVERIFY(window.accept(901));
    QVERIFY(!window.accept(900));
}

void TestIdentity::replayLargeWindowEdges() {
    ReplayWindow window(1024);
    QVERIFY(window.accept(5000));
    QVERIFY(window.accept(5000 - 1023));
    QVERIFY(!window.accept(5000 - 1024));
    for (uint64_t seq = 5000 - 1022; seq < 5000; ++seq)
        QVERIFY(window.accept(seq));
    for (uint64_t seq = 5000 - 1023; seq <= 5000; ++seq)
        QVERIFY(!window.accept(seq));
}

void TestIdentity::replayMatchesReferenceModel() {
    // Compare with an obviously correct model (a set of everything seen) on a random, reordered stream
    // with duplicates, for several window sizes.
    for (const size_t size : {32u, 64u, 100u, 1024u}) {
        ReplayWindow window(size);
        std::set<uint64_t> seen;
        uint64_t highest = 0;
        uint64_t next = 1;
        quint32 state = 12345u + static_cast<quint32>(size);
        auto rnd = [&state] {
            state = state * 1664525u + 1013904223u;
            return state >> 8;
        };
        for (int i = 0; i < 20000; ++i) {
            uint64_t seq = 0;
            const quint32 pick = rnd() % 10;
            if (pick < 5)
                seq = next++;
            else if (pick < 8)
                seq = next > 1 ? next - 1 - rnd() % std::min<uint64_t>(next - 1, size + 20) : 0;
            else if (pick < 9)
                seq = next + rnd() % (3 * size), next = std::max(next, seq + 1);
            else
                seq = highest; // duplicate of the newest
            const bool expected = seq != 0 && !seen.count(seq) && (seq > highest || highest - seq < size);
            QCOMPARE(window.accept(seq), expected);
            if (expected) {
                seen.insert(seq);
                highest = std::max(highest, seq);
            }
            QCOMPARE(window.highest(), highest);
        }
    }
}

QTEST_GUILESS_MAIN(TestIdentity)
#include "tst_identity.moc"
