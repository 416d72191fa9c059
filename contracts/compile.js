// Standard-JSON compile of one contract with the pinned solcjs; writes ABI + bytecode.
"use strict";
const fs = require("fs");
const solc = require("solc");

const [source, out] = process.argv.slice(2);
const name = source.replace(/\.sol$/, "");
const input = {
  language: "Solidity",
  sources: { [source]: { content: fs.readFileSync(source, "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const contract = output.contracts[source][name];
const artifact = {
  contractName: name,
  compiler: "solc " + solc.version(),
  evmVersion: input.settings.evmVersion,
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
};
fs.writeFileSync(out, JSON.stringify(artifact, null, 2) + "\n");
console.log("wrote " + out + " (" + artifact.compiler + ")");
