// Parses an AsyncAPI document with the official parser and fails on any error-level diagnostic.
// Usage: node validate.mjs <document.json>   (run by scripts/validate-asyncapi)
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
const severity = ['error', 'warning', 'info', 'hint'];
for (const d of diagnostics) {
  console.log(`${severity[d.severity] ?? d.severity}: ${d.code}: ${d.message} at /${d.path.join('/')}`);
}
const errors = diagnostics.filter((d) => d.severity === 0);
if (!document || errors.length > 0) {
  console.error(`asyncapi: ${errors.length} error(s) in ${file}`);
  process.exit(1);
}
const messages = document.allMessages().length;
console.log(`asyncapi: ${file} is valid AsyncAPI ${document.version()} (${messages} messages, ${diagnostics.length} diagnostics)`);
