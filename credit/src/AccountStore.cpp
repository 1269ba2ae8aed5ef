#include "declai/credit/AccountStore.h"

#include "declai/core/Identity.h"
#include "declai/core/NodeBinding.h"
#include "declai/core/StrCat.h"
#include "declai/credit/Ledger.h"

#include <QByteArray>
#include <QCryptographicHash>
#include <QDateTime>
#include <cctype>
#include <cstdlib>

namespace declai::credit {

namespace {

constexpr std::string_view kKeyPrefix = "dk2_";
constexpr std::string_view kLegacyPrefix = "dk_";
constexpr size_t kKeyIdHexDigits = 16;
constexpr size_t kMaxKeyChars = 256;

std::string hexOf(std::string_view bytes) {
    return QByteArray(bytes.data(), static_cast<qsizetype>(bytes.size())).toHex().toStdString();
}

std::string sha256Hex(std::string_view bytes) {
    return QCryptographicHash::hash(QByteArrayView(bytes.data(), static_cast<qsizetype>(bytes.size())),
                                    QCryptographicHash::Sha256)
        .toHex()
        .toStdString();
}

// Compares two hex digests without an early exit, so timing does not tell how much of a guess matched.
bool sameDigest(const std::string& a, const std::string& b) {
    if (a.size() != b.size())
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

bool isHex(const std::string& text) {
    for (char c : text)
        if (!std::isxdigit(static_cast<unsigned char>(c)))
            return false;
    return true;
}

Error unauthorized(std::string message) {
    return makeError(ErrorCode::Unauthorized, std::move(message));
}

// Makes a fresh key for account: the secret once, the record to store.
IssuedKey newKey(const std::string& account, const NewKeyOptions& options, std::int64_t nowMs) {
    IssuedKey issued;
    const std::string id = hexOf(randomBytes(kKeyIdHexDigits / 2));
    const std::string secret = QByteArray::fromStdString(randomBytes(32))
                                   .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals)
                                   .toStdString();
    const std::string salt = randomBytes(16);
    issued.key = strCat(kKeyPrefix, id, "_", secret);
    ApiKeyRecord& r = issued.record;
    r.id = id;
    r.account = account;
    r.saltHex = hexOf(salt);
    r.hashHex = sha256Hex(salt + secret);
    r.createdAtMs = nowMs;
    r.expiresAtMs = options.expiresAtMs;
    r.spendLimit = options.spendLimit;
    r.label = options.label;
    return issued;
}

Expected<void> checkKeyOptions(const NewKeyOptions& options) {
    if (options.expiresAtMs < 0 || options.spendLimit < 0)
        return makeError(ErrorCode::InvalidArgument, "key expiry and spend limit must not be negative");
    if (options.label.size() > 200)
        return makeError(ErrorCode::InvalidArgument, "key label is longer than 200 bytes");
    return {};
}

// Where a presented key's record lives and how to hash it: (key id, secret part to hash).
Expected<std::pair<std::string, std::string>> parseKey(const std::string& apiKey) {
    if (apiKey.empty())
        return unauthorized("an API key is required");
    if (apiKey.size() > kMaxKeyChars)
        return unauthorized("malformed API key");
    if (apiKey.rfind(kKeyPrefix, 0) == 0) {
        const size_t idEnd = kKeyPrefix.size() + kKeyIdHexDigits;
        if (apiKey.size() <= idEnd + 1 || apiKey[idEnd] != '_')
            return unauthorized("malformed API key");
        const std::string id = apiKey.substr(kKeyPrefix.size(), kKeyIdHexDigits);
        if (!isHex(id))
            return unauthorized("malformed API key");
        return std::pair{id, apiKey.substr(idEnd + 1)};
    }
    if (apiKey.rfind(kLegacyPrefix, 0) == 0) {
        const std::string digest = sha256Hex(apiKey);
        return std::pair{strCat("legacy-", digest.substr(0, 32)), apiKey};
    }
    return unauthorized("malformed API key");
}

Expected<Caller> checkPresentedKey(LedgerSession& session, const std::string& id, const std::string& secret,
                                   std::int64_t nowMs) {
    auto record = session.accountRecords().findKey(id);
    if (!record)
        return record.error();
    // One message for unknown keys and wrong secrets: a caller learns nothing about which ids exist.
    if (!record->has_value())
        return unauthorized("unknown API key");
    const ApiKeyRecord& key = **record;
    const std::string salt = QByteArray::fromHex(QByteArray::fromStdString(key.saltHex)).toStdString();
    if (!sameDigest(sha256Hex(salt + secret), key.hashHex))
        return unauthorized("unknown API key");
    if (key.revokedAtMs != 0)
        return unauthorized(strCat("API key ", key.id, " was revoked"));
    if (key.expiresAtMs != 0 && nowMs >= key.expiresAtMs)
        return unauthorized(strCat("API key ", key.id, " has expired"));
    auto user = session.accountRecords().findUser(key.account);
    if (!user)
        return user.error();
    if (!user->has_value())
        return unauthorized("unknown API key");
    return Caller{key.account, (*user)->role, key.id};
}

// Inserts user, its ledger account and first key; Conflict when the name is taken.
Expected<IssuedKey> insertUser(LedgerSession& session, const NewUser& user, const IssuedKey& key) {
    auto existing = session.accountRecords().findUser(user.name);
    if (!existing)
        return existing.error();
    if (existing->has_value())
        return makeError(ErrorCode::Conflict, strCat("account '", user.name, "' already exists"));
    UserRecord record{user.name,   user.role,    key.record.createdAtMs,
                      user.origin, user.welcome, user.welcomeAmount};
    if (auto ok = session.accountRecords().insertUser(record); !ok)
        return ok.error();
    if (auto ok = ensureAccountIn(session, userAccount(user.name), AccountKind::User, record.createdAtMs);
        !ok)
        return ok.error();
    if (auto ok = session.accountRecords().insertKey(key.record); !ok)
        return ok.error();
    return key;
}

} // namespace

AccountStore::AccountStore(LedgerStore& store, std::function<std::int64_t()> nowMs)
    : m_store(store), m_nowMs(std::move(nowMs)) {}

std::int64_t AccountStore::now() const {
    return m_nowMs ? m_nowMs() : QDateTime::currentMSecsSinceEpoch();
}

Expected<void> AccountStore::checkName(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name)
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    if (!ok)
        return makeError(
            ErrorCode::InvalidArgument,
            strCat("account name '", name.substr(0, 80), "' must be 1-64 letters, digits, '-', '_' or '.'"));
    return {};
}

