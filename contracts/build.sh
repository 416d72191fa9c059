#!/bin/sh
# Reproducible, offline compile of AnchorRegistry.sol with solcjs from npm.
#
#   cd contracts && npm ci && ./build.sh
#
# The compiler version is pinned in package.json / package-lock.json (solc 0.8.28, the
# compiler ships inside the npm package; nothing is downloaded at compile time). The
# standard-JSON input pins optimizer and EVM version ("cancun": accepted by py-evm's
# Prague VM used by eth-tester and by current public chains). The output
# ledger/anchor/AnchorRegistry.json (ABI + creation bytecode) is committed, so the
# gateway never compiles at run time. Re-running this script reproduces it byte for byte.
set -eu
cd "$(dirname "$0")"
exec node compile.js AnchorRegistry.sol ../ledger/anchor/AnchorRegistry.json
