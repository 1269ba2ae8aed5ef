// declai-node: the contributor engine without widgets, for servers and labs (NodeMain.h).
#include "NodeMain.h"

int main(int argc, char** argv) {
    return declai::node::runNodeMain(argc, argv);
}