std::string AccountStore::bindingMessage(const std::string& account, const std::string& nodeId,
                                         const std::string& audience, std::int64_t timestampMs,
                                         const std::string& nonceHex) {
    return nodeBindingMessage(account, nodeId, audience, timestampMs, nonceHex);
}

Expected<IssuedKey> AccountStore::createUser(const NewUser& user, const NewKeyOptions& keyOptions) {
    if (auto ok = checkName(user.name); !ok)
        return ok.error();
    if (auto ok = checkKeyOptions(keyOptions); !ok)
        return ok.error();
    const IssuedKey key = newKey(user.name, keyOptions, now());
    return m_store.write<IssuedKey>(
        [user, key](LedgerSession& session) { return insertUser(session, user, key); });
}

Expected<IssuedKey> AccountStore::addKey(const std::string& account, const NewKeyOptions& keyOptions) {
    if (auto ok = checkKeyOptions(keyOptions); !ok)
        return ok.error();
    const IssuedKey key = newKey(account, keyOptions, now());
    return m_store.write<IssuedKey>([account, key](LedgerSession& session) -> Expected<IssuedKey> {
        auto user = session.accountRecords().findUser(account);
        if (!user)
            return user.error();
        if (!user->has_value())
            return makeError(ErrorCode::NotFound, strCat("no account '", account, "'"));
        if (auto ok = session.accountRecords().insertKey(key.record); !ok)
            return ok.error();
        return key;
    });
}

Expected<void> AccountStore::revokeKey(const std::string& keyId) {
    const std::int64_t at = now();
    auto revoked = m_store.write<bool>(
        [keyId, at](LedgerSession& session) { return session.accountRecords().revokeKey(keyId, at); });
    if (!revoked)
        return revoked.error();
    if (!*revoked)
        return makeError(ErrorCode::NotFound, strCat("no valid API key with id '", keyId, "'"));
    return {};
}

