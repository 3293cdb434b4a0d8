// Validate a glTF/GLB file with the Khronos glTF-Validator (npm package gltf-validator).
// Usage: NODE_PATH=.cache/gltf-validator/node_modules node scripts/blender_check/gltf_validate.js FILE
// Prints the validator's JSON report on stdout; exit code 0 when it ran (check the report's issue counts).
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const file = process.argv[2];
const data = new Uint8Array(fs.readFileSync(file));
validator
  .validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 100,
    externalResourceFunction: (uri) => Promise.reject(new Error(`external resource ${uri} not allowed`)),
  })
  .then((report) => {
    process.stdout.write(JSON.stringify(report));
  })
  .catch((err) => {
    process.stderr.write(String(err) + "\n");
    process.exit(3);
  });
