// declai-test-node: declai-node plus two test-only flags, for the swarm tests; built only in tests/.
//   --stage-delay-ms N   sleep before each stage (a slow node)
//   --test-cheat MODE    random | skip | stale | sometimes (a dishonest node, for the verification tests)
#include "NodeMain.h"
#include "TestComputeHooks.h"

namespace {

declai::Expected<std::shared_ptr<declai::node::ComputeHooks>> takeTestOptions(QStringList& arguments) {
    int delayMs = 0;
    QString cheat;
    for (qsizetype i = 1; i < arguments.size();) {
        const QString name = arguments[i];
        if (name != QStringLiteral("--stage-delay-ms") && name != QStringLiteral("--test-cheat")) {
            ++i;
            continue;
        }
        if (i + 1 >= arguments.size())
            return declai::makeError(declai::ErrorCode::InvalidArgument,
                                     name.toStdString() + " needs a value");
        const QString value = arguments[i + 1];
        arguments.remove(i, 2);
        if (name == QStringLiteral("--stage-delay-ms")) {
            bool ok = false;
            delayMs = value.toInt(&ok);
            if (!ok || delayMs < 0 || delayMs > 600000)
                return declai::makeError(declai::ErrorCode::InvalidArgument,
                                         "--stage-delay-ms must be an integer in [0, 600000]");
        } else {
            if (!declai::testsupport::TestComputeHooks::isCheat(value))
                return declai::makeError(declai::ErrorCode::InvalidArgument,
                                         "--test-cheat must be random, skip, stale or sometimes");
            cheat = value;
        }
    }
    if (delayMs == 0 && cheat.isEmpty())
        return std::shared_ptr<declai::node::ComputeHooks>();
    return std::shared_ptr<declai::node::ComputeHooks>(
        std::make_shared<declai::testsupport::TestComputeHooks>(delayMs, cheat));
}

} // namespace

int main(int argc, char** argv) {
    return declai::node::runNodeMain(argc, argv, declai::node::NodeMainOptions{takeTestOptions});
}