Expected<std::vector<UserRecord>> AccountStore::users() {
    return m_store.read<std::vector<UserRecord>>(
        [](LedgerSession& session) { return session.accountRecords().users(); });
}

Expected<std::optional<UserRecord>> AccountStore::user(const std::string& name) {
    return m_store.read<std::optional<UserRecord>>(
        [name](LedgerSession& session) { return session.accountRecords().findUser(name); });
}

Expected<std::vector<ApiKeyRecord>> AccountStore::keysOf(const std::string& account) {
    return m_store.read<std::vector<ApiKeyRecord>>(
        [account](LedgerSession& session) { return session.accountRecords().keysOf(account); });
}

Expected<Caller> AccountStore::authenticate(const std::string& apiKey) {
    auto parsed = parseKey(apiKey);
    if (!parsed)
        return parsed.error();
    const std::int64_t at = now();
    return m_store.read<Caller>([parsed = *parsed, at](LedgerSession& session) {
        return checkPresentedKey(session, parsed.first, parsed.second, at);
    });
}

void AccountStore::authenticateThen(const std::string& apiKey, std::function<void(Expected<Caller>)> done) {
    auto parsed = parseKey(apiKey);
    if (!parsed)
        return done(parsed.error()); // no database work: answered on the caller's thread
    const std::int64_t at = now();
    m_store.readThen<Caller>(
        [parsed = *parsed, at](LedgerSession& session) {
            return checkPresentedKey(session, parsed.first, parsed.second, at);
        },
        std::move(done));
}

Expected<void> AccountStore::reserveKeySpend(const std::string& keyId, Microcredits amount) {
    if (amount < 0)
        return makeError(ErrorCode::InvalidArgument, "a reservation must not be negative");
    auto done = m_store.write<bool>([keyId, amount](LedgerSession& session) -> Expected<bool> {
        auto key = session.accountRecords().findKey(keyId);
        if (!key)
            return key.error();
        if (!key->has_value())
            return makeError(ErrorCode::NotFound, strCat("no API key '", keyId, "'"));
        const ApiKeyRecord& k = **key;
        if (k.spendLimit > 0 && k.spent + amount > k.spendLimit)
            return makeError(ErrorCode::Forbidden,
                             strCat("API key ", keyId, " reached its spend limit: ", k.spent, " of ",
                                    k.spendLimit, " microcredits used, this request may cost up to ",
                                    amount));
        if (auto ok = session.accountRecords().addKeySpent(keyId, amount); !ok)
            return ok.error();
        return true;
    });
    if (!done)
        return done.error();
    return {};
}

Expected<void> AccountStore::returnKeySpend(const std::string& keyId, Microcredits amount) {
    if (amount <= 0)
        return {};
    auto done = m_store.write<bool>([keyId, amount](LedgerSession& session) -> Expected<bool> {
        if (auto ok = session.accountRecords().addKeySpent(keyId, -amount); !ok)
            return ok.error();
        return true;
    });
    if (!done)
        return done.error();
    return {};
}

void AccountStore::registerThen(const NewUser& user, const std::string& address, int maxPerWindow,
                                std::int64_t windowMs, std::function<void(Expected<IssuedKey>)> done) {
    if (auto ok = checkName(user.name); !ok)
        return done(ok.error());
    const std::int64_t at = now();
    const IssuedKey key = newKey(user.name, NewKeyOptions{}, at);
    m_store.writeThen<IssuedKey>(
        [user, key, address, maxPerWindow, windowMs, at](LedgerSession& session) -> Expected<IssuedKey> {
            AccountSession& records = session.accountRecords();
            if (auto ok = records.forgetRegistrations(at - windowMs); !ok)
                return ok.error();
            auto recent = records.registrationsSince(address, at - windowMs);
            if (!recent)
                return recent.error();
            if (*recent >= maxPerWindow)
                return makeError(ErrorCode::RateLimited,
                                 strCat("too many accounts registered from this address (", maxPerWindow,
                                        " per ", windowMs / 1000, " s)"));
            auto created = insertUser(session, user, key);
            if (!created)
                return created.error();
            if (auto ok = records.recordRegistration(address, at); !ok)
                return ok.error();
            return created;
        },
        std::move(done));
}

