#!/usr/bin/env node
// Generates TypeScript from proto/ with buf (from npm) + ts-proto. Runs from a clean clone.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'packages/proto/src/gen');
fs.rmSync(out, { recursive: true, force: true });
execFileSync(path.join(root, 'node_modules/.bin/buf'), ['generate'], { cwd: root, stdio: 'inherit' });
console.log('proto: generated', path.relative(root, out));