namespace {

struct CheckedBind {
    BindRequest request;
    std::string nodeId;
    std::string message;
};

Expected<CheckedBind> checkBind(const BindRequest& request, const std::string& expectedAudience,
                                std::int64_t maxSkewMs, std::int64_t nowMs) {
    if (auto ok = AccountStore::checkName(request.account); !ok)
        return ok.error();
    if (request.publicKey.size() != NodeIdentity::kPublicKeyBytes)
        return makeError(ErrorCode::InvalidArgument, "node_public_key must be 32 bytes (64 hex digits)");
    if (request.signature.size() != NodeIdentity::kSignatureBytes)
        return makeError(ErrorCode::InvalidArgument, "signature must be 64 bytes (128 hex digits)");
    if (request.nonceHex.size() < 32 || request.nonceHex.size() > 128 || !isHex(request.nonceHex))
        return makeError(ErrorCode::InvalidArgument, "nonce must be 32 to 128 hex digits");
    if (request.audience != expectedAudience)
        return makeError(ErrorCode::InvalidArgument,
                         "the binding was signed for another gateway (audience does not match this one)");
    if (std::llabs(nowMs - request.timestampMs) > maxSkewMs)
        return makeError(ErrorCode::InvalidArgument,
                         strCat("the binding's timestamp is more than ", maxSkewMs / 1000,
                                " s away from the gateway's clock"));
    CheckedBind checked{request, NodeIdentity::nodeIdOf(request.publicKey), {}};
    checked.message = AccountStore::bindingMessage(request.account, checked.nodeId, request.audience,
                                                   request.timestampMs, request.nonceHex);
    if (!NodeIdentity::verify(request.publicKey, checked.message, request.signature))
        return makeError(ErrorCode::Unauthorized, "the node's signature over the binding does not verify");
    return checked;
}

Expected<BindResult> applyBind(LedgerSession& session, const CheckedBind& checked, std::int64_t nowMs) {
    AccountSession& records = session.accountRecords();
    auto user = records.findUser(checked.request.account);
    if (!user)
        return user.error();
    if (!user->has_value())
        return makeError(ErrorCode::NotFound, strCat("no account '", checked.request.account, "'"));
    auto fresh = records.useNonce(checked.request.nonceHex, nowMs);
    if (!fresh)
        return fresh.error();
    if (!*fresh)
        return makeError(ErrorCode::Conflict, "this binding message was used before (replay refused)");
    auto existing = records.findBinding(checked.nodeId);
    if (!existing)
        return existing.error();
    if (existing->has_value()) {
        if ((*existing)->account == checked.request.account)
            return BindResult::AlreadyBound;
        // Never moved by the node or a new account: that would redirect its future earnings.
        return makeError(ErrorCode::Conflict,
                         strCat("node ", checked.nodeId.substr(0, 12),
                                " is bound to another account; only an operator can unbind it"));
    }
    NodeBinding binding{checked.nodeId,  checked.request.account,
                        nowMs,           hexOf(checked.request.publicKey),
                        checked.message, hexOf(checked.request.signature)};
    if (auto ok = records.insertBinding(binding); !ok)
        return ok.error();
    return BindResult::Bound;
}

} // namespace

Expected<BindResult> AccountStore::bindNode(const BindRequest& request, const std::string& expectedAudience,
                                            std::int64_t maxSkewMs) {
    const std::int64_t at = now();
    auto checked = checkBind(request, expectedAudience, maxSkewMs, at);
    if (!checked)
        return checked.error();
    return m_store.write<BindResult>(
        [checked = *checked, at](LedgerSession& session) { return applyBind(session, checked, at); });
}

void AccountStore::bindNodeThen(const BindRequest& request, const std::string& expectedAudience,
                                std::int64_t maxSkewMs, std::function<void(Expected<BindResult>)> done) {
    const std::int64_t at = now();
    auto checked = checkBind(request, expectedAudience, maxSkewMs, at);
    if (!checked)
        return done(checked.error());
    m_store.writeThen<BindResult>(
        [checked = *checked, at](LedgerSession& session) { return applyBind(session, checked, at); },
        std::move(done));
}

Expected<bool> AccountStore::unbindNode(const std::string& nodeId) {
    return m_store.write<bool>(
        [nodeId](LedgerSession& session) { return session.accountRecords().deleteBinding(nodeId); });
}

Expected<std::optional<NodeBinding>> AccountStore::bindingOf(const std::string& nodeId) {
    return m_store.read<std::optional<NodeBinding>>(
        [nodeId](LedgerSession& session) { return session.accountRecords().findBinding(nodeId); });
}

void AccountStore::creditsThen(const std::string& account, std::int64_t beforeTx, int limit,
                               std::function<void(Expected<CreditsView>)> done) {
    if (limit < 1 || limit > 500)
        return done(makeError(ErrorCode::InvalidArgument, "limit must be 1 to 500"));
    m_store.readThen<CreditsView>(
        [account, beforeTx, limit](LedgerSession& session) -> Expected<CreditsView> {
            auto user = session.accountRecords().findUser(account);
            if (!user)
                return user.error();
            if (!user->has_value())
                return makeError(ErrorCode::NotFound, strCat("no account '", account, "'"));
            CreditsView view;
            view.account = account;
            const std::string ledgerAccount = userAccount(account);
            auto own = session.balanceOf(ledgerAccount);
            auto held = session.balanceOf(escrowAccountFor(ledgerAccount));
            auto pending = session.balanceOf(pendingAccountFor(ledgerAccount));
            if (!own || !held || !pending)
                return !own ? own.error() : !held ? held.error() : pending.error();
            view.balance = Balance{*own, *held, *pending};
            if ((*user)->welcome == WelcomeRule::FirstWork)
                view.welcomeHeld = (*user)->welcomeAmount;
            auto nodes = session.accountRecords().bindingsOf(account);
            if (!nodes)
                return nodes.error();
            view.nodes = std::move(*nodes);
            for (const NodeBinding& node : view.nodes) {
                auto lots = session.balanceOf(pendingAccountFor(nodeAccount(node.nodeId)));
                if (!lots)
                    return lots.error();
                view.nodesPending += *lots;
            }
            auto page = session.accountRecords().postingsPage(ledgerAccount, beforeTx, limit + 1);
            if (!page)
                return page.error();
            view.postings = std::move(*page);
            if (static_cast<int>(view.postings.size()) > limit) {
                view.postings.resize(static_cast<size_t>(limit));
                view.nextCursor = view.postings.back().txId;
            }
            return view;
        },
        std::move(done));
}

void AccountStore::jobThen(const std::string& account, const std::string& holdId,
                           std::function<void(Expected<Hold>)> done) {
    m_store.readThen<Hold>(
        [account, holdId](LedgerSession& session) -> Expected<Hold> {
            auto hold = session.findHold(holdId);
            if (!hold)
                return hold.error();
            // Someone else's job looks exactly like a missing one.
            if (!hold->has_value() || (*hold)->account != userAccount(account))
                return makeError(ErrorCode::NotFound, "no such job");
            return **hold;
        },
        std::move(done));
}

Expected<int>
AccountStore::importLegacyUsers(const std::vector<std::pair<std::string, std::string>>& entries) {
    for (const auto& [name, digest] : entries) {
        if (auto ok = checkName(name); !ok)
            return ok.error();
        if (digest.size() != 64 || !isHex(digest))
            return makeError(ErrorCode::Format,
                             strCat("users.json: the key hash of '", name, "' is malformed"));
    }
    const std::int64_t at = now();
    // One transaction: the file is either migrated completely or not at all.
    return m_store.write<int>([entries, at](LedgerSession& session) -> Expected<int> {
        int created = 0;
        for (const auto& [name, digest] : entries) {
            ApiKeyRecord key;
            key.id = strCat("legacy-", digest.substr(0, 32));
            key.account = name;
            key.hashHex = digest;
            key.createdAtMs = at;
            key.label = "users.json";
            auto existingKey = session.accountRecords().findKey(key.id);
            if (!existingKey)
                return existingKey.error();
            if (existingKey->has_value())
                continue; // migrated before (another gateway sharing this database)
            auto existing = session.accountRecords().findUser(name);
            if (!existing)
                return existing.error();
            if (!existing->has_value()) {
                IssuedKey issued;
                issued.record = key;
                NewUser user{name, AccountRole::User, "users.json", WelcomeRule::FirstUse, 0};
                if (auto ok = insertUser(session, user, issued); !ok)
                    return ok.error();
                ++created;
            } else if (auto ok = session.accountRecords().insertKey(key); !ok) {
                return ok.error();
            }
        }
        return created;
    });
}

} // namespace declai::credit
